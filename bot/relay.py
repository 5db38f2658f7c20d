"""The dispatcher: delivers the outbox through adapters, and owns retries, backoff, dead-letters and audit.

Adapters make one attempt and say whether another could help (see ``adapters/base.py``). Here, and only
here: a lane per destination (``bot/lanes.py``: its own rate budget, ``Retry-After`` pause, groups and
bound on requests in flight, plus one bound on requests in flight over all of them), exponential backoff
with equal jitter (or the vendor's ``Retry-After``), dead-lettering past ``[delivery] max_age``, and an audit
row for every attempt.

How work reaches the lanes, once :meth:`Dispatcher.start` ran:

- **hand-off**: after a commit that queued deliveries, their ids are handed over (:meth:`handoff`), claimed
  in one statement and put in their lanes at once; the ingest writer does better, claiming them in the very
  transaction that queued them (:meth:`claim_committed`) and handing the claims over (:meth:`adopt`);
- **successors**: the transaction that records finished deliveries also claims the next delivery of each of
  their alerts and channels (the update after its card's post), so nothing waits for a poll;
- **the poll**, every ``poll_interval``: retries whose time has come, held digests, and claims a dead process
  left (in batches, and only while the lanes are not already full);
- **the upkeep**, every third of ``claim_lease``: this process's claims renewed, expired claims released,
  overtaken updates superseded. Neither the poll nor the upkeep is on the hot path.

Outcomes (and their audit rows) wait a few milliseconds for each other and are written in one transaction.
Given the group-commit writer (:meth:`ride_on`), every transaction of the running dispatcher is work for it:
it shares the next ingest batch's transaction and commit instead of competing with it for the database.

Tests and the CLI drive the dispatcher without starting it: :meth:`run_once` is one pass of all that on the
current clock: it sends what may go now, and gives back, untried, what must wait, with the time it may go.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import functools
import logging
import os
import random
import socket
from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import aiohttp
from sqlalchemy.ext.asyncio import AsyncEngine

from stockbot.adapters import adapter_class, build_adapter
from stockbot.adapters.base import (
    Adapter,
    AlertMessage,
    DeliveryError,
    PermanentError,
    RateLimit,
    Receipt,
    RetryableError,
    Target,
    redact,
)
from stockbot.adapters.message import localized
from stockbot.adapters.ratelimit import UNLIMITED, RateLimiter
from stockbot.bot import templates
from stockbot.bot.clock import Clock
from stockbot.bot.config import ChannelConfig, Config
from stockbot.bot.lanes import Entry, Lane, Unit
from stockbot.bot.metrics import DELIVERIES, DISPATCH_LATENCY
from stockbot.bot.noise import SAFETY_MARGIN, destination, digest_message, grouping_for, limits_for
from stockbot.bot.routing import channels_of
from stockbot.storage import deliveries as outbox
from stockbot.storage.audit import audit_row
from stockbot.storage.deliveries import Claimed, Mark
from stockbot.storage.ingest_rows import Rows, rows_for
from stockbot.storage.writer import GroupCommitter

log = logging.getLogger("stockbot.dispatch")
Out = TypeVar("Out")
# Claims are taken this many at a time; the poll stops claiming while the lanes hold MAX_QUEUED already.
CLAIM_BATCH = 500
MAX_QUEUED = 4 * CLAIM_BATCH
# While the poll is starved, how full the lanes are is looked at once every this many completions.
STARVED_LOOK = 32
# Outcomes wait this long for company before they are written together: a commit per few milliseconds
# instead of one per delivery, at a latency nobody sees.
FLUSH_WINDOW = 0.005
# A trickle of outcomes (at most TRICKLE_MARKS, nothing handed over) waits up to TRICKLE_LINGER seconds for
# the next ingest batch and shares its transaction, instead of a commit and a disk sync of its own on which
# the next event's batch would wait. Nothing depends on the wait but the record: the delivery has been made.
TRICKLE_MARKS = 8
TRICKLE_LINGER = 0.05
# A running lane keeps claims it must wait for up to this long; a longer wait (a long Retry-After, a slow
# group) gives them back to the outbox, due when they may go, so no claim sits idle in memory for minutes.
HOLD_LIMIT = 10.0
# An adapter that raises outside its contract is tried this many times, then the delivery fails for good.
UNEXPECTED_ATTEMPTS = 3


def _digestible(item: Claimed) -> bool:
    """A new alert message may be folded into a digest; a card update or a report waits for room instead."""
    return not item.external_id and item.event != "report"


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
        self.lease = config.delivery.claim_lease
        self.budget = RateLimiter()  # per destination, each to its own limits
        self.lanes: dict[str, Lane] = {}
        self._lane_of: dict[tuple[str, str], Lane] = {}  # by channel and adapter: its destination's lane
        self._groupable: dict[tuple[str, str], bool] = {}  # by channel and adapter: might it group?
        self.last_cycle: datetime | None = None
        self.completed = 0  # adapter calls' deliveries finished, for run_once while running
        self._adapters: dict[str, Adapter] = {}
        self._slots = Slots(config.delivery.concurrency)  # requests in flight, all lanes
        self._marks: list[Mark] = []  # outcomes waiting for the next flush …
        self._audit: list[dict[str, Any]] = []  # … and their audit rows
        self._flush_lock = asyncio.Lock()
        self._bugs_logged: dict[int, None] = {}  # deliveries whose adapter bug was logged with its traceback
        # Running (start()): the database task, a task per busy lane, one per send.
        self._running = False
        self._tasks: list[asyncio.Task[None]] = []
        self._lane_tasks: dict[str, asyncio.Task[None]] = {}
        self._lane_signals: dict[str, asyncio.Event] = {}
        self._sending: set[asyncio.Task[None]] = set()
        self._handed: dict[int, None] = {}  # ids handed off, not yet claimed (an ordered set)
        self._signal = asyncio.Event()  # news for the database task: outcomes, hand-offs, a wake-up
        self._stopping = asyncio.Event()  # stop(): the database task ends after its round
        self._poll_now = False
        self._starved = False  # the poll skipped claiming because the lanes were full
        self._look_at = 0  # … and looks again at how full they are once this many completed
        self._busy = 0  # database work under way, for run_once while running
        self._writer: GroupCommitter[Any, Any] | None = None  # the group-commit writer, once ride_on()
        self._adopted: set[int] = set()  # claimed by the writer and adopted; their hand-off is not needed

    # --- lifecycle ------------------------------------------------------------------------------------
    def start(self) -> None:
        if self._running:
            return
        self._running = True
        self._stopping.clear()
        self._tasks = [asyncio.create_task(self._outbox_loop(), name="stockbot-dispatcher")]

    async def stop(self) -> None:
        """Stop sending; give back what was claimed and not sent, and write every outcome known."""
        if not self._running:
            return
        self._running = False
        # The database task ends its round rather than being cancelled in it: its transaction may be in
        # the writer's hands, where a cancellation would not roll it back, and outcomes taken back for
        # the last flush below would be written twice.
        self._stopping.set()
        self._signal.set()
        try:
            await asyncio.wait_for(asyncio.gather(*self._tasks, return_exceptions=True), timeout=10)
        except TimeoutError:  # cancelled by wait_for: what it held is written below or expires
            log.warning("the dispatcher's database task did not end its round in 10 s")
        tasks = [*self._lane_tasks.values(), *self._sending]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks, self._lane_tasks, self._sending = [], {}, set()
        now = self.clock.now()
        for lane in self.lanes.values():
            self._give_back(lane.take_all(), now)
        try:
            await asyncio.wait_for(self._flush(successors=False), timeout=10)
        except Exception:  # the claims expire after the lease and another process sends them
            log.exception("could not record the last outcomes; their deliveries will be sent again")

    def wake(self) -> None:
        """Look at the outbox now rather than at the next poll."""
        self._poll_now = True
        self._signal.set()

    def handoff(self, ids: Sequence[int]) -> None:
        """Deliveries just committed: claim them now (not running: run_once or the poll finds them)."""
        if not self._running or not ids:
            return
        if self._adopted:
            adopted, self._adopted = self._adopted, set()
            ids = [i for i in ids if i not in adopted]
            if not ids:
                return
        self._handed.update(dict.fromkeys(ids))
        self._signal.set()

    def ride_on(self, writer: GroupCommitter[Any, Any]) -> None:
        """Do the running dispatcher's database work in ``writer``'s transactions
        (:meth:`~stockbot.storage.writer.GroupCommitter.run`): one writer, one commit for ingest and outbox
        together. While the writer is not running, the engine does it."""
        self._writer = writer

    async def claim_committed(self, conn: Any, ids: Sequence[int]) -> list[Claimed]:
        """In the transaction that queued deliveries ``ids`` (on its thread, whatever it is): claim those
        that may go now, for :meth:`adopt` once it committed. Nothing while the dispatcher is not running
        (the hand-off, the poll or run_once find them then). A process that dies before it sends them
        leaves claims that expire after the lease, as any claim of a dead process does."""
        if not self._running or not ids:
            return []
        return await outbox.claim_in(conn, self.worker, self.clock.now(), len(ids), self.lease, ids)

    def adopt(self, claimed: Sequence[Claimed]) -> None:
        """Claims :meth:`claim_committed` took, now committed: into their lanes (a hand-off of the same
        ids, which follows, skips them). Stopped meanwhile: they go back to the outbox."""
        if not claimed:
            return
        if not self._running:
            self._give_back([Entry([item]) for item in claimed], self.clock.now())
            return
        self._adopted.update(item.id for item in claimed)
        self._enqueue(claimed)

    @property
    def alive(self) -> bool:
        return self._running and bool(self._tasks) and not any(t.done() for t in self._tasks)

    # --- driven by tests and the CLI --------------------------------------------------------------------
    async def run_once(self, only: list[int] | None = None) -> int:
        """One pass on the current clock: upkeep, held digests, then what is due (of ``only``, if given),
        sent concurrently across lanes, successors included; what must wait is given back with the time it
        may go. Returns how many deliveries were attempted (a digest counts each it stands for). While the
        dispatcher runs, it waits instead for the running lanes to deliver what is due now, and returns how
        many they attempted meanwhile."""
        if self._running:
            return await self._settle()
        before = self.completed
        if only is None:
            async with self.engine.begin() as conn:
                await outbox.housekeeping(conn, self.clock.now())
            await self._poll()
        else:
            self._enqueue(
                await outbox.claim(self.engine, self.worker, self.clock.now(), len(only), self.lease, only)
            )
        while True:
            await asyncio.gather(*(self._send_ready(lane) for lane in list(self.lanes.values())))
            if not await self._flush():  # nothing more claimed (successors)
                break
        now = self.clock.now()
        for lane in self.lanes.values():
            self._give_back(lane.take_all(), now, lane)
        await self._flush()
        return self.completed - before

    async def drain(self, max_cycles: int = 100) -> int:
        """Deliver until nothing is due now (tests and the CLI); return how many were attempted."""
        total = 0
        for _ in range(max_cycles):
            sent = await self.run_once()
            if sent == 0:
                break
            total += sent
        return total

    async def _send_ready(self, lane: Lane) -> None:
        while (unit := lane.next_unit(self._now(), self._room(lane))) is not None:
            lane.in_flight += 1
            await self._send(lane, unit)

    async def _settle(self) -> int:
        before = self.completed
        self.wake()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30
        await asyncio.sleep(0)
        # A look every 10 ms: this is for the demo and the CLI, not a path anything waits on in production.
        while not self._idle() and loop.time() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
        return self.completed - before

    def _idle(self) -> bool:
        now = self._now()
        ready = any(
            (at := lane.wake_at(self._budget_at(lane, now))) is not None and at <= now
            for lane in self.lanes.values()
        )
        sending = any(lane.in_flight for lane in self.lanes.values())
        busy = self._handed or self._poll_now or self._busy or sending or self._marks
        return not busy and not ready

    # --- adapters -------------------------------------------------------------------------------------
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

    # --- the database, while running ------------------------------------------------------------------
    async def _outbox_loop(self) -> None:
        """The dispatcher's one conversation with the database while it runs. Outcomes, hand-offs and
        successor claims share a transaction per round; the poll and the upkeep take their turns between
        rounds. So the dispatcher's writes never queue behind each other (on SQLite they would wait for the
        file's lock, sleeping in steps), and while sends keep ending, each round commits what ended during
        the last one: group commit."""
        loop = asyncio.get_running_loop()
        poll = self.config.delivery.poll_interval.total_seconds()
        upkeep = self.lease.total_seconds() / 3
        next_poll = next_upkeep = loop.time()
        failures = 0
        while not self._stopping.is_set():
            self._signal.clear()
            worked = False
            self._busy += 1
            try:
                if self._marks or self._audit or self._handed:
                    handed = self._take_handed()
                    trickle = not handed and len(self._marks) <= TRICKLE_MARKS
                    await self._flush(handed=handed, linger=TRICKLE_LINGER if trickle else 0.0)
                    worked = True
                if loop.time() >= next_upkeep:
                    await self._upkeep()
                    next_upkeep, worked = loop.time() + upkeep, True
                if self._poll_now or loop.time() >= next_poll:
                    self._poll_now = False
                    backlog = await self._poll()
                    next_poll, worked = loop.time() + (0 if backlog else poll), True
                failures = 0
            except Exception:
                failures += 1
                delay = min(poll * 2 ** (failures - 1), 30.0)
                log.exception("dispatcher database work failed; trying again in %.1fs", delay)
                # Outcomes stay in memory and are written on the next round (or by stop()).
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), timeout=delay)
                continue
            finally:
                self._busy -= 1
            if worked:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    self._signal.wait(), timeout=max(min(next_poll, next_upkeep) - loop.time(), 0)
                )
            if self._signal.is_set():
                await asyncio.sleep(FLUSH_WINDOW)  # let the sends ending together share a commit

    async def _transaction(self, work: Callable[[Rows], Awaitable[Out]], linger: float = 0.0) -> Out:
        """``work`` in a transaction, given its :class:`Rows` (``rows.core`` for the outbox's statements):
        the writer's next one while running beside it, else the engine's."""
        if self._writer is not None and self._running and self._writer.alive:
            return await self._writer.run(work, linger)
        async with self.engine.begin() as conn:
            return await work(rows_for(conn))

    def _take_handed(self) -> list[int]:
        ids = list(self._handed)[:CLAIM_BATCH]
        for delivery_id in ids:
            del self._handed[delivery_id]
        return ids

    async def _poll(self) -> bool:
        """Held digests, retries due and dead claims taken over, in one transaction; True when more is
        waiting (a full batch) and the lanes have room for it."""
        now = self.clock.now()
        self.last_cycle = now
        stamp = self._now()
        full = self._queued() >= MAX_QUEUED
        worker, lease = self.worker, self.lease

        async def work(rows: Rows) -> tuple[dict[str, list[Claimed]], list[Claimed]]:
            held = await outbox.claim_held_in(rows.core, worker, now, lease)
            claimed = [] if full else await outbox.claim_in(rows.core, worker, now, CLAIM_BATCH, lease)
            return held, claimed

        held, claimed = await self._transaction(work)
        for items in held.values():
            lane = self._lane_for(items[0])
            lane.add(Entry(items, held=True), stamp)
            self._kick(lane)
        self._enqueue(claimed)
        self._starved = full  # the lanes were full: look again as soon as they have room
        return len(claimed) == CLAIM_BATCH

    async def _upkeep(self) -> None:
        """Claim upkeep on a timer of its own: renew ours, release the dead's, supersede stale updates."""
        now = self.clock.now()
        worker, lease = self.worker, self.lease

        async def work(rows: Rows) -> None:
            await outbox.renew(rows.core, worker, now, lease)
            await outbox.housekeeping(rows.core, now)

        await self._transaction(work)

    def _enqueue(self, claimed: Iterable[Claimed]) -> None:
        stamp = self._now()
        for item in claimed:
            lane = self._lane_for(item)
            channel = self.channels.get(item.channel)
            grouping = None
            if channel is not None and _digestible(item) and self._may_group(item, lane):
                grouping = grouping_for(self.config, channel, item.message, limited=bool(lane.limits))
            lane.add(Entry([item], grouping=grouping), stamp)
            self._kick(lane)

    def _may_group(self, item: Claimed, lane: Lane) -> bool:
        """Could a new message of ``item``'s channel be grouped? Not where neither the channel, nor a route,
        nor a rate limit (``[delivery]``'s defaults) sets a group wait or interval: then no message's
        :func:`~bot.noise.grouping_for` need be worked out (a webhook's, an e-mail's, a ticket's)."""
        found = self._groupable.get((item.channel, item.adapter))
        if found is None:
            channel = self.channels[item.channel]
            found = self._groupable[item.channel, item.adapter] = bool(
                lane.limits
                or channel.group_wait is not None
                or channel.group_interval is not None
                or any(r.group_wait is not None or r.group_interval is not None for r in self.config.routes)
            )
        return found

    def _queued(self) -> int:
        return sum(len(lane.entries) + lane.in_flight for lane in self.lanes.values())

    def _lane_for(self, item: Claimed) -> Lane:
        lane = self._lane_of.get((item.channel, item.adapter))
        if lane is None:
            lane = self._lane_of[item.channel, item.adapter] = self._new_lane_for(item)
        return lane

    def _new_lane_for(self, item: Claimed) -> Lane:
        channel = self.channels.get(item.channel)
        key = destination(adapter_class(item.adapter), channel) if channel else f"gone:{item.channel}"
        lane = self.lanes.get(key)
        if lane is None:
            cls = adapter_class(item.adapter)
            limits: tuple[RateLimit, ...] = limits_for(cls, channel) if channel else ()
            # Several requests at once only where no rate limit applies (a budget is charged as each ends):
            # as many as the channel says, else the adapter's default, else one at a time, in order.
            concurrency: int = 1
            if channel and not limits:
                concurrency = channel.concurrency or int(getattr(cls, "concurrency", 1))
            lane = self.lanes[key] = Lane(key, limits, concurrency)
        return lane

    # --- running lanes --------------------------------------------------------------------------------
    def _kick(self, lane: Lane) -> None:
        """A running lane has news (work, a finished send): make sure its task looks."""
        if not self._running:
            return
        signal = self._lane_signals.get(lane.key)
        if signal is None:
            signal = self._lane_signals[lane.key] = asyncio.Event()
        signal.set()
        if lane.key not in self._lane_tasks:
            self._lane_tasks[lane.key] = asyncio.create_task(self._run_lane(lane, signal))

    async def _run_lane(self, lane: Lane, signal: asyncio.Event) -> None:
        try:
            await self._drive(lane, signal)
        except Exception:  # a bug here must not leave the destination stuck with claims in memory
            log.exception("the lane for %s failed; its deliveries go back to the outbox", lane.key)
            self._give_back(lane.take_all(), self.clock.now())
            self._signal.set()
        finally:
            if self._lane_tasks.get(lane.key) is asyncio.current_task():
                del self._lane_tasks[lane.key]  # its budget, pause and groups stay with the lane

    async def _drive(self, lane: Lane, signal: asyncio.Event) -> None:
        """Send what may go, then sleep until something may; end when the lane is empty and quiet."""
        while True:
            signal.clear()
            now = self._now()
            unit = lane.next_unit(now, self._room(lane))
            if unit is not None:
                lane.in_flight += 1
                if lane.concurrency == 1:  # in order: the lane's own task makes the call
                    await self._send(lane, unit)
                    continue
                task = asyncio.create_task(self._sender(lane, unit))
                self._sending.add(task)
                task.add_done_callback(self._sending.discard)
                continue
            self._give_back_long_waits(lane, now)
            if not lane.entries and lane.in_flight == 0:
                return
            wake = lane.wake_at(self._budget_at(lane, now))
            timeout = None if wake is None else max(wake - now, 0.001)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(signal.wait(), timeout=timeout)

    async def _sender(self, lane: Lane, unit: Unit) -> None:
        """One of the requests in flight of a lane that takes several at once: it sends ``unit``, then
        whatever the lane may send next as soon as its answer is in, until nothing may go. A busy lane costs
        a task per burst rather than one per request. Then the lane's own task looks again (a pause to wait
        out, more work, or nothing left)."""
        try:
            next_unit: Unit | None = unit
            while next_unit is not None:
                await self._send(lane, next_unit)
                if (next_unit := lane.next_unit(self._now(), self._room(lane))) is not None:
                    lane.in_flight += 1
        finally:
            self._kick(lane)

    def _give_back_long_waits(self, lane: Lane, now: float) -> None:
        long = lane.long_waits(now, self._budget_at(lane, now), HOLD_LIMIT)
        if long:
            lane.take(long)
            self._give_back(long, self.clock.now(), lane)
            self._signal.set()

    def _now(self) -> float:
        return self.clock.now().timestamp()

    def _room(self, lane: Lane) -> int:
        return self.budget.available(lane.key, self._now(), lane.limits) if lane.limits else UNLIMITED

    def _budget_at(self, lane: Lane, now: float) -> float:
        return self.budget.next_slot(lane.key, now, lane.limits) if lane.limits else now

    # --- one adapter call, for one delivery or a digest of several --------------------------------------
    async def _send(self, lane: Lane, unit: Unit) -> None:
        """One attempt, within the global bound. The destination's budget is charged when the attempt
        ends, so the spacing holds where the vendor counts it, whatever the network's latency."""
        try:
            if unit.parked:
                unit = await self._with_parked(unit)
            async with self._slots:
                try:
                    outcome = await self._attempt(unit.items, unit.digest)
                finally:
                    if lane.limits:
                        self.budget.book(lane.key, self._now())
        except asyncio.CancelledError:
            self._give_back(unit.entries, self.clock.now())  # stopped mid-call: sent again, by whoever
            raise
        finally:
            lane.in_flight -= 1
        self._complete(lane, unit, outcome)

    async def _with_parked(self, unit: Unit) -> Unit:
        """A group going early takes along its members that were given back to wait in the outbox."""
        worker, now, lease, parked = self.worker, self.clock.now(), self.lease, unit.parked

        async def work(rows: Rows) -> list[Claimed]:
            return await outbox.claim_early(rows.core, worker, now, lease, parked)

        try:
            more = await self._transaction(work)
        except Exception:  # they go at their own time instead
            log.exception("could not fetch the rest of a group; it follows at its own time")
            more = []
        entries = (*unit.entries, *(Entry([item]) for item in more))
        return Unit(entries, sum(len(e.items) for e in entries) > 1, grouped=unit.grouped)

    async def _attempt(self, items: list[Claimed], digest: bool) -> Receipt | DeliveryError:
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
                options={"digest_of": [i.idempotency_key for i in items]} if digest else {},
            )
            return await self.adapter(first.adapter).send(message, target)
        except DeliveryError as error:
            return error
        except Exception as error:  # a bug in an adapter must not kill the dispatcher or lose the delivery
            return self._unexpected(first, error)

    def _unexpected(self, item: Claimed, error: Exception) -> DeliveryError:
        """An adapter raised outside its contract (neither retryable nor permanent): a bug, not the vendor.
        It is retried a few times, in case it hinges on one odd answer, then failed for good instead of
        being retried until ``max_age``. Its traceback is logged once per delivery, not at every retry."""
        text = f"unexpected {type(error).__name__} in the {item.adapter} adapter: {redact(str(error))}"
        if item.id not in self._bugs_logged:
            self._bugs_logged[item.id] = None
            while len(self._bugs_logged) > 10_000:  # a bounded memory of what was logged
                self._bugs_logged.pop(next(iter(self._bugs_logged)))
            log.error("delivery %s: %s", item.id, text, exc_info=error)
        if item.attempts >= UNEXPECTED_ATTEMPTS:
            return PermanentError(f"{text} (after {item.attempts} attempts; a bug to report)")
        return RetryableError(text)

    # --- outcomes ---------------------------------------------------------------------------------------
    def _complete(self, lane: Lane, unit: Unit, outcome: Receipt | DeliveryError) -> None:
        now = self.clock.now()
        if isinstance(outcome, Receipt):
            self._delivered(unit, outcome.external_id, now)
        else:
            self._failed(lane, unit, outcome, now)
        self.completed += len(unit.items)
        self._signal.set()
        if self._starved and self.completed >= self._look_at:
            # a look over every lane, not at each completion: a backlog keeps the poll starved for long
            self._look_at = self.completed + STARVED_LOOK
            if self._queued() < MAX_QUEUED // 2:
                self._starved = False
                self.wake()

    def _delivered(self, unit: Unit, external_id: str | None, now: datetime) -> None:
        items = unit.items
        for item in items:
            # A digest is nobody's card: later updates of its alerts post cards of their own.
            self._marks.append(
                Mark(
                    item.id, "delivered", external_id=external_id, pair=_pair(item), remember=not unit.digest
                )
            )
            _counter(item.adapter, "delivered").inc()
            _latency(item.adapter).observe(max((now - item.created_at).total_seconds(), 0))
        extra = {"digest_of": [i.id for i in items]} if unit.digest else {}
        self._audit.append(self._audit_row(items[0], now, "delivery.sent", external_id=external_id, **extra))

    def _failed(self, lane: Lane, unit: Unit, error: DeliveryError, now: datetime) -> None:
        items, first = unit.items, unit.items[0]
        message = redact(str(error))
        lane.failed(unit)
        if isinstance(error, RetryableError):
            retry_at = now + self.backoff(first.attempts, error.retry_after)
            if error.retry_after is not None or error.rate_limited:
                lane.pause(retry_at.timestamp())  # the whole destination waits, not only this delivery
            too_old = retry_at - min(i.created_at for i in items) > self.config.delivery.max_age
            status = "dead" if too_old else "pending"
        else:
            retry_at, status = None, "failed"
        kind = {"pending": "delivery.retry", "failed": "delivery.failed", "dead": "delivery.dead"}[status]
        # A digest's members retry together, as a digest.
        stored = "held" if unit.digest and status == "pending" else status
        for item in items:
            self._marks.append(Mark(item.id, stored, at=retry_at, error=message, pair=_pair(item)))
            _counter(item.adapter, {"pending": "retry"}.get(status, status)).inc()
        when = retry_at.isoformat() if retry_at and status == "pending" else None
        extra = {"digest_of": [i.id for i in items]} if unit.digest else {}
        self._audit.append(self._audit_row(first, now, kind, error=message, retry_at=when, **extra))
        level = logging.WARNING if status == "pending" else logging.ERROR
        verdict = {"pending": "will retry", "failed": "failed for good", "dead": "dead-lettered"}[status]
        log.log(
            level, "delivery %s to %s (%s) %s: %s", first.id, first.channel, first.adapter, verdict, message
        )

    def _give_back(self, entries: Iterable[Entry], now: datetime, lane: Lane | None = None) -> None:
        """Claims returned untried, due when their lane says they may go (now, without a lane)."""
        stamp = now.timestamp()
        budget_at = self._budget_at(lane, stamp) if lane else stamp
        for entry in entries:
            at = max(lane.ready_at(entry, budget_at), stamp) if lane else stamp
            due = datetime.fromtimestamp(at, UTC) + (SAFETY_MARGIN if at > stamp else timedelta(0))
            status = "held" if entry.held else "pending"
            self._marks.extend(Mark(i.id, status, attempted=False, at=due) for i in entry.items)
            if lane is not None:
                lane.park(entry)

    async def _flush(
        self, handed: Sequence[int] = (), successors: bool = True, linger: float = 0.0
    ) -> list[Claimed]:
        """One transaction: every outcome waiting, with its audit row; the next delivery of each alert and
        channel whose delivery finished (``successors``); the deliveries ``handed`` over. Outcomes are kept
        for the next try if it fails. Returns what it claimed, now in the lanes. ``linger``: seconds the
        transaction may wait for the writer's next batch to share."""
        async with self._flush_lock:
            if not self._marks and not self._audit and not handed:
                return []
            marks, audit = self._marks, self._audit
            self._marks, self._audit = [], []
            now = self.clock.now()
            finished = [m.pair for m in marks if m.finished and m.pair] if successors else []
            worker, lease, handed = self.worker, self.lease, list(handed)

            async def work(rows: Rows) -> list[Claimed]:
                conn = rows.core
                await outbox.record_with_audit(rows, marks, audit, now)
                claimed = await outbox.claim_successors(conn, worker, now, lease, finished)
                if handed:
                    # Ids not claimable now (held, or behind an unfinished delivery of their alert) are left
                    # to the poll or a successor claim: the hand-off only saves the wait.
                    claimed += await outbox.claim_in(conn, worker, now, len(handed), lease, handed)
                return claimed

            try:
                claimed = await self._transaction(work, linger)
            except BaseException:
                self._marks[:0], self._audit[:0] = marks, audit
                raise
        self._enqueue(claimed)
        return claimed

    def backoff(self, attempts: int, retry_after: float | None) -> timedelta:
        """The vendor's ``Retry-After`` if it gave one, else exponential backoff with *equal* jitter: a
        random delay between half and all of ``initial_backoff * 2**(attempts-1)`` (capped at
        ``max_backoff``). Full jitter (0 to all) spreads retries a little wider, but may retry a failing
        vendor at once; here few clients retry one vendor (a lane per destination and process), so the
        guaranteed half-step wait matters more than the spread."""
        if retry_after is not None:
            return timedelta(seconds=retry_after)
        cap = self.config.delivery.max_backoff.total_seconds()
        base = self.config.delivery.initial_backoff.total_seconds() * 2 ** max(attempts - 1, 0)
        return timedelta(seconds=random.uniform(min(base, cap) / 2, min(base, cap)))

    def _audit_row(self, item: Claimed, now: datetime, kind: str, **detail: Any) -> dict[str, Any]:
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


