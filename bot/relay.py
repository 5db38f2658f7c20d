"""The dispatcher: delivers the outbox through adapters, and owns retries, backoff, dead-letters and audit.

Adapters make one attempt and say whether another could help (see ``adapters/base.py``). Here, and only
here: concurrency across channels, exponential backoff with full jitter (or the vendor's ``Retry-After``),
dead-lettering past ``[delivery] max_age``, and an audit row for every attempt.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import socket
from datetime import datetime, timedelta
from typing import Any

import aiohttp
from sqlalchemy.ext.asyncio import AsyncEngine

from stockbot.adapters import adapter_class, build_adapter
from stockbot.adapters.base import (
    Adapter,
    AlertMessage,
    DeliveryError,
    PermanentError,
    RateLimit,
    RetryableError,
    Target,
    redact,
)
from stockbot.adapters.message import localized
from stockbot.bot import templates
from stockbot.bot.clock import Clock
from stockbot.bot.config import ChannelConfig, Config
from stockbot.bot.metrics import DELIVERIES, DISPATCH_LATENCY
from stockbot.bot.noise import RateBudget, destination, digest_message, limits_for
from stockbot.bot.routing import channels_of
from stockbot.storage import deliveries as outbox
from stockbot.storage.audit import append, audit_row
from stockbot.storage.deliveries import Claimed

log = logging.getLogger("stockbot.dispatch")
# How long a claim holds: longer than any one attempt (adapter timeouts default to 10 s), short enough that
# a dead process's deliveries are taken over within 30 s. A longer adapter timeout lengthens it.
CLAIM_LEASE = timedelta(seconds=30)


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class Dispatcher:
    def __init__(
        self,
        config: Config,
        engine: AsyncEngine,
        clock: Clock,
        http: aiohttp.ClientSession,
        services: dict[str, Any] | None = None,
        worker: str | None = None,
    ) -> None:
        self.config = config
        self.engine = engine
        self.clock = clock
        self.http = http
        self.services = services or {}
        self.worker = worker or worker_name()
        self.channels: dict[str, ChannelConfig] = channels_of(config)
        self._adapters: dict[str, Adapter] = {}
        self.budget = RateBudget()
        longest = max(
            (getattr(st, "timeout_seconds", 10.0) for st in config.adapter_settings.values()), default=10.0
        )
        self.lease = max(CLAIM_LEASE, timedelta(seconds=longest + 10))
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.last_cycle: datetime | None = None

    # --- lifecycle ------------------------------------------------------------------------------------
    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="stockbot-dispatcher")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def wake(self) -> None:
        self._wake.set()

    @property
    def alive(self) -> bool:
        return self._task is not None and not self._task.done()

    async def _loop(self) -> None:
        poll = self.config.delivery.poll_interval.total_seconds()
        while True:
            try:
                sent = await self.run_once()
            except Exception:
                log.exception("dispatcher cycle failed; trying again in %.0fs", poll)
                sent = 0
            if sent == 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=poll)
                self._wake.clear()

    # --- one cycle ------------------------------------------------------------------------------------
    async def run_once(self, only: list[int] | None = None) -> int:
        """Flush due digests, then claim what is due (of ``only``, if given) and send it within each
        destination's budget, concurrently across destinations; return how many deliveries were handled."""
        now = self.clock.now()
        self.last_cycle = now
        handled = 0
        if only is None:
            held = await outbox.claim_held(self.engine, self.worker, now, self.lease)
            handled += sum(len(items) for items in held.values())
            await asyncio.gather(*(self._flush(items, now) for items in held.values()))
        limit = self.config.delivery.concurrency
        claimed = await outbox.claim(self.engine, self.worker, now, limit, self.lease, only)
        by_destination: dict[str, list[Claimed]] = {}
        for item in claimed:
            by_destination.setdefault(self._destination(item), []).append(item)
        await asyncio.gather(*(self._within_budget(key, items, now) for key, items in by_destination.items()))
        return handled + len(claimed)

    async def drain(self, max_cycles: int = 100) -> int:
        """Deliver until nothing is due now (tests and the CLI); return how many were attempted."""
        total = 0
        for _ in range(max_cycles):
            sent = await self.run_once()
            if sent == 0:
                break
            total += sent
        return total

    def adapter(self, name: str) -> Adapter:
        if name not in self._adapters:
            self._adapters[name] = build_adapter(
                name, self.config.settings_for(name), self.http, **self.services
            )
        return self._adapters[name]

    async def close_adapters(self) -> None:
        """Let adapters that hold connections of their own (SNS, Apprise) release them."""
        for adapter in self._adapters.values():
            close = getattr(adapter, "close", None)
            if close is not None:
                await close()

    async def _flush(self, items: list[Claimed], now: datetime) -> None:
        """A channel's held messages, as one digest, when its destination has room."""
        key, limits = self._destination(items[0]), self._limits(items[0])
        if self.budget.available(key, limits, now) > 0:
            await self._send(items, digest=True, budget=key)
            return
        async with self.engine.begin() as conn:
            await outbox.release(conn, [i.id for i in items], self.budget.next_free(key, limits, now), "held")

    # --- budgets --------------------------------------------------------------------------------------
    def _destination(self, item: Claimed) -> str:
        channel = self.channels.get(item.channel)
        return destination(adapter_class(item.adapter), channel) if channel else f"gone:{item.channel}"

    def _limits(self, item: Claimed) -> tuple[RateLimit, ...]:
        channel = self.channels.get(item.channel)
        return limits_for(adapter_class(item.adapter), channel) if channel else ()

    async def _within_budget(self, key: str, items: list[Claimed], now: datetime) -> None:
        """Send what the destination's budget allows now. Card updates wait for room; when more new
        messages are due than the budget allows, each channel's due new messages become one digest."""
        limits = self._limits(items[0])
        room = self.budget.available(key, limits, now)
        if len(items) <= room:
            for item in items:
                await self._send([item], budget=key)
            return
        updates = [i for i in items if i.external_id]
        fresh: dict[str, list[Claimed]] = {}
        for item in items:
            if not item.external_id:
                fresh.setdefault(item.channel, []).append(item)
        waiting = updates[max(room - len(fresh), 0) :]
        for item in updates[: max(room - len(fresh), 0)]:
            await self._send([item], budget=key)
        for channel, group in fresh.items():
            if self.budget.available(key, limits, self.clock.now()) == 0:
                waiting += group
                continue
            more = await outbox.claim(self.engine, self.worker, now, 1000, self.lease, channel=channel)
            waiting += [i for i in more if i.external_id]
            await self._send(group + [i for i in more if not i.external_id], digest=True, budget=key)
        if waiting:
            async with self.engine.begin() as conn:
                await outbox.release(conn, [i.id for i in waiting], self.budget.next_free(key, limits, now))

    # --- one adapter call, for one delivery or a digest of several --------------------------------------
    async def _send(self, items: list[Claimed], digest: bool = False, budget: str | None = None) -> None:
        """One attempt. With ``budget``, the attempt is charged to that destination when it ends, so the
        spacing holds where the vendor counts it, whatever the network's latency."""
        try:
            await self._attempt(items, digest)
        finally:
            if budget is not None:
                self.budget.spend(budget, self.clock.now())

    async def _attempt(self, items: list[Claimed], digest: bool) -> None:
        first = items[0]
        channel = self.channels.get(first.channel)
        try:
            if channel is None:
                raise PermanentError(f"channel {first.channel!r} is no longer configured")
            messages = [AlertMessage.from_json(i.message) for i in items]
            message = digest_message(messages, self.clock.now()) if digest else messages[0]
            # The channel's readers' language and zone, then its own wording (a template sees both), if any.
            message = localized(message, channel.language, channel.timezone)
            message = templates.apply(message, first.channel, channel)
            target = Target(
                channel=first.channel,
                address=channel.address,
                idempotency_key=first.idempotency_key if not digest else f"digest-{first.id}-{len(items)}",
                external_id=None if digest else first.external_id,
                secret=channel.secret.get_secret_value() if channel.secret else None,
            )
            receipt = await self.adapter(first.adapter).send(message, target)
        except DeliveryError as error:
            await self._failed(items, error, digest)
        except Exception as error:  # a bug in an adapter must not kill the dispatcher or lose the delivery
            log.exception("adapter %s raised unexpectedly", first.adapter)
            await self._failed(items, RetryableError(f"{type(error).__name__}: {redact(str(error))}"), digest)
        else:
            await self._delivered(items, receipt.external_id, digest)

    async def _delivered(self, items: list[Claimed], external_id: str | None, digest: bool) -> None:
        now = self.clock.now()
        async with self.engine.begin() as conn:
            for item in items:
                # A digest is nobody's card: later updates of its alerts post cards of their own.
                await outbox.mark_delivered(conn, item, external_id, now, remember=not digest)
            extra = {"digest_of": [i.id for i in items]} if digest else {}
            await append(
                conn, [self._audit(items[0], now, "delivery.sent", external_id=external_id, **extra)]
            )
        for item in items:
            DELIVERIES.labels(item.adapter, "delivered").inc()
            DISPATCH_LATENCY.labels(item.adapter).observe(max((now - item.created_at).total_seconds(), 0))

    async def _failed(self, items: list[Claimed], error: DeliveryError, digest: bool) -> None:
        now = self.clock.now()
        first = items[0]
        message = redact(str(error))
        if isinstance(error, RetryableError):
            retry_at = now + self.backoff(first.attempts, error.retry_after)
            oldest = min(i.created_at for i in items)
            status = "dead" if retry_at - oldest > self.config.delivery.max_age else "pending"
        else:
            retry_at, status = None, "failed"
        kind = {"pending": "delivery.retry", "failed": "delivery.failed", "dead": "delivery.dead"}[status]
        stored = "held" if digest and status == "pending" else status  # a digest's members retry together
        async with self.engine.begin() as conn:
            for item in items:
                await outbox.mark_failed(conn, item, stored, message, now, retry_at)
            when = retry_at.isoformat() if retry_at and status == "pending" else None
            extra = {"digest_of": [i.id for i in items]} if digest else {}
            await append(conn, [self._audit(first, now, kind, error=message, retry_at=when, **extra)])
        for item in items:
            DELIVERIES.labels(item.adapter, {"pending": "retry"}.get(status, status)).inc()
        level = logging.WARNING if status == "pending" else logging.ERROR
        verdict = {"pending": "will retry", "failed": "failed for good", "dead": "dead-lettered"}[status]
        log.log(
            level, "delivery %s to %s (%s) %s: %s", first.id, first.channel, first.adapter, verdict, message
        )

    def backoff(self, attempts: int, retry_after: float | None) -> timedelta:
        if retry_after is not None:
            return timedelta(seconds=retry_after)
        cap = self.config.delivery.max_backoff.total_seconds()
        base = self.config.delivery.initial_backoff.total_seconds() * 2 ** max(attempts - 1, 0)
        return timedelta(seconds=random.uniform(min(base, cap) / 2, min(base, cap)))

    def _audit(self, item: Claimed, now: datetime, kind: str, **detail: Any) -> dict[str, Any]:
        return audit_row(
            now,
            kind,
            f"system:{self.worker}",
            alert_id=item.alert_id,
            subject=item.channel,
            delivery=item.id,
            adapter=item.adapter,
            event=item.event,
            attempt=item.attempts,
            **detail,
        )
