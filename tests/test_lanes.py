"""The dispatcher's lanes: one per destination, each with its own pace, pause and groups, fed by hand-off;
set-wise writes; and what it does with an adapter that breaks its contract.

Most tests run the dispatcher as ``stockbot serve`` does (started, on the real clock) against fake vendors
on 127.0.0.1, and assert on order: what had arrived while something else was still stuck, which request
came after which at the fake. The grouping rules themselves run on the test clock.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any, ClassVar

import pytest
from aiohttp import web
from sqlalchemy import event as sa_event
from sqlalchemy import select

from stockbot.adapters import ADAPTERS
from stockbot.adapters.base import ALL_EVENTS, AdapterSettings, AlertMessage, RateLimit, Receipt, Target
from stockbot.adapters.webhook import WebhookAdapter
from stockbot.bot.clock import SystemClock
from stockbot.bot.lanes import Entry, Lane
from stockbot.bot.noise import Grouping
from stockbot.bot.relay import Dispatcher, Slots
from stockbot.storage.deliveries import Claimed
from stockbot.storage.tables import audit_events, deliveries
from tests.conftest import HarnessFactory
from tests.fakes.slack_api import FakeSlack
from tests.fakes.vendor import FakeVendor, Recorded
from tests.helpers import StockbotHarness, event
from tests.test_outage import database_away

SKUS = ["CAB-MK-LEGACY", "CAB-DK-JR", "CAB-CENTIPEDE", "CAB-NBAJAM-4P", "CAB-TMNT-4P"]


# --- helpers -----------------------------------------------------------------------------------------------


@pytest.fixture
async def vendors() -> AsyncIterator[Callable[..., Awaitable[FakeVendor]]]:
    """``await vendors(name, respond=…)``: a started fake webhook receiver at ``/hooks/{name}``."""
    started: list[FakeVendor] = []

    async def start(name: str, respond: Any = None) -> FakeVendor:
        fake = FakeVendor(name)
        fake.expect(
            "POST", "/hooks/{name}", respond=respond or (lambda r: web.Response(status=204)), name="hook"
        )
        await fake.start()
        started.append(fake)
        return fake

    yield start
    for fake in started:
        await fake.close()


def hook(fake: FakeVendor, name: str, **extra: Any) -> dict[str, Any]:
    return {"adapter": "webhook", "address": f"{fake.url}/hooks/{name}", **extra}


def running(harness: StockbotHarness) -> Dispatcher:
    """The harness's dispatcher started on the real clock, as ``stockbot serve`` runs it."""
    assert harness.runtime is not None
    harness.clock.set(datetime.now(UTC))  # what the desk stores is due on the real clock at once
    dispatcher = harness.runtime.dispatcher
    dispatcher.clock = SystemClock()
    dispatcher.start()
    return dispatcher


