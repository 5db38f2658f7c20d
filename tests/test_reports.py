"""Reports: the README's definitions ("History and reports") worked by hand on fixed data, first on the pure
functions, then on a week played through the real app (tests/report_scenario.py) on SQLite and PostgreSQL,
reading daily totals, events not rolled up yet, or both."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from stockbot.adapters.report_data import Cut, Period
from stockbot.bot.history import Reading, cover, roll_up, roll_up_events, timeline
from stockbot.bot.reports import (
    SendRow,
    StockoutRow,
    ack_bucket,
    load_sends,
    nearest_rank,
    noise,
    report,
    report_csv,
    summarize,
    time_out_in,
)
from stockbot.storage.tables import alerts
from tests.conftest import HarnessFactory
from tests.helpers import event
from tests.report_scenario import NOW, ROLES, at, play

HOUR = 3600.0
TOKENS = Cut(category="tokens")


# --- the pure definitions ------------------------------------------------------------------------------


def test_percentiles_are_nearest_rank() -> None:
    assert nearest_rank([], 50) is None
    assert nearest_rank([7.0], 90) == 7.0
    assert nearest_rank([4.0, 1.0, 3.0, 2.0], 50) == 2.0  # ⌈0.5 × 4⌉ = 2nd smallest
    assert nearest_rank([4.0, 1.0, 3.0, 2.0], 90) == 4.0  # ⌈0.9 × 4⌉ = 4th
    assert nearest_rank([float(v) for v in range(1, 11)], 90) == 9.0  # ⌈0.9 × 10⌉ = 9th


def test_units_sold_are_decreases_between_readings_on_the_later_day() -> None:
    def reading(day: int, hour: int, on_hand: int | None = None, blocked: int | None = None) -> Reading:
        return Reading("S", "L", datetime(2026, 11, day, hour, tzinfo=UTC), on_hand, blocked)

    last: dict[tuple[str, str], int] = {("S", "L"): 10}  # the reading before these
    days = roll_up(
        [
            reading(1, 23, 4),  # 10 → 4: 6 sold on the 1st
            reading(2, 1, 9),  # restock of 5 on the 2nd, not sold
            reading(2, 2, blocked=3),  # a failed fulfilment: 3 units short, no reading
            reading(2, 5, 2),  # 9 → 2: 7 sold
            reading(2, 6, 2),  # unchanged
        ],
        last,
    )
    first, second = days[("S", "L", date(2026, 11, 1))], days[("S", "L", date(2026, 11, 2))]
    assert (first.readings, first.units_sold, first.units_received, first.closing_on_hand) == (1, 6, 0, 4)
    assert (second.readings, second.units_sold, second.units_received, second.closing_on_hand) == (3, 7, 5, 2)
    assert (second.failed_fulfilments, second.blocked_quantity) == (1, 3)
    assert last == {("S", "L"): 2}
    # with no earlier reading, the first one only sets where the next is measured from
    assert roll_up([reading(3, 1, 5)], {})[("S", "L", date(2026, 11, 3))].units_sold == 0


def test_cover_and_reorder_follow_the_formula_exactly() -> None:
    # 54 units in 6 days: 9 a day; 0 on hand; lead 5 + review 7; minimum 10 → ⌈9 × 12 + 10 − 0⌉ = 118
    found = cover(54, timedelta(days=6), 0, 10, 5, 7)
    assert (found.rate_of_sale, found.days_of_cover, found.suggested_reorder) == (9.0, 0.0, 118)
    # 27 in 6 days: 4.5 a day; 2 on hand → 2 / 4.5 days; ⌈4.5 × 14 + 4 − 2⌉ = 65
    found = cover(27, timedelta(days=6), 2, 4, 7, 7)
    assert (found.rate_of_sale, found.suggested_reorder) == (4.5, 65)
    assert found.days_of_cover == pytest.approx(2 / 4.5)
    # a third of a unit a day for 14 days is exactly 4.666…: ⌈4.666… + 3 − 7⌉ = 1, whatever floats say
    assert cover(2, timedelta(days=6), 7, 3, 7, 7).suggested_reorder == 1
    # nothing sold: no days of cover; the suggestion only tops up to the minimum; never below 0
    assert cover(0, timedelta(days=6), 1, 3, 7, 7).days_of_cover is None
    assert cover(0, timedelta(days=6), 1, 3, 7, 7).suggested_reorder == 2
    assert cover(0, timedelta(days=6), 50, 3, 7, 7).suggested_reorder == 0
    assert cover(5, timedelta(days=6), None, 3, 7, 7).suggested_reorder is None


def test_time_to_acknowledge_buckets_have_exclusive_upper_bounds() -> None:
    assert [ack_bucket(s) for s in (0, 299.9, 300, 899, 900, 3600, 14399, 14400, 86400, None)] == [
        "under 5 min",
        "under 5 min",
        "5-15 min",
        "5-15 min",
        "15-60 min",
        "1-4 h",
        "1-4 h",
        "4-24 h",
        "24 h or more",
        "never",
    ]


def test_time_out_of_stock_is_clipped_to_the_period_and_to_now() -> None:
    period = Period(date(2026, 11, 20), date(2026, 11, 27), NOW)  # NOW: 26 Nov 00:00
    before = StockoutRow("S", "L", "low", "low_stock", at(19, 22), resolved_at=at(20, 6))
    still_open = StockoutRow("S", "L", "out", "out_of_stock", at(25, 8))
    assert time_out_in(before, period) == 6 * HOUR
    assert time_out_in(still_open, period) == 16 * HOUR
    assert time_out_in(before, period.previous()) == 2 * HOUR


def test_noise_counts_messages_digests_and_messages_per_alert_per_channel() -> None:
    sends = [
        SendRow("sms", messages=2, digests=0, alerts=1),
        SendRow("ops", messages=6, digests=2, alerts=2),  # 4 alone, 2 digests (under their first alert)
    ]
    found = noise(sends, feed_silences=1)
    assert (found.messages, found.digests, found.feed_silences) == (8, 2, 1)
    assert found.per_alert_per_channel == 6 / 3  # 6 sends outside digests, to 3 (alert, channel) pairs
    ops, sms = found.channels
    assert (ops.channel, ops.messages, ops.digests, ops.alerts, ops.per_alert) == ("ops", 6, 2, 2, 2.0)
    assert (sms.messages, sms.alerts, sms.per_alert) == (2, 1, 2.0)


def test_summarize_with_nothing_is_all_zeros_and_none() -> None:
    period = Period.last(7, NOW)
    found = summarize(period, Cut(), [], {}, [], 0, {})
    assert found.stockouts.opened == 0 and found.stockouts.median_duration_seconds is None
    assert found.response.time_to_acknowledge.p50 is None and found.noise.per_alert_per_channel is None
    assert [d.total for d in found.per_day] == [0] * 7
    assert found.to_json()["period"] == {
        "start": "2026-11-20",
        "end": "2026-11-27",
        "days": 7,
        "elapsed_days": 6.0,
    }


# --- a week through the real app, on both databases ------------------------------------------------------


@pytest.mark.parametrize("rolled", ["not rolled up", "rolled up midweek", "rolled up at the end"])
async def test_the_report_of_a_played_week_matches_the_definitions(
    stockbot: HarnessFactory, rolled: str
) -> None:
    harness = await stockbot(roles=ROLES)
    await play(harness, roll_up_at=at(22, 11) if rolled == "rolled up midweek" else None)
    assert harness.runtime is not None
    engine, config = harness.runtime.engine, harness.runtime.config
    if rolled == "rolled up at the end":
        assert await roll_up_events(engine, NOW) > 0
    found = await report(engine, config, Period.last(7, NOW), TOKENS)
    now, before = found.current, found.previous

    assert (now.period.start, now.period.end, now.period.elapsed_days) == (
        date(2026, 11, 20),
        date(2026, 11, 27),
        6,
    )
    s = now.stockouts
    assert s.opened == 5
    assert s.by_severity == {"low": 3, "out": 1, "critical": 1}
    assert s.by_trigger == {"fulfillment_failed": 1, "low_stock": 3, "out_of_stock": 1}
    # 6 h (stock-out 1, from midnight) + 2 h + 16 h (open until now) + 42 h + 10 min + 28 h
    assert s.time_out_seconds == (6 + 2 + 16 + 42 + 28) * HOUR + 600
    assert s.median_duration_seconds == 16 * HOUR  # 10 min, 2 h, 16 h, 28 h, 42 h: the 3rd
    assert (s.out_now, s.out_now_by_severity) == (1, {"low": 0, "out": 1, "critical": 0})

    r = now.response
    assert (r.time_to_acknowledge.count, r.time_to_acknowledge.p50, r.time_to_acknowledge.p90) == (
        3,
        1 * HOUR,  # 20 min, 1 h, 4 h
        4 * HOUR,
    )
    assert (r.time_to_resolve.count, r.time_to_resolve.p50, r.time_to_resolve.p90) == (4, 2 * HOUR, 42 * HOUR)
    assert (r.escalated, r.escalations, r.never_acknowledged) == (1, 1, 2)

    assert (
        now.impact.blocked_orders,
        now.impact.blocked_quantity,
        now.impact.stockouts_with_blocked_orders,
    ) == (
        2,
        (5 - 1) + (3 - 1),
        1,
    )
    assert [(p.sku, p.stockouts, p.time_out_seconds, p.blocked_orders) for p in now.repeat_offenders] == [
        ("TOK-B", 3, (42 + 28) * HOUR + 600, 2),
        ("TOK-A", 2, (6 + 2 + 16) * HOUR, 0),
    ]
    assert [p.sku for p in now.top_time_out] == ["TOK-B", "TOK-A"]
    assert [(d.day.day, d.low, d.out, d.critical) for d in now.per_day] == [
        (20, 0, 0, 0),
        (21, 0, 0, 1),
        (22, 1, 0, 0),
        (23, 0, 0, 0),
        (24, 2, 0, 0),
        (25, 0, 1, 0),
        (26, 0, 0, 0),
    ]
    assert [(b.label, b.count) for b in now.ack_buckets] == [
        ("under 5 min", 0),
        ("5-15 min", 0),
        ("15-60 min", 1),
        ("1-4 h", 1),
        ("4-24 h", 1),
        ("24 h or more", 0),
        ("never", 2),
    ]
    assert [
        (x.location, x.stockouts, x.time_out_seconds, x.out_now, x.blocked_orders, x.acknowledge_p50)
        for x in now.locations
    ] == [
        ("Reno", 2, 24 * HOUR, 1, 0, 1200.0),
        ("Tulsa", 3, 70 * HOUR + 600, 0, 2, 1 * HOUR),
    ]
    # every change went to ops at once: a1 3, a2 3, a3 2, b1 4, b2 5 messages; 5 alerts
    n = now.noise
    assert (n.messages, n.digests, n.per_alert_per_channel, n.feed_silences) == (17, 0, 17 / 5, 0)
    assert [(c.channel, c.messages, c.alerts) for c in n.channels] == [("ops", 17, 5)]

    # the week before: stock-out 1 opened (it went out before resolving), 2 h of it fell in that week
    assert (before.stockouts.opened, before.stockouts.by_severity["out"]) == (1, 1)
    assert before.stockouts.time_out_seconds == 2 * HOUR
    assert before.response.time_to_acknowledge.p50 == 6 * HOUR
    assert before.response.time_to_resolve.p50 == 8 * HOUR
    assert (before.noise.messages, before.noise.per_alert_per_channel) == (1, 1.0)

    # sold in the 6 days: TOK-A 8 + 21 + 25 = 54, TOK-B 17 + 10 = 27, TOK-C 3
    table = {(p.sku, p.location): p for p in found.products}
    a, b, c = table[("TOK-A", "Reno")], table[("TOK-B", "Tulsa")], table[("TOK-C", "Reno")]
    assert (
        a.units_sold,
        a.rate_of_sale,
        a.on_hand,
        a.days_of_cover,
        a.lead_time_days,
        a.suggested_reorder,
    ) == (
        54,
        9.0,
        0,
        0.0,
        5,
        118,
    )
    assert (b.units_sold, b.rate_of_sale, b.on_hand, b.lead_time_days, b.suggested_reorder) == (
        27,
        4.5,
        2,
        7,
        65,
    )
    assert b.days_of_cover == pytest.approx(2 / 4.5)
    assert (c.stockouts, c.units_sold, c.rate_of_sale, c.days_of_cover, c.suggested_reorder) == (
        0,
        3,
        0.5,
        14.0,
        3,
    )
    assert (a.stockouts, a.time_out_seconds, b.stockouts, b.blocked_quantity) == (2, 24 * HOUR, 3, 6)
    assert len(found.products) == 3

    lines = report_csv(found).splitlines()
    assert lines[0].startswith("sku,name,category,location,stockouts,hours_out_of_stock")
    assert lines[1] == "TOK-A,Token bag A,tokens,Reno,2,24.00,0,0,0,10,54,9.000,0.0,5,118"


async def test_cuts_narrow_every_figure(stockbot: HarnessFactory) -> None:
    harness = await stockbot(roles=ROLES)
    await play(harness)
    assert harness.runtime is not None
    engine, config = harness.runtime.engine, harness.runtime.config
    period = Period.last(7, NOW)
    reno = await report(engine, config, period, Cut(location="Reno"))
    assert (reno.current.stockouts.opened, reno.current.noise.messages) == (2, 8)  # a1 3 + a2 3 + a3 2
    assert {p.sku for p in reno.products} >= {"TOK-A", "TOK-C"}
    assert all(p.location == "Reno" for p in reno.products)
    one = await report(engine, config, period, Cut(sku="TOK-B", location="Tulsa"))
    assert (one.current.stockouts.opened, one.current.impact.blocked_orders) == (3, 2)
    assert [p.sku for p in one.products] == ["TOK-B"]
    nothing = await report(engine, config, period, Cut(category="no such category"))
    assert (nothing.current.stockouts.opened, nothing.products, nothing.current.noise.messages) == (0, (), 0)
    everything = await report(engine, config, period)  # the demo catalog had no stock-outs
    assert everything.current.stockouts.opened == 5
    assert {"TOK-A", "TOK-B", "TOK-C"} <= {p.sku for p in everything.products}
    assert everything.to_json()["current"]["stockouts"]["opened"] == 5


async def test_a_digest_is_one_message_and_counted_as_a_digest(stockbot: HarnessFactory) -> None:
    harness = await stockbot(routes=[{"channels": ["ops"], "digest": "15m"}])
    harness.clock.set(datetime(2026, 11, 26, 9, 2, tzinfo=UTC))
    for sku in ("CAB-MK-LEGACY", "CAB-DK-JR", "CAB-CENTIPEDE"):  # minimum 1 in Chicago: 1 is low, held
        await harness.send(event(sku, 1, event_id=f"low-{sku}", at=harness.clock.now()))
    await harness.send(event("CAB-NBAJAM-4P", 0, event_id="out-1", at=harness.clock.now()))  # at once
    await harness.deliver()
    harness.clock.set(datetime(2026, 11, 26, 9, 15, tzinfo=UTC))
    await harness.deliver()  # the three low alerts, as one digest
    assert harness.runtime is not None
    async with harness.runtime.engine.connect() as conn:
        sends = await load_sends(
            conn, datetime(2026, 11, 26, tzinfo=UTC), datetime(2026, 11, 27, tzinfo=UTC), Cut()
        )
    found = noise(sends, 0)
    assert (found.messages, found.digests) == (2, 1)
    # outside digests: the out alert's one message, to one (alert, channel); the digest counts under its
    # first alert, so two pairs in all
    assert [(c.channel, c.messages, c.digests, c.alerts, c.per_alert) for c in found.channels] == [
        ("ops", 2, 1, 2, 0.5)
    ]
    # every alert in the digest shows that delivery in its timeline, not only the first
    async with harness.runtime.engine.connect() as conn:
        held = (await conn.execute(select(alerts.c.id).where(alerts.c.severity == "low"))).scalars().all()
    for alert_id in held:
        story = await timeline(harness.runtime.engine, alert_id, harness.clock.now())
        assert story is not None
        sent = [e.summary for e in story.entries if e.kind == "delivery.sent"]
        assert sent == ["Delivered opened to console in a digest of 3 (attempt 1)"], (alert_id, sent)
