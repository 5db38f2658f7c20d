"""A fixed week of stock history, played through the real app (signed HTTP events, the alert desk, the
dispatcher) on a test clock, for the report, API and CLI tests. Every figure the tests expect is worked out
by hand in tests/test_reports.py from the timeline below and the README's definitions.

Catalog (category ``tokens``): TOK-A at Reno (minimum 10, lead time 5 days), TOK-B at Tulsa (minimum 4,
critical level 1, no lead time: the 7-day default), TOK-C at Reno (minimum 3). The report is made at
NOW = 2026-11-26 00:00 UTC: the last 7 days are 20–26 November (6 days elapsed), the 7 before 13–19.

    TOK-A@Reno   18 Nov 12:00  12 on hand
                 19 Nov 22:00   8  → alert a1 opens (low)                       stock-out 1
                 20 Nov 02:00   0  → a1 out
                 20 Nov 04:00  rep acknowledges a1
                 20 Nov 06:00  30  → a1 resolves
                 22 Nov 10:00   9  → alert a2 opens (low)                       stock-out 2
                 22 Nov 10:20  rep acknowledges a2
                 22 Nov 12:00  25  → a2 resolves
                 25 Nov 08:00   0  → alert a3 opens (out)                       stock-out 3
                 25 Nov 09:00  manager escalates a3 (still open at NOW)
    TOK-B@Tulsa  21 Nov 09:00   6 on hand
                 21 Nov 15:00  order SO-1 fails: 5 requested, 1 available → b1 opens (critical)  stock-out 4
                 21 Nov 15:30  order SO-2 fails: 3 requested, 1 available
                 21 Nov 16:00  rep acknowledges b1
                 23 Nov 09:00  20  → b1 resolves
                 24 Nov 09:00   3  → alert b2 opens (low)                       stock-out 5
                 24 Nov 09:10  12  → b2 resolves
                 24 Nov 09:20   2  → b2 reopens (within the 30 min cool-down)  stock-out 6
                 24 Nov 13:20  rep acknowledges b2
                 25 Nov 13:20  manager resolves b2 by hand
    TOK-C@Reno   21 Nov 10:00  10 on hand;  23 Nov 10:00  7 on hand

Every change is delivered at once to the console channel ``ops``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from stockbot.bot.history import roll_up_events
from stockbot.bot.permissions import Actor
from stockbot.storage.catalog import import_rows, parse_csv
from stockbot.storage.tables import alerts
from tests.helpers import POS_SECRET, StockbotHarness, event

NOW = datetime(2026, 11, 26, 0, 0, tzinfo=UTC)
REP = Actor(id="U_REP", via="slack", name="Dana")
MANAGER = Actor(id="U_MGR", via="slack", name="Morgan")
ROLES = {"rep": ["U_REP"], "manager": ["U_MGR"], "warehouse": ["U_WH"]}
CATALOG = (
    "sku,name,category,key_product,location,minimum,critical_level,on_hand,lead_time_days\n"
    "TOK-A,Token bag A,tokens,no,Reno,10,,40,5\n"
    "TOK-B,Token bag B,tokens,no,Tulsa,4,1,6,\n"
    "TOK-C,Token bag C,tokens,no,Reno,3,,10,\n"
)


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC)


async def alert_id(harness: StockbotHarness, sku: str) -> int:
    assert harness.runtime is not None
    async with harness.runtime.engine.connect() as conn:
        query = select(alerts.c.id).where(alerts.c.sku == sku).order_by(alerts.c.id.desc()).limit(1)
        return (await conn.execute(query)).scalar_one()


async def play(harness: StockbotHarness, *, roll_up_at: datetime | None = None) -> None:
    """Play the week; with ``roll_up_at``, the events received before it are rolled up into daily totals
    at that moment (so a report reads both daily totals and events not rolled up yet)."""
    assert harness.runtime is not None
    async with harness.runtime.engine.begin() as conn:
        await import_rows(conn, parse_csv(CATALOG))
    rolled = roll_up_at is None

    async def step(when: datetime, action: Any) -> None:
        nonlocal rolled
        if not rolled and when >= roll_up_at:  # type: ignore[operator]
            assert harness.runtime is not None
            harness.clock.set(roll_up_at)  # type: ignore[arg-type]
            await roll_up_events(harness.runtime.engine, harness.clock.now())
            rolled = True
        harness.clock.set(when)
        await action()
        await harness.deliver()

    def level(sku: str, location: str, on_hand: int) -> Any:
        return lambda: harness.send(event(sku, on_hand, location=location, at=harness.clock.now()))

    def failed(order: str, requested: int, available: int) -> Any:
        async def post() -> None:
            body = event(
                "TOK-B",
                location="Tulsa",
                event_id=f"pos-{order}",
                source="pos",
                at=harness.clock.now(),
                order_id=order,
                requested=requested,
                available=available,
            )
            status, answer = await harness.post("/events/fulfillment-failed", body, secret=POS_SECRET)
            assert status == 202, answer

        return post

    def by(verb: str, sku: str, actor: Actor) -> Any:
        async def act() -> None:
            await getattr(harness.desk, verb)(await alert_id(harness, sku), actor)

        return act

    timeline = [
        (at(18, 12), level("TOK-A", "Reno", 12)),
        (at(19, 22), level("TOK-A", "Reno", 8)),
        (at(20, 2), level("TOK-A", "Reno", 0)),
        (at(20, 4), by("acknowledge", "TOK-A", REP)),
        (at(20, 6), level("TOK-A", "Reno", 30)),
        (at(21, 9), level("TOK-B", "Tulsa", 6)),
        (at(21, 10), level("TOK-C", "Reno", 10)),
        (at(21, 15), failed("SO-1", 5, 1)),
        (at(21, 15, 30), failed("SO-2", 3, 1)),
        (at(21, 16), by("acknowledge", "TOK-B", REP)),
        (at(22, 10), level("TOK-A", "Reno", 9)),
        (at(22, 10, 20), by("acknowledge", "TOK-A", REP)),
        (at(22, 12), level("TOK-A", "Reno", 25)),
        (at(23, 9), level("TOK-B", "Tulsa", 20)),
        (at(23, 10), level("TOK-C", "Reno", 7)),
        (at(24, 9), level("TOK-B", "Tulsa", 3)),
        (at(24, 9, 10), level("TOK-B", "Tulsa", 12)),
        (at(24, 9, 20), level("TOK-B", "Tulsa", 2)),
        (at(24, 13, 20), by("acknowledge", "TOK-B", REP)),
        (at(25, 8), level("TOK-A", "Reno", 0)),
        (at(25, 9), by("escalate", "TOK-A", MANAGER)),
        (at(25, 13, 20), by("resolve", "TOK-B", MANAGER)),
    ]
    for when, action in timeline:
        await step(when, action)
    harness.clock.set(NOW)
