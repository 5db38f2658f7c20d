"""The feed watchdog on a test clock: a silent source raises a `feed silent` alert to its channels, not
before ``expect_every``; the sweep is idempotent; resumed events resolve it and update the card in place;
replicas sweeping at once raise it once."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import inspect, select

from stockbot.adapters.render import slack as slack_render
from stockbot.adapters.render import teams as teams_render
from stockbot.adapters.render import text
from stockbot.bot.permissions import Actor
from stockbot.bot.runtime import Runtime
from stockbot.bot.stock import lookup, resolve_sku
from stockbot.bot.watchdog import check_feeds, sweep_interval
from stockbot.scheduler.jobs import build_scheduler
from stockbot.storage.catalog import export_csv
from stockbot.storage.tables import alerts, deliveries, products
from tests.conftest import HarnessFactory
from tests.fakes import slack_api
from tests.fakes.bot_connector import card_errors
from tests.fakes.messages import OPENED, sample_message
from tests.fakes.slack_api import FakeSlack, block_kit_problems
from tests.helpers import ERP_SECRET, POS_SECRET, StockbotHarness, event
from tests.helpers import test_config as parsed_config

fake_slack = slack_api.fake_slack  # the fixture
DANA = Actor(id="dana", via="cli")
FEEDS = "C0FEEDS"


def watching(*, feed_channels: tuple[str, ...] = ("feeds",), **extra: Any) -> dict[str, Any]:
    """erp is watched (10 min), pos is not; console channels ``ops`` and ``feeds`` unless ``extra`` says."""
    erp = {"secret": ERP_SECRET, "expect_every": "10m", "channels": list(feed_channels)}
    return {
        "sources": {"erp": erp, "pos": {"secret": POS_SECRET}},
        "channels": {name: {"adapter": "console", "address": name} for name in ("ops", "feeds")},
        **extra,
    }


async def sent(harness: StockbotHarness) -> list[tuple[str, str]]:
    assert harness.runtime is not None
    async with harness.runtime.engine.connect() as conn:
        rows = await conn.execute(select(deliveries.c.channel, deliveries.c.event).order_by(deliveries.c.id))
        return [(r.channel, r.event) for r in rows]


async def feed_alerts(harness: StockbotHarness) -> list[dict[str, Any]]:
    assert harness.runtime is not None
    async with harness.runtime.engine.connect() as conn:
        query = select(alerts).where(alerts.c.location == "feed").order_by(alerts.c.id)
        return [dict(r) for r in (await conn.execute(query)).mappings()]


async def test_a_silent_source_raises_a_feed_alert_to_its_channels_after_expect_every(
    stockbot: HarnessFactory,
) -> None:
    harness = await stockbot(**watching())
    await harness.send(event("CAB-MK-LEGACY", 5))  # healthy stock: no product alert
    assert await check_feeds(harness.desk) == 0
    harness.later(minutes=10)
    assert await check_feeds(harness.desk) == 0  # exactly expect_every is not "longer"
    harness.later(seconds=1)
    assert await check_feeds(harness.desk) == 1
    (alert,) = await feed_alerts(harness)
    assert {
        k: alert[k] for k in ("sku", "location", "state", "severity", "trigger", "on_hand", "reason")
    } == {
        "sku": "feed:erp",
        "location": "feed",
        "state": "open",
        "severity": "critical",
        "trigger": "feed_silent",
        "on_hand": None,
        "reason": "no events from erp for 10 min (expected every 10 min)",
    }
    assert await sent(harness) == [("feeds", "opened")]  # the source's channels, not the product routes
    for _ in range(3):  # idempotent: the open alert already says so
        harness.later(minutes=7)
        assert await check_feeds(harness.desk) == 0
    assert await sent(harness) == [("feeds", "opened")]
    assert await harness.deliver() == 1


async def test_resumed_events_resolve_the_alert_and_update_the_card(
    stockbot: HarnessFactory, fake_slack: FakeSlack
) -> None:
    harness = await stockbot(
        **watching(
            slack={"bot_token": "xoxb-test-1234567890-watchdog", "api_url": fake_slack.api_url},
            channels={"feeds": {"adapter": "slack", "address": FEEDS}},
        )
    )
    await harness.send(event("CAB-MK-LEGACY", 5))
    harness.later(minutes=12)
    assert await check_feeds(harness.desk) == 1
    await harness.deliver()
    (card,) = fake_slack.posts(FEEDS)
    assert (
        card["blocks"][0]["text"]["text"] == ":rotating_light: Feed silent: erp has sent nothing for 12 min"
    )
    assert card["text"] == ":rotating_light: Feed silent: erp has sent nothing for 12 min"
    (alert,) = await feed_alerts(harness)
    await harness.desk.acknowledge(alert["id"], DANA)
    harness.later(minutes=3)
    await harness.deliver()

    harness.later(minutes=10)
    await harness.send(event("CAB-MK-LEGACY", 4, at=harness.clock.now()))  # the feed is back
    assert await check_feeds(harness.desk) == 1
    (alert,) = await feed_alerts(harness)
    assert (alert["state"], alert["resolved_by"], alert["reason"]) == (
        "resolved",
        "erp",
        "events from erp resumed at 2026-11-26 09:25 UTC",
    )
    assert await check_feeds(harness.desk) == 0
    await harness.deliver()
    assert fake_slack.errors == []
    (card,) = fake_slack.posts(FEEDS)  # the same card, updated in place
    assert card["blocks"][0]["text"]["text"] == ":white_check_mark: Feed back: erp events resumed"
    assert "actions" not in [b["type"] for b in card["blocks"]]
    context = card["blocks"][-1]["elements"][0]["text"]
    assert context == ":white_check_mark: Events resumed after 25 min of silence"
    replies = [r["text"] for r in fake_slack.replies(FEEDS, card["ts"])]
    assert replies == [
        "Acknowledged by dana — no events from erp for 12 min (expected every 10 min)",
        "Events resumed after 25 min of silence",
    ]
    assert await sent(harness) == [("feeds", "opened"), ("feeds", "acknowledged"), ("feeds", "resolved")]

    harness.later(minutes=11)  # silent again: the same alert reopens
    assert await check_feeds(harness.desk) == 1
    assert (await sent(harness))[-1] == ("feeds", "reopened")


async def test_a_source_that_never_sent_anything_is_silent_from_when_watching_began(
    stockbot: HarnessFactory,
) -> None:
    harness = await stockbot(**watching())
    assert await check_feeds(harness.desk) == 0
    harness.later(minutes=10, seconds=1)
    assert await check_feeds(harness.desk) == 1
    (alert,) = await feed_alerts(harness)
    assert (
        alert["reason"]
        == "no events from erp yet; watched since 2026-11-26 09:00 UTC (expected every 10 min)"
    )


async def test_a_source_without_expect_every_never_alerts(stockbot: HarnessFactory) -> None:
    harness = await stockbot()  # erp and pos, neither watched
    harness.later(days=3)
    assert await check_feeds(harness.desk) == 0
    assert await feed_alerts(harness) == []
    assert harness.runtime is not None
    async with harness.runtime.engine.connect() as conn:
        feeds = (await conn.execute(select(products.c.sku).where(products.c.category == "feed"))).all()
    assert feeds == []


async def test_two_runtimes_sweeping_at_once_raise_and_resolve_it_once(stockbot: HarnessFactory) -> None:
    harness = await stockbot(**watching())
    await harness.send(event("CAB-MK-LEGACY", 5))
    harness.later(minutes=11)  # no sweep yet: the replicas also race to create the feed's rows
    replicas = [await Runtime.create(harness.config, clock=harness.clock, migrate=False) for _ in range(2)]
    try:
        raised = await asyncio.gather(*(check_feeds(r.desk) for r in replicas))
        await harness.send(event("CAB-MK-LEGACY", 6, at=harness.later(minutes=1)))
        resolved = await asyncio.gather(*(check_feeds(r.desk) for r in replicas))
    finally:
        for replica in replicas:
            await replica.stop()
    assert (sum(raised), sum(resolved)) == (1, 1)
    assert await sent(harness) == [("feeds", "opened"), ("feeds", "resolved")]


async def test_a_feed_alert_resolved_by_hand_while_still_silent_is_raised_again(
    stockbot: HarnessFactory,
) -> None:
    harness = await stockbot(**watching())
    await check_feeds(harness.desk)  # watching begins
    harness.later(minutes=11)
    await check_feeds(harness.desk)
    (alert,) = await feed_alerts(harness)
    await harness.desk.resolve(alert["id"], DANA, "looked fine to me")
    harness.later(minutes=1)
    assert await check_feeds(harness.desk) == 1  # as the batch check does for stock: still true, so again
    assert [e for _, e in await sent(harness)] == ["opened", "resolved", "reopened"]


async def test_without_channels_a_feed_alert_is_routed_like_any_alert(stockbot: HarnessFactory) -> None:
    routes = [{"match": {"category": ["feed"]}, "channels": ["feeds"]}, {"channels": ["ops"]}]
    harness = await stockbot(**watching(feed_channels=(), routes=routes))
    await harness.send(event("CAB-MK-LEGACY", 0, status="out_of_stock"))
    harness.later(minutes=11)
    assert await check_feeds(harness.desk) == 1
    assert await sent(harness) == [("ops", "opened"), ("feeds", "opened")]


async def test_a_source_no_longer_watched_has_its_alert_resolved(stockbot: HarnessFactory) -> None:
    harness = await stockbot(**watching())
    await check_feeds(harness.desk)  # watching begins
    harness.later(minutes=11)
    await check_feeds(harness.desk)
    unwatched = parsed_config(harness.config.storage.url, channels=watching()["channels"])
    replica = await Runtime.create(unwatched, clock=harness.clock, migrate=False)
    try:
        assert await check_feeds(replica.desk) == 1
        assert await check_feeds(replica.desk) == 0
    finally:
        await replica.stop()
    (alert,) = await feed_alerts(harness)
    assert (alert["state"], alert["reason"]) == (
        "resolved",
        "erp is no longer watched (no expect_every in [sources.erp])",
    )


async def test_feeds_are_not_stock(stockbot: HarnessFactory) -> None:
    harness = await stockbot(**watching())
    await check_feeds(harness.desk)  # watching begins
    harness.later(minutes=11)
    await check_feeds(harness.desk)
    assert harness.runtime is not None
    engine = harness.runtime.engine
    assert await lookup(engine, "erp") == [] and await lookup(engine, "feed:erp") == []
    assert await resolve_sku(engine, "feed:erp") is None  # nobody can /flag a feed
    assert "feed" not in await export_csv(engine)
    assert await harness.desk.batch_check() == 0


async def test_the_events_index_exists_and_the_sweep_is_scheduled(stockbot: HarnessFactory) -> None:
    harness = await stockbot(**watching())
    assert harness.runtime is not None
    async with harness.runtime.engine.connect() as conn:
        indexes = await conn.run_sync(lambda sync: inspect(sync).get_indexes("events"))
    assert {"name": "ix_events_source_received_at", "columns": ["source", "received_at"]} in [
        {"name": i["name"], "columns": i["column_names"]} for i in indexes
    ]
    runtime = harness.runtime
    scheduler = build_scheduler(
        runtime.config, runtime.desk, runtime.engine, runtime.clock, runtime.dispatcher.worker
    )
    job = scheduler.get_job("feed_watchdog")
    assert job is not None and job.trigger.interval == timedelta(seconds=60)


@pytest.mark.parametrize(
    ("every", "interval"),
    [(["10m"], 60), (["20s"], 15), (["1m", "90s"], 30), ([], 60)],
)
def test_the_sweep_runs_at_half_the_shortest_expect_every_within_15_to_60_seconds(
    every: list[str], interval: int
) -> None:
    sources = {f"s{i}": {"secret": ERP_SECRET, "expect_every": value} for i, value in enumerate(every)} or {
        "erp": {"secret": ERP_SECRET}
    }
    config = parsed_config("sqlite+aiosqlite:///unused.db", sources=sources)
    assert sweep_interval(config) == timedelta(seconds=interval)


# --- wording -----------------------------------------------------------------------------------------------


def feed_message(**overrides: Any) -> Any:
    return sample_message(
        sku="feed:erp",
        product_name="erp feed",
        category="feed",
        key_product=False,
        location="feed",
        on_hand=None,
        minimum=0,
        critical_level=None,
        trigger="feed_silent",
        blocked_orders=(),
        reason="no events from erp for 12 min (expected every 10 min)",
        last_source="erp",
        last_changed_at=OPENED - timedelta(minutes=12),
        link=None,
        **overrides,
    )


def test_feed_alerts_are_worded_as_feeds() -> None:
    silent = feed_message()
    assert text.headline(silent) == "Feed silent: erp has sent nothing for 12 min"
    assert text.sms(silent) == "FEED SILENT erp: no events for 12 min"
    assert (
        text.sms(feed_message(state="acknowledged")) == "FEED SILENT erp: no events for 12 min (acknowledged)"
    )
    assert text.fact_lines(silent) == [
        ("Feed", "erp"),
        ("Silent since", "2026-11-26 09:18 UTC"),
        ("Severity", "Critical"),
        ("Trigger", "no events from the feed in time"),
        ("Status", "Open, not yet acknowledged"),
        ("Since", "2026-11-26 09:30 UTC"),
        ("Reason", "no events from erp for 12 min (expected every 10 min)"),
    ]
    back = feed_message(state="resolved", event="resolved", resolved_at=OPENED + timedelta(minutes=13))
    assert text.headline(back) == "Feed back: erp events resumed"
    assert text.status_line(back) == "Events resumed after 25 min of silence"
    assert text.sms(back) == "FEED BACK erp: events resumed after 25 min of silence"
    assert text.resolution_note(back) == "Events resumed after 25 min of silence. events flowing again."


def test_feed_cards_in_slack_and_teams() -> None:
    blocks = slack_render.alert_blocks(feed_message())
    assert block_kit_problems(blocks) == []
    assert blocks[0]["text"]["text"] == ":rotating_light: Feed silent: erp has sent nothing for 12 min"
    fields = [f["text"].split("\n")[0] for f in blocks[1]["fields"]]
    assert fields == ["*Feed*", "*Silent since*", "*Severity*", "*Since*"]
    confirm = next(e for e in blocks[-1]["elements"] if e["action_id"] == "stockbot_escalate")["confirm"]
    assert confirm["text"]["text"] == "The next escalation level is alerted about the silent erp feed."
    card = teams_render.alert_card(feed_message())
    assert card_errors(card) == []
    assert card["body"][0]["items"][0]["text"] == "Feed silent: erp has sent nothing for 12 min"
    assert [f["title"] for f in card["body"][1]["facts"]] == ["Feed", "Severity", "Trigger", "Reason"]
    # The moments follow in a TextBlock, where DATE()/TIME() show each reader's own zone.
    times = card["body"][2]["text"]
    assert times.startswith("**Silent since:** {{DATE(") and "\n\n**Since:** {{DATE(" in times