async def eventually(check: Callable[[], Awaitable[bool] | bool], what: str, within: float = 30.0) -> None:
    """Wait for ``check`` to hold. The bound only keeps a broken build from hanging; nothing is timed."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        result = check()
        if await result if isinstance(result, Awaitable) else result:
            return
        if loop.time() > deadline:
            pytest.fail(f"never happened: {what}")
        await asyncio.sleep(0.02)


async def outbox(harness: StockbotHarness) -> list[tuple[str, str, int]]:
    assert harness.runtime is not None
    async with harness.runtime.engine.connect() as conn:
        query = select(deliveries.c.channel, deliveries.c.status, deliveries.c.attempts)
        return [tuple(r) for r in (await conn.execute(query.order_by(deliveries.c.id))).all()]


async def all_delivered(harness: StockbotHarness, count: int) -> bool:
    rows = await outbox(harness)
    return len(rows) == count and all(status == "delivered" for _, status, _ in rows)


async def delivery_audit(harness: StockbotHarness) -> list[dict[str, Any]]:
    assert harness.runtime is not None
    async with harness.runtime.engine.connect() as conn:
        query = select(audit_events.c.kind, audit_events.c.detail).where(
            audit_events.c.kind.like("delivery.%")
        )
        return [{"kind": k, **d} for k, d in (await conn.execute(query.order_by(audit_events.c.id))).all()]


def now_event(harness: StockbotHarness, sku: str, on_hand: int) -> dict[str, Any]:
    """An event for ``sku`` stamped with the harness clock (set to the real time by :func:`running`)."""
    return event(sku, on_hand, event_id=f"{sku}-{on_hand}", at=harness.clock.now())


# --- a lane per destination --------------------------------------------------------------------------------


async def test_a_hanging_destination_costs_the_others_nothing(
    stockbot: HarnessFactory, vendors: Callable[..., Awaitable[FakeVendor]]
) -> None:
    release = asyncio.Event()

    async def hang(recorded: Recorded) -> web.Response:
        await release.wait()  # a webhook that does not answer (within the adapter's timeout)
        return web.Response(status=204)

    stuck, healthy = await vendors("stuck", respond=hang), await vendors("healthy")
    harness = await stockbot(
        channels={"stuck": hook(stuck, "stuck"), "healthy": hook(healthy, "healthy")},
        routes=[{"channels": ["stuck", "healthy"]}],
        adapters={"webhook": {"timeout_seconds": 120}},
    )
    running(harness)
    for sku in SKUS:
        await harness.send(now_event(harness, sku, 0))
    await eventually(lambda: len(healthy.requests) == len(SKUS), "the healthy channel heard every alert")
    # …all while the hanging destination still holds the requests its lane takes at once (the webhook's
    # default): nothing else went there
    assert len(stuck.requests) == WebhookAdapter.concurrency < len(SKUS) and not release.is_set()
    assert sorted(r.body["alert"]["sku"] for r in healthy.requests) == sorted(SKUS)
    release.set()
    await eventually(lambda: all_delivered(harness, 2 * len(SKUS)), "every delivery recorded as sent")
    assert sorted(r.body["alert"]["sku"] for r in stuck.requests) == sorted(SKUS)  # each once
    assert stuck.errors == healthy.errors == []


async def test_retry_after_pauses_the_whole_destination_and_only_it(
    stockbot: HarnessFactory, vendors: Callable[..., Awaitable[FakeVendor]]
) -> None:
    limited, other = await vendors("limited"), await vendors("other")
    limited.fail_next(429, "slow down", {"Retry-After": "2"})
    harness = await stockbot(
        channels={"limited": hook(limited, "limited"), "other": hook(other, "other")},
        routes=[{"channels": ["limited", "other"]}],
    )
    running(harness)
    await harness.send(now_event(harness, SKUS[0], 0))
    await eventually(lambda: len(limited.requests) == 1 and len(other.requests) == 1, "the first round")
    await eventually(lambda: _retrying(harness), "the 429 recorded as a retry")
    for sku in SKUS[1:]:
        await harness.send(now_event(harness, sku, 0))
    await eventually(lambda: all_delivered(harness, 2 * len(SKUS)), "everything delivered")

    refused, *later = limited.requests
    assert len(later) == len(SKUS)  # the refused alert again, and every later one
    assert all(r.at - refused.at >= 2.0 for r in later), [r.at - refused.at for r in later]
    # the other destination went on meanwhile: its later alerts arrived before the paused one's first
    assert max(r.at for r in other.requests) < min(r.at for r in later)
    kinds = [row["kind"] for row in await delivery_audit(harness)]
    assert kinds.count("delivery.retry") == 1 and kinds.count("delivery.sent") == 2 * len(SKUS)


async def _retrying(harness: StockbotHarness) -> bool:
    return ("limited", "pending", 1) in await outbox(harness)


async def test_a_slack_ratelimited_answer_pauses_the_channel(stockbot: HarnessFactory) -> None:
    slack = FakeSlack()
    await slack.start()
    try:
        slack.fail_next("chat.postMessage", retry_after=2)  # HTTP 429, error ratelimited
        harness = await stockbot(
            slack={"bot_token": "xoxb-test-pause", "api_url": slack.api_url, "min_seconds_between_posts": 0},
            channels={"sales": {"adapter": "slack", "address": "C0SALES", "group_wait": "0s"}},
            routes=[{"channels": ["sales"]}],
        )
        running(harness)
        await harness.send(now_event(harness, "PIN-GODZ-PRO", 0))  # critical: no grouping wait either
        await eventually(lambda: all_delivered(harness, 1), "the card posted after the pause")
        refused, posted = slack.calls("chat.postMessage")
        assert posted.at - refused.at >= 2.0
        assert slack.errors == []
    finally:
        await slack.close()


# --- hand-off, successors, set-wise writes -----------------------------------------------------------------


async def test_committed_deliveries_are_handed_over_without_waiting_for_a_poll(
    stockbot: HarnessFactory, vendors: Callable[..., Awaitable[FakeVendor]]
) -> None:
    receiver = await vendors("receiver")
    harness = await stockbot(
        channels={"a": hook(receiver, "a")},
        routes=[{"channels": ["a"]}],
        delivery={"poll_interval": "1h"},  # the poll would find nothing for an hour
    )
    running(harness)
    await harness.send(now_event(harness, SKUS[0], 0))
    await harness.send(now_event(harness, SKUS[0], 9))  # resolved: claimed when its post is recorded
    await eventually(lambda: all_delivered(harness, 2), "the post and its update, by hand-off alone")
    assert [r.body["event"] for r in receiver.requests] == ["opened", "resolved"]
    assert [r.body["delivery_id"] for r in receiver.requests] == [
        r.headers["Idempotency-Key"] for r in receiver.requests
    ]


async def test_outcomes_and_their_audit_rows_are_written_set_wise(
    stockbot: HarnessFactory, vendors: Callable[..., Awaitable[FakeVendor]]
) -> None:
    receiver = await vendors("receiver")
    names = [f"hook{n}" for n in range(10)]
    harness = await stockbot(channels={n: hook(receiver, n) for n in names}, routes=[{"channels": names}])
    await harness.send(*[event(sku, 0, event_id=f"set-{sku}") for sku in SKUS])  # 50 deliveries
    assert harness.runtime is not None
    commits: list[int] = []
    sa_event.listen(harness.runtime.engine.sync_engine, "commit", lambda conn: commits.append(1))
    assert await harness.runtime.dispatcher.run_once() == 50
    assert await all_delivered(harness, 50)
    # upkeep, one claim of everything due, one write of every outcome: not a commit per delivery
    assert len(commits) <= 4, len(commits)
    assert [row["kind"] for row in await delivery_audit(harness)] == ["delivery.sent"] * 50


# --- grouping ----------------------------------------------------------------------------------------------


async def test_a_burst_of_60_shortages_reaches_a_slack_channel_as_at_most_3_messages(
    stockbot: HarnessFactory,
) -> None:
    slack = FakeSlack()
    await slack.start()
    try:
        harness = await stockbot(
            slack={
                "bot_token": "xoxb-test-burst60",
                "api_url": slack.api_url,
                "min_seconds_between_posts": 0,
            },
            channels={"sales": {"adapter": "slack", "address": "C0SALES"}},
            routes=[{"channels": ["sales"]}],
        )
        pairs = (await _pairs(harness))[:60]
        running(harness)
        loop = asyncio.get_running_loop()
        start = loop.time()
        for n, (sku, location) in enumerate(pairs):  # one shortage every 80 ms, key products included
            await asyncio.sleep(max(start + n * 0.08 - loop.time(), 0))
            await harness.send(event(sku, 0, location=location, event_id=f"b-{n}", at=harness.clock.now()))
        await eventually(lambda: all_delivered(harness, 60), "all 60 shortages told")
        posts = slack.calls("chat.postMessage")
        assert len(posts) <= 3, f"{len(posts)} messages for a burst of 60"
        assert all(b.at - a.at >= 0.95 for a, b in pairwise(posts))  # within Slack's 1 message/s
        sent = [row for row in await delivery_audit(harness) if row["kind"] == "delivery.sent"]
        told = [set(row.get("digest_of") or [row["delivery"]]) for row in sent]
        assert sorted(d for group in told for d in group) == list(range(1, 61))  # each alert once
        assert slack.errors == []
    finally:
        await slack.close()


async def _pairs(harness: StockbotHarness) -> list[tuple[str, str]]:
    from stockbot.storage.tables import stock_levels

    assert harness.runtime is not None
    async with harness.runtime.engine.connect() as conn:
        query = select(stock_levels.c.sku, stock_levels.c.location).order_by(stock_levels.c.sku)
        return [(r.sku, r.location) for r in await conn.execute(query)]


@pytest.mark.parametrize("skips", [True, False])
async def test_critical_alerts_skip_the_group_wait_when_the_policy_says_so(
    stockbot: HarnessFactory, vendors: Callable[..., Awaitable[FakeVendor]], skips: bool
) -> None:
    receiver = await vendors("receiver")
    harness = await stockbot(
        channels={"floor": hook(receiver, "floor", group_wait="1h", group_interval="1h")},
        policies={"p": {"steps": [{"channels": ["floor"]}], "critical_skips_group_wait": skips}},
        routes=[{"policy": "p"}],
    )
    await harness.send(event("CAB-MK-LEGACY", 0, event_id="out"))  # out: waits for its group
    await harness.deliver()
    assert receiver.requests == []
    await harness.send(event("PIN-GODZ-PRO", 0, event_id="critical"))  # a key product: critical
    await harness.deliver()
    if not skips:
        assert receiver.requests == []  # critical too: the group goes when its hour is up
        harness.later(hours=1, seconds=1)
        await harness.deliver()
    (digest,) = [r.body for r in receiver.requests]
    assert digest["event"] == "digest"
    assert [i["sku"] for i in digest["alert"]["digest"]] == ["PIN-GODZ-PRO", "CAB-MK-LEGACY"]  # worst first
    assert len(digest["digest_of"]) == 2


async def test_webhooks_are_not_grouped_unless_configured(
    stockbot: HarnessFactory, vendors: Callable[..., Awaitable[FakeVendor]]
) -> None:
    receiver = await vendors("receiver")
    harness = await stockbot(channels={"a": hook(receiver, "a")}, routes=[{"channels": ["a"]}])
    await harness.send(*[event(sku, 0, event_id=f"w-{sku}") for sku in SKUS])
    assert await harness.deliver() == len(SKUS)
    assert sorted(r.body["alert"]["sku"] for r in receiver.requests) == sorted(SKUS)  # one POST each


def test_a_group_waits_then_keeps_its_interval() -> None:
    lane = Lane("slack:C1", (RateLimit(1, 1.0),))
    grouping = Grouping(wait=2.0, interval=5.0)
    lane.add(Entry([_claimed(1)], grouping=grouping), 100.0)
    lane.add(Entry([_claimed(2)], grouping=grouping), 100.5)
    assert lane.next_unit(101.9, room=1) is None
    unit = lane.next_unit(102.0, room=1)
    assert unit is not None and unit.digest and [i.id for i in unit.items] == [1, 2]
    lane.add(Entry([_claimed(3)], grouping=grouping), 102.1)
    assert lane.next_unit(106.9, room=1) is None  # the group went at 102: next no sooner than 107
    unit = lane.next_unit(107.0, room=1)
    assert unit is not None and not unit.digest and [i.id for i in unit.items] == [3]


def test_a_paused_or_busy_lane_sends_nothing() -> None:
    lane = Lane("webhook:x", concurrency=1)
    lane.add(Entry([_claimed(1)]), 0.0)
    lane.add(Entry([_claimed(2)]), 0.0)
    lane.pause(10.0)
    assert lane.next_unit(9.9, room=5) is None
    assert lane.wake_at(budget_at=0.0) == 10.0
    unit = lane.next_unit(10.0, room=5)
    assert unit is not None and [i.id for i in unit.items] == [1]
    lane.in_flight = 1
    assert lane.next_unit(10.0, room=5) is None  # in order: one request at a time


def _claimed(delivery_id: int) -> Claimed:
    now = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
    return Claimed(delivery_id, delivery_id, "c", "slack", "opened", {}, f"k{delivery_id}", 1, now, None)


# --- adapters that break the contract ----------------------------------------------------------------------


async def test_the_global_bound_hands_slots_over_in_order_and_loses_none_to_a_cancelled_waiter() -> None:
    slots = Slots(1)
    await slots.__aenter__()  # the one slot is taken
    second, third, fourth = (asyncio.create_task(slots.__aenter__()) for _ in range(3))
    await asyncio.sleep(0)  # all three wait, in that order
    second.cancel()  # gives up while waiting: no slot is taken for it
    await asyncio.sleep(0)
    await slots.__aexit__()  # the slot goes to the next waiter, third…
    third.cancel()  # …cancelled before it could run: it passes the slot on
    waiting = asyncio.gather(second, third, fourth, return_exceptions=True)
    results = await asyncio.wait_for(waiting, timeout=10)  # a lost slot would leave fourth waiting for ever
    assert [type(r) for r in results] == [asyncio.CancelledError, asyncio.CancelledError, type(None)]
    assert slots.free == 0  # fourth holds it
    await slots.__aexit__()
    assert slots.free == 1  # every slot back


class BrokenAdapter:
    """An adapter with a bug: it raises something that is neither retryable nor permanent."""

    name: ClassVar[str] = "broken"
    events: ClassVar[frozenset[str]] = ALL_EVENTS
    Settings: ClassVar[type[AdapterSettings]] = AdapterSettings

    def __init__(self, settings: AdapterSettings, http: Any) -> None:
        pass

    async def send(self, message: AlertMessage, target: Target) -> Receipt:
        return {}["external_id"]  # KeyError: the kind of slip a vendor's odd answer exposes


async def test_an_adapter_bug_fails_for_good_after_three_attempts_and_logs_its_traceback_once(
    stockbot: HarnessFactory, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setitem(ADAPTERS, "broken", f"{__name__}:BrokenAdapter")
    harness = await stockbot(
        channels={"bug": {"adapter": "broken", "address": "anywhere"}}, routes=[{"channels": ["bug"]}]
    )
    caplog.set_level(logging.INFO, logger="stockbot")
    await harness.send(event("CAB-MK-LEGACY", 0))
    for _ in range(5):
        await harness.deliver()
        harness.later(minutes=2)
    assert await outbox(harness) == [("bug", "failed", 3)]  # not retried until max_age (1 h here)
    kinds = [row["kind"] for row in await delivery_audit(harness)]
    assert kinds == ["delivery.retry", "delivery.retry", "delivery.failed"]
    tracebacks = [r for r in caplog.records if r.exc_info and "KeyError" in r.getMessage()]
    assert len(tracebacks) == 1


def test_grouping_and_lease_keys_are_validated_with_the_key_named() -> None:
    from stockbot.bot.config import ConfigError, parse_config

    with pytest.raises(ConfigError, match=r"delivery\.claim_lease: at least \"2s\""):
        parse_config({"delivery": {"claim_lease": "1s"}}, env={})
    with pytest.raises(ConfigError, match=r"channels\.x\.group_wait: .* is not a duration"):
        channel = {"adapter": "console", "address": "x", "group_wait": "soon"}
        parse_config({"channels": {"x": channel}}, env={})
    config = parse_config({"routes": [{"group_wait": "30s", "group_interval": "5m"}]}, env={})
    assert config.routes[0].group_interval is not None and config.routes[0].group_interval.seconds == 300


async def held_receiver(vendors: Callable[..., Awaitable[FakeVendor]]) -> tuple[FakeVendor, asyncio.Event]:
    """A webhook receiver that answers 204 only once the returned event is set."""
    answer = asyncio.Event()

    async def held(recorded: Recorded) -> web.Response:
        await answer.wait()
        return web.Response(status=204)

    return await vendors("receiver", respond=held), answer


async def test_a_database_outage_after_sending_loses_no_outcome_and_sends_nothing_twice(
    stockbot: HarnessFactory,
    vendors: Callable[..., Awaitable[FakeVendor]],
    caplog: pytest.LogCaptureFixture,
    db_url: str,
) -> None:
    receiver, answer = await held_receiver(vendors)
    harness = await stockbot(
        channels={"a": hook(receiver, "a")}, routes=[{"channels": ["a"]}], storage={"busy_timeout": 0.2}
    )
    running(harness)
    await harness.send(now_event(harness, SKUS[0], 0))
    await eventually(lambda: len(receiver.requests) == 1, "the POST reaching the receiver")

    def failed() -> bool:
        return any("database work failed" in r.getMessage() for r in caplog.records)

    # The database goes away while the vendor is answering, for every connection (the outcome is written in
    # the group-commit writer's transaction, on its own connection): the outcome cannot be written…
    async with database_away(db_url):
        answer.set()
        await eventually(failed, "the dispatcher failing to record the outcome")
    # …until it is back: the outcome kept in memory is written then, and nothing is sent again.
    await eventually(lambda: all_delivered(harness, 1), "the outcome recorded once the database is back")
    assert len(receiver.requests) == 1
    assert [row["kind"] for row in await delivery_audit(harness)] == ["delivery.sent"]


async def test_a_destination_may_take_several_requests_at_once_within_the_global_bound(
    stockbot: HarnessFactory, vendors: Callable[..., Awaitable[FakeVendor]]
) -> None:
    gates: list[asyncio.Event] = []
    answered: list[float] = []

    async def gated(recorded: Recorded) -> web.Response:
        gate = asyncio.Event()
        gates.append(gate)
        await gate.wait()
        answered.append(time.monotonic())  # the clock Recorded.at uses
        return web.Response(status=204)

    wide = await vendors("wide", respond=gated)
    harness = await stockbot(
        channels={"wide": hook(wide, "wide", concurrency=3)},  # this webhook takes three at once…
        routes=[{"channels": ["wide"]}],
        delivery={"concurrency": 2},  # …but no more than two requests are in flight in all
    )
    running(harness)
    for sku in SKUS:
        await harness.send(now_event(harness, sku, 0))
    await eventually(lambda: len(wide.requests) == 2, "two requests to one destination, neither answered")
    assert answered == []
    gates[0].set()
    await eventually(lambda: len(wide.requests) == 3, "a third once a slot is free")
    assert wide.requests[2].at >= answered[0]  # it waited for the first answer: the global bound
    for gate in gates:
        gate.set()

    async def all_answered() -> bool:
        for gate in gates:
            gate.set()
        return await all_delivered(harness, len(SKUS))

    await eventually(all_answered, "everything delivered")
    assert sorted(r.body["alert"]["sku"] for r in wide.requests) == sorted(SKUS)


async def test_with_several_requests_in_flight_an_alerts_post_still_reaches_the_receiver_before_its_updates(
    stockbot: HarnessFactory, vendors: Callable[..., Awaitable[FakeVendor]]
) -> None:
    """A webhook takes several requests at once by default. Unrelated alerts then overlap and may overtake
    each other, but an alert's updates are claimed only once its post is recorded: at the receiver, an
    alert's next request never arrives before its previous one was answered, and its post comes first."""
    pairs = [(sku, location) for sku in SKUS for location in ("Chicago DC", "Las Vegas Showroom")]
    delays = random.Random(11)
    in_flight: dict[str, int] = {}
    most = 0
    overlaps: list[str] = []
    seen: dict[str, list[str]] = {}

    async def slow(recorded: Recorded) -> web.Response:
        nonlocal most
        alert = recorded.body["alert"]
        key = f"{alert['sku']}@{alert['location']}"
        if in_flight.get(key):
            overlaps.append(key)  # this alert's previous request is not answered yet
        in_flight[key] = in_flight.get(key, 0) + 1
        seen.setdefault(key, []).append(recorded.body["event"])
        most = max(most, sum(in_flight.values()))
        await asyncio.sleep(delays.uniform(0.02, 0.06))  # answers end out of the order they began
        in_flight[key] -= 1
        return web.Response(status=204)

    receiver = await vendors("receiver", respond=slow)
    harness = await stockbot(channels={"hook": hook(receiver, "hook")}, routes=[{"channels": ["hook"]}])
    running(harness)
    start, second = harness.clock.now(), timedelta(seconds=1)
    for sku, location in pairs:  # each alert's updates follow its post at once, while the post is answered
        # low (the post), out (worsened), back in stock (resolved)
        for on_hand, at in zip((1, 0, 9), (start, start + second, start + 2 * second), strict=True):
            await harness.send(
                event(sku, on_hand, location=location, event_id=f"{sku}-{location}-{on_hand}", at=at)
            )
    await eventually(lambda: all_delivered(harness, 3 * len(pairs)), "every post and update delivered")
    assert receiver.errors == []
    assert most > 1  # the lane did run several requests at once
    assert overlaps == []
    assert seen == {f"{sku}@{location}": ["opened", "worsened", "resolved"] for sku, location in pairs}


async def test_a_delivery_is_claimed_in_the_transaction_that_queued_it(
    stockbot: HarnessFactory, vendors: Callable[..., Awaitable[FakeVendor]]
) -> None:
    """While the dispatcher runs, the ingest batch that queues a delivery also claims it for this process
    (no transaction of its own, no poll): when the 202 comes back, the delivery is already being sent, and
    its one POST follows."""
    receiver, answer = await held_receiver(vendors)
    harness = await stockbot(
        channels={"a": hook(receiver, "a")}, routes=[{"channels": ["a"]}], delivery={"poll_interval": "1h"}
    )
    dispatcher = running(harness)
    await harness.send(now_event(harness, SKUS[0], 0))
    assert [(status, attempts) for _, status, attempts in await outbox(harness)] == [("sending", 1)]
    await eventually(lambda: len(receiver.requests) == 1, "the POST reaching the receiver")
    answer.set()
    await eventually(lambda: all_delivered(harness, 1), "the outcome recorded")
    assert len(receiver.requests) == 1
    assert [row["kind"] for row in await delivery_audit(harness)] == ["delivery.sent"]
    await dispatcher.stop()
    assert await all_delivered(harness, 1)
