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

from adapters import build_adapter
from adapters.base import Adapter, AlertMessage, DeliveryError, PermanentError, RetryableError, Target, redact
from bot.config import ChannelConfig, Config
from bot.metrics import DELIVERIES, DISPATCH_LATENCY
from handlers.clock import Clock
from handlers.routing import channels_of
from storage import deliveries as outbox
from storage.audit import append, audit_row
from storage.deliveries import Claimed

log = logging.getLogger("stockbot.dispatch")
CLAIM_LEASE = timedelta(minutes=2)  # a claim outlives any single attempt's timeout


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
        """Claim what is due (of ``only``, if given) and attempt it concurrently; return how many."""
        now = self.clock.now()
        self.last_cycle = now
        limit = self.config.delivery.concurrency
        claimed = await outbox.claim(self.engine, self.worker, now, limit, CLAIM_LEASE, only)
        if claimed:
            await asyncio.gather(*(self._attempt(item) for item in claimed))
        return len(claimed)

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

    async def _attempt(self, item: Claimed) -> None:
        channel = self.channels.get(item.channel)
        try:
            if channel is None:
                raise PermanentError(f"channel {item.channel!r} is no longer configured")
            target = Target(
                channel=item.channel,
                address=channel.address,
                idempotency_key=item.idempotency_key,
                external_id=item.external_id,
                secret=channel.secret.get_secret_value() if channel.secret else None,
            )
            receipt = await self.adapter(item.adapter).send(AlertMessage.from_json(item.message), target)
        except DeliveryError as error:
            await self._failed(item, error)
        except Exception as error:  # a bug in an adapter must not kill the dispatcher or lose the delivery
            log.exception("adapter %s raised unexpectedly", item.adapter)
            await self._failed(item, RetryableError(f"{type(error).__name__}: {redact(str(error))}"))
        else:
            await self._delivered(item, receipt.external_id)

    async def _delivered(self, item: Claimed, external_id: str | None) -> None:
        now = self.clock.now()
        async with self.engine.begin() as conn:
            await outbox.mark_delivered(conn, item, external_id, now)
            await append(conn, [self._audit(item, now, "delivery.sent", external_id=external_id)])
        DELIVERIES.labels(item.adapter, "delivered").inc()
        DISPATCH_LATENCY.labels(item.adapter).observe(max((now - item.created_at).total_seconds(), 0))

    async def _failed(self, item: Claimed, error: DeliveryError) -> None:
        now = self.clock.now()
        message = redact(str(error))
        if isinstance(error, RetryableError):
            retry_at = now + self.backoff(item.attempts, error.retry_after)
            status = "dead" if retry_at - item.created_at > self.config.delivery.max_age else "pending"
        else:
            retry_at, status = None, "failed"
        kind = {"pending": "delivery.retry", "failed": "delivery.failed", "dead": "delivery.dead"}[status]
        async with self.engine.begin() as conn:
            await outbox.mark_failed(conn, item, status, message, now, retry_at)
            await append(
                conn,
                [
                    self._audit(
                        item,
                        now,
                        kind,
                        error=message,
                        retry_at=retry_at.isoformat() if retry_at and status == "pending" else None,
                    )
                ],
            )
        DELIVERIES.labels(item.adapter, {"pending": "retry"}.get(status, status)).inc()
        level = logging.WARNING if status == "pending" else logging.ERROR
        log.log(
            level,
            "delivery %s to %s (%s) %s: %s",
            item.id,
            item.channel,
            item.adapter,
            {"pending": "will retry", "failed": "failed for good", "dead": "dead-lettered"}[status],
            message,
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
