"""Noise control: low-stock digests, quiet hours, and rate budgets that turn bursts into a few messages."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from itertools import pairwise
from typing import Any

import pytest
from aiohttp import web
from sqlalchemy import select

from stockbot.bot.clock import SystemClock
from stockbot.storage.tables import deliveries
from tests.adapters.cases import twilio_sms as twilio_case
from tests.conftest import HarnessFactory
from tests.fakes.slack_api import FakeSlack
from tests.fakes.vendor import FakeVendor, Recorded
from tests.helpers import StockbotHarness, event

LOW = ["CAB-MK-LEGACY", "CAB-DK-JR", "CAB-CENTIPEDE"]  # minimum 1 in Chicago: on_hand 1 is low


@pytest.fixture
async def receiver() -> AsyncIterator[FakeVendor]:
    fake = FakeVendor("receiver")
    fake.expect("POST", "/hooks/{name}", respond=lambda r: web.Response(status=204), name="hook")
    await fake.start()
    yield fake
    await fake.close()


def hook(receiver: FakeVendor, name: str, **extra: Any) -> dict[str, Any]:
    return {"adapter": "webhook", "address": f"{receiver.url}/hooks/{name}", **extra}


def posted(receiver: FakeVendor, name: str) -> list[dict[str, Any]]:
    return [r.body for r in receiver.requests if r.path == f"/hooks/{name}"]


async def statuses(harness: StockbotHarness) -> dict[str, int]:
    assert harness.runtime is not None
    async with harness.runtime.engine.connect() as conn:
        rows = (await conn.execute(select(deliveries.c.status))).scalars().all()
    return {s: rows.count(s) for s in set(rows)}


async def test_low_alerts_go_out_as_one_digest_per_interval(
    stockbot: HarnessFactory, receiver: FakeVendor
) -> None:
    harness = await stockbot(
        channels={"buyers": hook(receiver, "buyers")},
        routes=[{"channels": ["buyers"], "digest": "15m"}],
    )
    harness.clock.set(datetime(2026, 11, 26, 9, 2, tzinfo=UTC))
    for sku in LOW:
        await harness.send(event(sku, 1, event_id=f"low-{sku}", at=harness.clock.now()))
    await harness.send(event("CAB-NBAJAM-4P", 0, event_id="out-1", at=harness.clock.now()))  # out: at once
    await harness.deliver()
    assert [b["event"] for b in posted(receiver, "buyers")] == ["opened"]
    assert (await statuses(harness))["held"] == 3
    harness.clock.set(datetime(2026, 11, 26, 9, 15, tzinfo=UTC))  # the next quarter hour
    await harness.deliver()
    digest = posted(receiver, "buyers")[-1]
    assert digest["event"] == "digest"
    items = digest["alert"]["digest"]
    assert sorted(i["sku"] for i in items) == sorted(LOW)
    assert digest["alert"]["product_name"] == "3 stock alert(s): 3 low"
    assert await statuses(harness) == {"delivered": 4}
    assert receiver.errors == []


async def test_a_low_alert_that_becomes_critical_leaves_the_digest(
    stockbot: HarnessFactory, receiver: FakeVendor
) -> None:
    harness = await stockbot(
        channels={"buyers": hook(receiver, "buyers")}, routes=[{"channels": ["buyers"], "digest": "1h"}]
    )
    await harness.send(event("PIN-GODZ-PRO", 1, event_id="a"))  # key product, low: held
    await harness.send(
        event("PIN-GODZ-PRO", 0, event_id="b", at=harness.later(minutes=1))
    )  # critical: at once
    await harness.deliver()
    harness.later(hours=1)
    await harness.deliver()
    events = [b["event"] for b in posted(receiver, "buyers")]
    assert "digest" not in events  # the held low message was stale: superseded, never sent
    assert events[0] == "worsened" and posted(receiver, "buyers")[0]["alert"]["severity"] == "critical"


async def test_quiet_hours_hold_until_morning_but_critical_goes_through(
    stockbot: HarnessFactory, receiver: FakeVendor
) -> None:
    harness = await stockbot(
        channels={"sms": hook(receiver, "sms", quiet_hours="20:00-07:00", timezone="America/Chicago")},
        routes=[{"channels": ["sms"]}],
    )
    harness.clock.set(datetime(2026, 11, 27, 3, 30, tzinfo=UTC))  # 21:30 in Chicago
    await harness.send(event("CAB-MK-LEGACY", 1, event_id="q1", at=harness.clock.now()))
    await harness.send(event("CAB-NBAJAM-4P", 0, event_id="q2", at=harness.clock.now()))
    await harness.send(event("PIN-GODZ-PRO", 0, event_id="q3", at=harness.clock.now()))  # critical
    await harness.deliver()
    assert [b["alert"]["sku"] for b in posted(receiver, "sms")] == ["PIN-GODZ-PRO"]
    harness.clock.set(datetime(2026, 11, 27, 12, 59, tzinfo=UTC))  # 06:59 in Chicago
    assert await harness.deliver() == 0
    harness.clock.set(datetime(2026, 11, 27, 13, 0, tzinfo=UTC))  # 07:00: released as one digest
    await harness.deliver()
    last = posted(receiver, "sms")[-1]
    assert last["event"] == "digest"
    assert sorted(i["sku"] for i in last["alert"]["digest"]) == ["CAB-MK-LEGACY", "CAB-NBAJAM-4P"]


async def test_a_burst_of_100_shortages_reaches_slack_as_a_few_messages_within_budget(
    stockbot: HarnessFactory,
) -> None:
    slack = FakeSlack()
    await slack.start()
    try:
        harness = await stockbot(
            slack={"bot_token": "xoxb-test-burst", "api_url": slack.api_url, "min_seconds_between_posts": 0},
            channels={
                "sales": {"adapter": "slack", "address": "C0SALES"},
                "floor": {"adapter": "slack", "address": "C0FLOOR"},
            },
            routes=[{"channels": ["sales", "floor"]}],
            alerts={"resolve_buffer": 0},
        )
        assert harness.runtime is not None
        harness.runtime.dispatcher.clock = SystemClock()  # real time: the fake records real timestamps
        burst = [
            event(sku, 0, location=loc, event_id=f"burst-{sku}-{loc}")
            for sku, loc in await _all_pairs(harness)
        ][:100]
        await harness.send(*burst)
        started = time.monotonic()
        while (await statuses(harness)).get("delivered", 0) < 200 and time.monotonic() - started < 10:
            await harness.runtime.dispatcher.run_once()
            await asyncio.sleep(0.05)
        assert await statuses(harness) == {"delivered": 200}
        assert time.monotonic() - started < 10
        posts = slack.calls("chat.postMessage")
        assert len(posts) <= 6, f"{len(posts)} messages for a burst of 100"
        for channel in ("C0SALES", "C0FLOOR"):
            times = sorted(r.at for r in posts if r.body.get("channel") == channel)
            assert all(b - a >= 0.95 for a, b in pairwise(times)), times
        assert slack.errors == []
    finally:
        await slack.close()


async def test_twilio_sends_one_segment_per_second_per_sender(stockbot: HarnessFactory) -> None:
    fake = FakeVendor("twilio")
    twilio_case.configure(fake)
    await fake.start()
    try:
        harness = await stockbot(
            adapters={"twilio_sms": twilio_case.CASE.settings(fake.url)},
            channels={
                "a": {"adapter": "twilio_sms", "address": "+15551230001"},
                "b": {"adapter": "twilio_sms", "address": "+15551230002"},
            },
            routes=[{"channels": ["a", "b"]}],
        )
        assert harness.runtime is not None
        harness.runtime.dispatcher.clock = SystemClock()
        await harness.send(*[event(sku, 0, event_id=f"sms-{sku}") for sku in LOW])
        started = time.monotonic()
        while (await statuses(harness)).get("delivered", 0) < 6 and time.monotonic() - started < 10:
            await harness.runtime.dispatcher.run_once()
            await asyncio.sleep(0.05)
        assert await statuses(harness) == {"delivered": 6}
        calls = fake.calls("create_message")
        times = sorted(r.at for r in calls)
        assert len(times) <= 4  # both recipients share the sender's budget; the rest rode in digests
        assert all(b - a >= 0.95 for a, b in pairwise(times)), times
        for number in ("+15551230001", "+15551230002"):  # each recipient heard about every shortage
            text = " ".join(r.body["Body"] for r in calls if r.body["To"] == number)
            assert all(sku in text for sku in LOW), (number, text)
        assert fake.errors == []
    finally:
        await fake.close()


async def _all_pairs(harness: StockbotHarness) -> list[tuple[str, str]]:
    from stockbot.storage.tables import stock_levels

    assert harness.runtime is not None
    async with harness.runtime.engine.connect() as conn:
        return [
            (r.sku, r.location)
            for r in (await conn.execute(select(stock_levels.c.sku, stock_levels.c.location)))
        ]


def test_recorded_requests_carry_a_time() -> None:
    assert Recorded("GET", "/", {}, {}, b"", None).at > 0


async def test_two_processes_send_each_digest_once(stockbot: HarnessFactory, receiver: FakeVendor) -> None:
    from stockbot.bot.runtime import Runtime

    harness = await stockbot(
        channels={"buyers": hook(receiver, "buyers"), "floor": hook(receiver, "floor")},
        routes=[{"channels": ["buyers", "floor"], "digest": "15m"}],
    )
    harness.clock.set(datetime(2026, 11, 26, 9, 2, tzinfo=UTC))
    for sku in LOW:
        await harness.send(event(sku, 1, event_id=f"two-{sku}", at=harness.clock.now()))
    harness.clock.set(datetime(2026, 11, 26, 9, 15, tzinfo=UTC))
    replicas = [await Runtime.create(harness.config, clock=harness.clock, migrate=False) for _ in range(2)]
    try:
        await asyncio.gather(*(r.dispatcher.drain() for r in replicas))
    finally:
        for replica in replicas:
            await replica.stop()
    for name in ("buyers", "floor"):
        (digest,) = posted(receiver, name)
        assert sorted(i["sku"] for i in digest["alert"]["digest"]) == sorted(LOW)
    assert await statuses(harness) == {"delivered": 6}
