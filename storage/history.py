"""Queries behind history: the events roll-up into ``daily_stock``, event retention, sales sums, timelines.

The roll-up reads the events table in id order from ``rollup_marks`` (everything up to ``last_event_id`` is
in ``daily_stock``), so a sweep only ever reads what is new; ``rollup_levels`` keeps each product-location's
last reading so the next day's first decrease is measured from it. What it computes is in
``bot/history.py`` (pure functions); these are only the reads and writes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import and_, delete, func, select, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from stockbot.storage.tables import audit_events, daily_stock, events, rollup_levels, rollup_marks

Pair = tuple[str, str]
MARK = "events"
IN_CHUNK = 500  # pairs per IN (...) list: well inside SQLite's bound-parameter limit


@dataclass(frozen=True)
class EventRow:
    """The columns of an event the roll-up and timelines read (``requested``: failed fulfilments only)."""

    id: int
    source: str
    event_id: str
    kind: str
    sku: str
    location: str
    on_hand: int | None
    status: str | None
    outcome: str
    occurred_at: datetime
    received_at: datetime
    requested: int | None = None


@dataclass(frozen=True)
class DayRow:
    readings: int
    units_sold: int
    units_received: int
    closing_on_hand: int | None
    failed_fulfilments: int
    blocked_quantity: int


EVENT_COLUMNS = [
    events.c.id,
    events.c.source,
    events.c.event_id,
    events.c.kind,
    events.c.sku,
    events.c.location,
    events.c.on_hand,
    events.c.status,
    events.c.outcome,
    events.c.occurred_at,
    events.c.received_at,
]


def _dialect(conn: AsyncConnection) -> Any:
    return postgresql if conn.dialect.name == "postgresql" else sqlite


def _chunks(items: Sequence[Any], size: int = IN_CHUNK) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


# --- the mark -----------------------------------------------------------------------------------------


async def read_mark(conn: AsyncConnection) -> int:
    """The id of the last event rolled up (0 before the first roll-up)."""
    query = select(rollup_marks.c.last_event_id).where(rollup_marks.c.name == MARK)
    return (await conn.execute(query)).scalar_one_or_none() or 0


async def lock_mark(conn: AsyncConnection, now: datetime) -> int:
    """:func:`read_mark`, holding the mark's row for this transaction: two roll-ups never interleave (the
    scheduler's lease already keeps them apart; this makes sure)."""
    stmt = _dialect(conn).insert(rollup_marks).values(name=MARK, last_event_id=0, updated_at=now)
    await conn.execute(stmt.on_conflict_do_nothing(index_elements=["name"]))
    query = select(rollup_marks.c.last_event_id).where(rollup_marks.c.name == MARK).with_for_update()
    return (await conn.execute(query)).scalar_one()


async def write_mark(conn: AsyncConnection, last_event_id: int, now: datetime) -> None:
    stmt = _dialect(conn).insert(rollup_marks).values(name=MARK, last_event_id=last_event_id, updated_at=now)
    stmt = stmt.on_conflict_do_update(
        index_elements=["name"], set_={"last_event_id": last_event_id, "updated_at": now}
    )
    await conn.execute(stmt)


# --- events -------------------------------------------------------------------------------------------


async def _with_requested(conn: AsyncConnection, rows: Sequence[Any]) -> list[EventRow]:
    """Failed fulfilments keep ``requested`` only in their payload: read it for those rows alone."""
    failed = [r.id for r in rows if r.kind == "fulfillment_failed"]
    requested: dict[int, int] = {}
    for chunk in _chunks(failed):
        query = select(events.c.id, events.c.payload).where(events.c.id.in_(list(chunk)))
        for event_pk, payload in (await conn.execute(query)).all():
            requested[event_pk] = int((payload or {}).get("requested") or 0)
    return [EventRow(**r._mapping, requested=requested.get(r.id)) for r in rows]


async def events_after(
    conn: AsyncConnection, after_id: int, limit: int | None = None, pair: Pair | None = None
) -> list[EventRow]:
    """Events with id above ``after_id``, in id order (of one product-location, with ``pair``)."""
    query = select(*EVENT_COLUMNS).where(events.c.id > after_id).order_by(events.c.id)
    if pair is not None:
        query = query.where(events.c.sku == pair[0], events.c.location == pair[1])
    if limit is not None:
        query = query.limit(limit)
    return await _with_requested(conn, (await conn.execute(query)).all())


async def events_of(
    conn: AsyncConnection, pair: Pair, since: datetime, until: datetime | None
) -> list[EventRow]:
    """One product-location's events that occurred in [since, until] (index sku, location, occurred_at)."""
    query = select(*EVENT_COLUMNS).where(
        events.c.sku == pair[0], events.c.location == pair[1], events.c.occurred_at >= since
    )
    if until is not None:
        query = query.where(events.c.occurred_at <= until)
    rows = (await conn.execute(query.order_by(events.c.occurred_at, events.c.id))).all()
    return await _with_requested(conn, rows)


