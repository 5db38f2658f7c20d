"""History on both databases: the roll-up reads each event once (and none still committing), retention
deletes only what is rolled up and never the audit log, stock-out rows follow their alerts, and an alert's
timeline tells its whole story."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import func, select

from stockbot.adapters.report_data import Period
from stockbot.bot.history import prune_events, roll_up_events, sales, sales_of, timeline
from stockbot.storage.ingest_rows import rows_for
from stockbot.storage.tables import audit_events, daily_stock, events, rollup_marks, stockouts
from tests.conftest import HarnessFactory
from tests.helpers import StockbotHarness
from tests.report_scenario import NOW, ROLES, alert_id, at, play


async def count(harness: StockbotHarness, table: object) -> int:
    assert harness.runtime is not None
    async with harness.runtime.engine.connect() as conn:
        return (await conn.execute(select(func.count()).select_from(table))).scalar_one()  # type: ignore[arg-type]


async def sold_this_week(harness: StockbotHarness) -> dict[tuple[str, str], int]:
    assert harness.runtime is not None
    async with harness.runtime.engine.connect() as conn:
        found = await sales(conn, Period.last(7, NOW))
    return {pair: n for pair, n in found.items() if pair[0].startswith("TOK-")}


WEEK = {("TOK-A", "Reno"): 54, ("TOK-B", "Tulsa"): 27, ("TOK-C", "Reno"): 3}


async def test_the_roll_up_reads_each_event_once_and_waits_for_recent_ones(stockbot: HarnessFactory) -> None:
    harness = await stockbot(roles=ROLES)
    await play(harness)
    assert harness.runtime is not None
    engine = harness.runtime.engine
    total = await count(harness, events)
    assert await sold_this_week(harness) == WEEK  # nothing rolled up yet: all from the events
    # the last event (a TOK-A reading) was received at 25 Nov 08:00; 59 s later it may still be committing
    last = at(25, 8)
    assert await roll_up_events(engine, last + timedelta(seconds=59)) == total - 1
    assert await sold_this_week(harness) == WEEK  # daily totals plus the one event not rolled up
    assert await roll_up_events(engine, NOW) == 1
    assert await roll_up_events(engine, NOW) == 0  # idempotent: the mark has moved past every event
    assert await sold_this_week(harness) == WEEK
    async with engine.connect() as conn:
        mark = (await conn.execute(select(rollup_marks.c.last_event_id))).scalar_one()
        top = (await conn.execute(select(func.max(events.c.id)))).scalar_one()
        a = (
            await conn.execute(
                select(daily_stock).where(daily_stock.c.sku == "TOK-A").order_by(daily_stock.c.day)
            )
        ).all()
    assert mark == top
    assert [(r.day, r.readings, r.units_sold, r.units_received, r.closing_on_hand) for r in a] == [
        (date(2026, 11, 18), 1, 0, 0, 12),
        (date(2026, 11, 19), 1, 4, 0, 8),
        (date(2026, 11, 20), 2, 8, 30, 30),
        (date(2026, 11, 22), 2, 21, 16, 25),
        (date(2026, 11, 25), 1, 25, 0, 0),
    ]


async def sold_this_week_in_a_write(harness: StockbotHarness) -> dict[tuple[str, str], int]:
    """The rate of sale as the alert desk reads it in a write transaction: through the transaction's reader
    (PostgreSQL: SQL run on asyncpg itself; SQLite: plain SQL), for the given pairs."""
    assert harness.runtime is not None
    async with harness.runtime.engine.begin() as conn:
        reader = rows_for(conn).reader()
        found = await sales_of(reader, Period.last(7, NOW), [*WEEK, ("TOK-A", "Tulsa")])
    return {pair: n for pair, n in found.items() if n}


async def test_the_desks_rate_of_sale_agrees_with_the_reports_before_and_after_each_roll_up(
    stockbot: HarnessFactory,
) -> None:
    harness = await stockbot(roles=ROLES)
    await play(harness)
    assert harness.runtime is not None
    assert await sold_this_week_in_a_write(harness) == WEEK  # every sale still in the events
    await roll_up_events(harness.runtime.engine, at(25, 8) + timedelta(seconds=59))
    assert await sold_this_week_in_a_write(harness) == WEEK  # daily totals plus the event after the mark
    await roll_up_events(harness.runtime.engine, NOW)
    assert await sold_this_week_in_a_write(harness) == WEEK == await sold_this_week(harness)


async def test_small_chunks_give_the_same_totals(stockbot: HarnessFactory) -> None:
    harness = await stockbot(roles=ROLES)
    await play(harness)
    assert harness.runtime is not None
    assert await roll_up_events(harness.runtime.engine, NOW, chunk=3) == await count(harness, events)
    assert await sold_this_week(harness) == WEEK
    async with harness.runtime.engine.connect() as conn:
        b = (
            await conn.execute(
                select(daily_stock).where(
                    daily_stock.c.sku == "TOK-B", daily_stock.c.day == date(2026, 11, 21)
                )
            )
        ).one()
    assert (b.failed_fulfilments, b.blocked_quantity) == (2, 6)


async def test_retention_deletes_only_rolled_up_events_and_keeps_the_audit_log(
    stockbot: HarnessFactory,
) -> None:
    harness = await stockbot(roles=ROLES)
    await play(harness)
    assert harness.runtime is not None
    engine = harness.runtime.engine
    audit_rows = await count(harness, audit_events)
    total = await count(harness, events)
    assert await prune_events(engine, NOW, timedelta(days=3)) == 0  # nothing rolled up: nothing goes
    await roll_up_events(engine, at(23, 0))  # only events received before 22 Nov 23:59
    deleted = await prune_events(engine, NOW, timedelta(days=3))  # received before 23 Nov 00:00
    assert deleted > 0 and await count(harness, events) == total - deleted
    async with engine.connect() as conn:
        oldest = (await conn.execute(select(func.min(events.c.received_at)))).scalar_one()
    assert oldest >= at(23, 0)
    assert await count(harness, audit_events) == audit_rows  # never pruned
    assert await sold_this_week(harness) == WEEK  # the daily totals stand in for the deleted events
    await roll_up_events(engine, NOW)
    assert await sold_this_week(harness) == WEEK


async def test_a_stock_out_row_per_opening_follows_its_alert(stockbot: HarnessFactory) -> None:
    harness = await stockbot(roles=ROLES)
    await play(harness)
    assert harness.runtime is not None
    async with harness.runtime.engine.connect() as conn:
        rows = (await conn.execute(select(stockouts).order_by(stockouts.c.id))).mappings().all()
    assert [
        (
            r["sku"],
            r["severity"],
            r["trigger"],
            r["escalations"],
            r["blocked_orders"],
            r["resolved_at"] is None,
        )
        for r in rows
    ] == [
        ("TOK-A", "out", "low_stock", 0, 0, False),  # opened low, went out: the worst is kept
        ("TOK-B", "critical", "fulfillment_failed", 0, 2, False),
        ("TOK-A", "low", "low_stock", 0, 0, False),
        ("TOK-B", "low", "low_stock", 0, 0, False),
        ("TOK-B", "low", "low_stock", 0, 0, False),  # the reopening: a stock-out of its own
        ("TOK-A", "out", "out_of_stock", 1, 0, True),
    ]
    assert rows[3]["alert_id"] == rows[4]["alert_id"]
    assert (rows[0]["acknowledged_at"], rows[4]["acknowledged_at"]) == (at(20, 4), at(24, 13, 20))
    assert rows[3]["acknowledged_at"] is None


async def test_an_alert_timeline_tells_events_changes_deliveries_and_clicks(stockbot: HarnessFactory) -> None:
    harness = await stockbot(roles=ROLES)
    await play(harness)
    assert harness.runtime is not None
    found = await timeline(harness.runtime.engine, await alert_id(harness, "TOK-B"), NOW)
    assert found is not None and (found.sku, found.location) == ("TOK-B", "Tulsa")
    story = [(e.at, e.kind, e.actor) for e in found.entries]
    assert story == [
        (at(24, 9), "event", "source:erp"),
        (at(24, 9), "alert.opened", "source:erp"),
        (at(24, 9), "delivery.sent", story[2][2]),
        (at(24, 9, 10), "event", "source:erp"),
        (at(24, 9, 10), "alert.resolved", "source:erp"),
        (at(24, 9, 10), "delivery.sent", story[2][2]),
        (at(24, 9, 20), "event", "source:erp"),
        (at(24, 9, 20), "alert.reopened", "source:erp"),
        (at(24, 9, 20), "delivery.sent", story[2][2]),
        (at(24, 13, 20), "alert.acknowledged", "slack:U_REP"),
        (at(24, 13, 20), "delivery.sent", story[2][2]),
        (at(25, 13, 20), "alert.resolved", "slack:U_MGR"),
        (at(25, 13, 20), "delivery.sent", story[2][2]),
    ]
    assert story[2][2].startswith("system:")
    words = [e.summary for e in found.entries]
    assert words[0] == "erp: 3 on hand"
    assert words[1] == "Opened (low, open, 3 on hand)"
    assert words[2] == "Delivered opened to console (attempt 1)"
    assert found.to_json()["entries"][0]["detail"]["on_hand"] == 3
    critical = await timeline(harness.runtime.engine, 2, NOW)  # b1: opened by a failed order
    assert critical is not None
    said = [e.summary for e in critical.entries if e.kind == "event"]
    assert said == [
        "pos: order could not be fulfilled: 5 requested, 1 available",
        "pos: order could not be fulfilled: 3 requested, 1 available",
        "erp: 20 on hand",  # the reading that resolved it
    ]
    assert await timeline(harness.runtime.engine, 999, NOW) is None


async def test_upgrading_makes_each_existing_alert_a_stock_out(db_url: str) -> None:
    from stockbot.storage.db import create_engine, upgrade
    from stockbot.storage.tables import alerts, products

    engine = create_engine(db_url)
    try:
        await upgrade(engine, "0007")
        orders = [{"order_id": "SO-1", "requested": 5, "available": 1, "rep": None}]
        async with engine.begin() as conn:
            await conn.execute(products.insert().values(sku="A-1", name="Alpha", category="part"))
            await conn.execute(
                alerts.insert(),
                [
                    {
                        "sku": "A-1",
                        "location": "Reno",
                        "state": state,
                        "severity": "critical",
                        "trigger": "fulfillment_failed",
                        "minimum": 2,
                        "blocked_orders": orders,
                        "opened_at": at(20, 9),
                        "updated_at": at(20, 10),
                        "acknowledged_at": at(20, 9, 30) if state == "resolved" else None,
                        "escalation_step": 2 if state == "resolved" else 0,
                        "resolved_at": at(20, 10) if state == "resolved" else None,
                    }
                    for state in ("resolved", "open")
                ],
            )
        await upgrade(engine)
        async with engine.connect() as conn:
            rows = (await conn.execute(select(stockouts).order_by(stockouts.c.alert_id))).mappings().all()
        assert [
            (r["alert_id"], r["opened_at"], r["acknowledged_at"], r["resolved_at"], r["escalations"])
            for r in rows
        ] == [(1, at(20, 9), at(20, 9, 30), at(20, 10), 1), (2, at(20, 9), None, None, 0)]
        assert {(r["blocked_orders"], r["blocked_quantity"]) for r in rows} == {(1, 4)}
    finally:
        await engine.dispose()