class Slots:
    """The bound on requests in flight over all lanes: a FIFO of waiters, each look O(1) (asyncio's
    Semaphore scans all its waiters at each acquire, and a backlog over many lanes keeps dozens waiting)."""

    def __init__(self, count: int) -> None:
        self.free = count
        self._waiting: collections.deque[asyncio.Future[None]] = collections.deque()

    async def __aenter__(self) -> None:
        if self.free > 0 and not self._waiting:
            self.free -= 1
            return
        slot = asyncio.get_running_loop().create_future()
        self._waiting.append(slot)
        try:
            await slot  # given a slot by release(): free was not incremented for it
        except asyncio.CancelledError:
            if slot.done() and not slot.cancelled():  # given a slot just as it was cancelled: pass it on
                self._release()
            raise

    async def __aexit__(self, *_: object) -> None:
        self._release()

    def _release(self) -> None:
        while self._waiting:
            slot = self._waiting.popleft()
            if not slot.done():
                slot.set_result(None)
                return
        self.free += 1


@functools.cache
def _counter(adapter: str, outcome: str) -> Any:
    """The metric's child for these labels, looked up once rather than at every delivery."""
    return DELIVERIES.labels(adapter, outcome)


@functools.cache
def _latency(adapter: str) -> Any:
    return DISPATCH_LATENCY.labels(adapter)


def _pair(item: Claimed) -> tuple[int, str] | None:
    return (item.alert_id, item.channel) if item.alert_id else None
