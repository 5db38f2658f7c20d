"""The outbox dispatcher against a real HTTP receiver (the webhook adapter to a local fake):
retries with backoff and Retry-After, permanent failures, dead letters and re-drive, ordering, restarts,
and several dispatchers sharing one database without sending anything twice."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from aiohttp import web
from sqlalchemy import select

from stockbot.adapters.signing import HEADER, verify
from stockbot.bot.runtime import Runtime
from stockbot.storage.deliveries import redrive
from stockbot.storage.tables import audit_events, deliveries
from tests.conftest import HarnessFactory
from tests.fakes.vendor import FakeVendor, Recorded
from tests.helpers import StockbotHarness, event

HOOK_SECRET = "hook-secret-5f0c1e2d3a4b"


@pytest.fixture
async def receiver() -> AsyncIterator[FakeVendor]:
    fake = FakeVendor("receiver")

    def answer(recorded: Recorded) -> web.Response:
        verify(HOOK_SECRET, recorded.raw, recorded.headers.get(HEADER))  # signed with the channel's secret
        return web.Response(status=204)

    fake.expect("POST", "/hooks/{name}", respond=answer, name="hook")
    await fake.start()
    yield fake
    await fake.close()


def hooks(receiver: FakeVendor, *names: str) -> dict[str, Any]:
    return {
        "channels": {
            n: {"adapter": "webhook", "address": f"{receiver.url}/hooks/{n}", "secret": HOOK_SECRET}
            for n in names
        },
        "routes": [{"channels": list(names)}],
    }


async def statuses(harness: StockbotHarness) -> list[tuple[str, str, int]]:
    assert harness.runtime is not None
    async with harness.runtime.engine.connect() as conn:
        query = select(deliveries.c.channel, deliveries.c.status, deliveries.c.attempts).order_by(
            deliveries.c.id
        )
        return [tuple(r) for r in (await conn.execute(query)).all()]


async def audit_kinds(harness: StockbotHarness) -> list[str]:
    assert harness.runtime is not None
    async with harness.runtime.engine.connect() as conn:
        query = (
            select(audit_events.c.kind)
            .where(audit_events.c.kind.like("delivery.%"))
            .order_by(audit_events.c.id)
        )
        return list((await conn.execute(query)).scalars())


async def test_deliveries_are_signed_sent_once_and_in_order_per_card(
    stockbot: HarnessFactory, receiver: FakeVendor
) -> None:
    harness = await stockbot(**hooks(receiver, "a", "b"))
    await harness.send(event("CAB-MK-LEGACY", 1, at=harness.later(seconds=1)))
    await harness.send(event("CAB-MK-LEGACY", 9, at=harness.later(seconds=1)))
    assert await harness.deliver() == 4
    assert receiver.errors == []
    for name in ("a", "b"):
        sent = [r.body["event"] for r in receiver.requests if r.path == f"/hooks/{name}"]
        assert sent == ["opened", "resolved"]
    assert await harness.deliver() == 0
    assert await audit_kinds(harness) == ["delivery.sent"] * 4


async def test_429_waits_for_retry_after_then_delivers(
    stockbot: HarnessFactory, receiver: FakeVendor
) -> None:
    harness = await stockbot(**hooks(receiver, "a"))
    receiver.fail_next(429, "slow down", {"Retry-After": "120"})
    await harness.send(event("CAB-MK-LEGACY", 1))
    assert await harness.deliver() == 1
    assert await statuses(harness) == [("a", "pending", 1)]
    harness.later(seconds=119)
    assert await harness.deliver() == 0  # not before the vendor said
    harness.later(seconds=2)
    assert await harness.deliver() == 1
    assert await statuses(harness) == [("a", "delivered", 2)]
    assert await audit_kinds(harness) == ["delivery.retry", "delivery.sent"]


async def test_5xx_backs_off_exponentially_with_jitter(
    stockbot: HarnessFactory, receiver: FakeVendor
) -> None:
    harness = await stockbot(**hooks(receiver, "a"), delivery={"initial_backoff": "10s", "max_backoff": "1m"})
    assert harness.runtime is not None
    dispatcher = harness.runtime.dispatcher
    for attempt, ceiling in [(1, 10), (2, 20), (3, 40), (4, 60), (9, 60)]:
        delay = dispatcher.backoff(attempt, None).total_seconds()
        assert ceiling / 2 <= delay <= ceiling
    for _ in range(3):
        receiver.fail_next(503, "busy")
    await harness.send(event("CAB-MK-LEGACY", 1))
    for _ in range(3):
        await harness.deliver()
        harness.later(minutes=2)
    await harness.deliver()
    assert await statuses(harness) == [("a", "delivered", 4)]


async def test_a_permanent_failure_stops_retrying(stockbot: HarnessFactory, receiver: FakeVendor) -> None:
    harness = await stockbot(**hooks(receiver, "a"))
    receiver.fail_next(400, '{"error": "bad payload"}')
    await harness.send(event("CAB-MK-LEGACY", 1))
    await harness.deliver()
    harness.later(hours=1)
    assert await harness.deliver() == 0
    assert await statuses(harness) == [("a", "failed", 1)]
    assert await audit_kinds(harness) == ["delivery.failed"]


async def test_too_old_deliveries_are_dead_lettered_and_can_be_redriven(
    stockbot: HarnessFactory, receiver: FakeVendor
) -> None:
    harness = await stockbot(**hooks(receiver, "a"), delivery={"max_age": "10m", "initial_backoff": "4m"})
    for _ in range(10):
        receiver.fail_next(500, "down")
    await harness.send(event("CAB-MK-LEGACY", 1))
    for _ in range(6):
        await harness.deliver()
        harness.later(minutes=5)
    (row,) = await statuses(harness)
    assert row[1] == "dead"
    assert (await audit_kinds(harness))[-1] == "delivery.dead"
    receiver._queued.clear()
    assert harness.runtime is not None
    assert await redrive(harness.runtime.engine, harness.clock.now(), None) == [1]
    assert await harness.deliver() == 1
    assert (await statuses(harness))[0][1] == "delivered"


async def test_pending_deliveries_survive_a_restart(stockbot: HarnessFactory, receiver: FakeVendor) -> None:
    harness = await stockbot(**hooks(receiver, "a"))
    await harness.send(event("CAB-MK-LEGACY", 1))  # stored, never dispatched by this process
    restarted = await Runtime.create(harness.config, clock=harness.clock)
    try:
        assert await restarted.dispatcher.drain() == 1
    finally:
        await restarted.stop()
    assert [r.body["alert"]["sku"] for r in receiver.requests] == ["CAB-MK-LEGACY"]


async def test_a_claim_left_by_a_dead_process_is_taken_over(
    stockbot: HarnessFactory, receiver: FakeVendor
) -> None:
    harness = await stockbot(**hooks(receiver, "a"))
    await harness.send(event("CAB-MK-LEGACY", 1))
    assert harness.runtime is not None
    from stockbot.storage.deliveries import claim

    claimed = await claim(
        harness.runtime.engine, "dead-process", harness.clock.now(), 10, timedelta(minutes=2)
    )
    assert len(claimed) == 1  # …and that process dies before sending
    assert await harness.deliver() == 0
    harness.later(minutes=3)
    assert await harness.deliver() == 1
    assert len(receiver.requests) == 1


async def test_several_dispatchers_on_one_database_send_each_delivery_once(
    stockbot: HarnessFactory, receiver: FakeVendor
) -> None:
    harness = await stockbot(**hooks(receiver, "a", "b", "c"), delivery={"concurrency": 4})
    skus = ["CAB-MK-LEGACY", "CAB-DK-JR", "CAB-CENTIPEDE", "CAB-NBAJAM-4P", "CAB-TMNT-4P", "PIN-MET-PRO"]
    await harness.send(*[event(sku, 1, event_id=f"burst-{sku}") for sku in skus])
    replicas = [await Runtime.create(harness.config, clock=harness.clock, migrate=False) for _ in range(3)]
    try:
        await asyncio.gather(*(r.dispatcher.drain() for r in replicas))
    finally:
        for replica in replicas:
            await replica.stop()
    keys = [r.headers["Idempotency-Key"] for r in receiver.requests]
    assert len(keys) == len(set(keys)) == 3 * len(skus)
    assert {s for _, s, _ in await statuses(harness)} == {"delivered"}