async def prune_events(conn: AsyncConnection, before: datetime, up_to_id: int, batch: int = 10_000) -> int:
    """Delete up to ``batch`` events received before ``before`` and already rolled up (id ≤ ``up_to_id``).

    Per source, through the index (source, received_at) that the feed watchdog already keeps."""
    sources = list((await conn.execute(select(events.c.source).distinct())).scalars())
    deleted = 0
    for source in sources:
        doomed = (
            select(events.c.id)
            .where(events.c.source == source, events.c.received_at < before, events.c.id <= up_to_id)
            .limit(batch - deleted)
        )
        result = await conn.execute(delete(events).where(events.c.id.in_(doomed.scalar_subquery())))
        deleted += result.rowcount or 0
        if deleted >= batch:
            break
    return deleted


# --- daily totals and last readings -------------------------------------------------------------------


async def last_readings(conn: AsyncConnection, pairs: Iterable[Pair]) -> dict[Pair, int]:
    found: dict[Pair, int] = {}
    for chunk in _chunks(sorted(set(pairs))):
        query = select(rollup_levels).where(
            tuple_(rollup_levels.c.sku, rollup_levels.c.location).in_(list(chunk))
        )
        for row in (await conn.execute(query)).all():
            found[(row.sku, row.location)] = row.on_hand
    return found


async def save_readings(conn: AsyncConnection, readings: Mapping[Pair, int]) -> None:
    if not readings:
        return
    stmt = _dialect(conn).insert(rollup_levels)
    stmt = stmt.on_conflict_do_update(
        index_elements=["sku", "location"], set_={"on_hand": stmt.excluded.on_hand}
    )
    rows = [{"sku": s, "location": loc, "on_hand": v} for (s, loc), v in readings.items()]
    for chunk in _chunks(rows, 2000):
        await conn.execute(stmt, list(chunk))


async def add_days(conn: AsyncConnection, days: Mapping[tuple[str, str, date], DayRow]) -> None:
    """Add each day's totals to what ``daily_stock`` holds; the closing reading is the newer one."""
    if not days:
        return
    stmt = _dialect(conn).insert(daily_stock)
    new = stmt.excluded
    stmt = stmt.on_conflict_do_update(
        index_elements=["sku", "location", "day"],
        set_={
            "readings": daily_stock.c.readings + new.readings,
            "units_sold": daily_stock.c.units_sold + new.units_sold,
            "units_received": daily_stock.c.units_received + new.units_received,
            # applied readings of one product-location arrive in time order, so the newer one is the later
            "closing_on_hand": func.coalesce(new.closing_on_hand, daily_stock.c.closing_on_hand),
            "failed_fulfilments": daily_stock.c.failed_fulfilments + new.failed_fulfilments,
            "blocked_quantity": daily_stock.c.blocked_quantity + new.blocked_quantity,
        },
    )
    rows = [
        {"sku": sku, "location": loc, "day": day, **row.__dict__} for (sku, loc, day), row in days.items()
    ]
    for chunk in _chunks(rows, 2000):
        await conn.execute(stmt, list(chunk))


async def units_sold(
    conn: AsyncConnection, first: date, last: date, sku: str | None = None, location: str | None = None
) -> dict[Pair, int]:
    """Units sold per product-location on the days ``first`` … ``last`` (inclusive), from ``daily_stock``."""
    query = (
        select(daily_stock.c.sku, daily_stock.c.location, func.sum(daily_stock.c.units_sold))
        .where(daily_stock.c.day >= first, daily_stock.c.day <= last)
        .group_by(daily_stock.c.sku, daily_stock.c.location)
    )
    if sku is not None:
        query = query.where(daily_stock.c.sku == sku)
    if location is not None:
        query = query.where(daily_stock.c.location == location)
    return {(s, loc): int(total or 0) for s, loc, total in (await conn.execute(query)).all()}


async def day_rows(conn: AsyncConnection, pair: Pair, first: date, last: date) -> dict[date, DayRow]:
    query = select(daily_stock).where(
        and_(
            daily_stock.c.sku == pair[0],
            daily_stock.c.location == pair[1],
            daily_stock.c.day >= first,
            daily_stock.c.day <= last,
        )
    )
    return {
        row.day: DayRow(
            row.readings,
            row.units_sold,
            row.units_received,
            row.closing_on_hand,
            row.failed_fulfilments,
            row.blocked_quantity,
        )
        for row in (await conn.execute(query)).all()
    }


# --- timelines ----------------------------------------------------------------------------------------


async def audit_of(conn: AsyncConnection, alert_id: int) -> list[Any]:
    """Every audit row about one alert, oldest first (index ix_audit_events_alert_id)."""
    query = select(audit_events).where(audit_events.c.alert_id == alert_id).order_by(audit_events.c.id)
    return list((await conn.execute(query)).mappings().all())
