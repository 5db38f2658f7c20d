"""Queries behind history: the events roll-up into ``daily_stock``, event retention, sales sums, timelines.

The roll-up reads the events table in id order from ``rollup_marks`` (everything up to ``last_event_id`` is
in ``daily_stock``), so a sweep only ever reads what is new; ``rollup_levels`` keeps each product-location's
last reading so the next day's first decrease is measured from it. What it computes is in
``bot/history.py`` (pure functions); these are only the reads and writes.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, NamedTuple

from sqlalchemy import String, and_, delete, func, select, text, tuple_, type_coerce
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from stockbot.storage.tables import (
    DIGEST_DELIVERIES,
    audit_events,
    daily_stock,
    deliveries,
    events,
    rollup_levels,
    rollup_marks,
)

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


class DayRow(NamedTuple):
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
    if (plain := getattr(conn, "plain", None)) is not None:
        rows, _ = await plain("SELECT last_event_id FROM rollup_marks WHERE name = ?", [MARK])
        return int(rows[0][0] or 0) if rows else 0
    if (driver := getattr(conn, "driver", None)) is not None:
        rows = await driver("SELECT last_event_id FROM rollup_marks WHERE name = $1", MARK)
        return int(rows[0][0] or 0) if rows else 0
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
    requested = await _requested(conn, [r.id for r in rows if r.kind == "fulfillment_failed"])
    return [EventRow(**r._mapping, requested=requested.get(r.id)) for r in rows]


class RawEvent(NamedTuple):
    """What the roll-up reads of an event; times as the driver hands them back (SQLite: UTC text)."""

    id: int
    kind: str
    sku: str
    location: str
    on_hand: int | None
    outcome: str
    occurred_at: str | datetime
    received_at: str | datetime
    requested: int | None  # failed fulfilments only


def _raw_event_columns() -> tuple[Any, ...]:
    """A :class:`RawEvent`'s columns, times as their stored text (parsed only where needed)."""
    return (
        events.c.id,
        events.c.kind,
        events.c.sku,
        events.c.location,
        events.c.on_hand,
        events.c.outcome,
        type_coerce(events.c.occurred_at, String),
        type_coerce(events.c.received_at, String),
    )


async def events_after(
    conn: AsyncConnection, after_id: int, limit: int | None = None, pair: Pair | None = None
) -> list[RawEvent]:
    """Events with id above ``after_id``, in id order (of one product-location, with ``pair``). Lean: the
    roll-up reads hundreds of thousands of these after an upgrade."""
    query = select(*_raw_event_columns()).where(events.c.id > after_id).order_by(events.c.id)
    if pair is not None:
        query = query.where(events.c.sku == pair[0], events.c.location == pair[1])
    if limit is not None:
        query = query.limit(limit)
    rows = (await conn.execute(query)).all()
    requested = await _requested(conn, [r[0] for r in rows if r[1] == "fulfillment_failed"])
    return [RawEvent._make((*row, requested.get(row[0]))) for row in rows]


async def _requested(conn: AsyncConnection, ids: Sequence[int]) -> dict[int, int]:
    """Failed fulfilments keep ``requested`` only in their payload: read it for those rows alone."""
    found: dict[int, int] = {}
    for chunk in _chunks(ids):
        query = select(events.c.id, events.c.payload).where(events.c.id.in_(list(chunk)))
        for event_pk, payload in (await conn.execute(query)).all():
            if isinstance(payload, str):  # plain SQL (the SQLite writer's reader) hands back the JSON text
                payload = json.loads(payload)
            found[event_pk] = int((payload or {}).get("requested") or 0)
    return found


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
    """The last reading rolled up for each of ``pairs``. For many pairs the whole table is read at once: it
    holds one small row per product-location, and one scan beats thousands of lookups."""
    wanted = sorted(set(pairs))
    if len(wanted) > IN_CHUNK:
        rows = (await conn.execute(select(rollup_levels))).all()
        keep = set(wanted)
        return {(r.sku, r.location): r.on_hand for r in rows if (r.sku, r.location) in keep}
    found: dict[Pair, int] = {}
    for sku, location in wanted:
        query = select(rollup_levels.c.on_hand).where(
            rollup_levels.c.sku == sku, rollup_levels.c.location == location
        )
        value = (await conn.execute(query)).scalar_one_or_none()
        if value is not None:
            found[(sku, location)] = value
    return found


def _marks(conn: AsyncConnection, count: int) -> str:
    if conn.dialect.name == "postgresql":
        return ", ".join(f"${n}" for n in range(1, count + 1))
    return ", ".join("?" * count)


async def save_readings(conn: AsyncConnection, readings: Mapping[Pair, int]) -> None:
    """Each product-location's last reading rolled up. Driver-level ``executemany``: a roll-up after an
    upgrade writes hundreds of thousands of rows, and SQLAlchemy's per-row work would double its time."""
    if not readings:
        return
    sql = (
        f"INSERT INTO rollup_levels (sku, location, on_hand) VALUES ({_marks(conn, 3)}) "
        "ON CONFLICT (sku, location) DO UPDATE SET on_hand = excluded.on_hand"
    )
    await conn.exec_driver_sql(sql, [(sku, loc, value) for (sku, loc), value in readings.items()])


async def add_days(conn: AsyncConnection, days: Mapping[tuple[str, str, date], DayRow]) -> None:
    """Add each day's totals to what ``daily_stock`` holds; the closing reading is the newer one (applied
    readings of one product-location arrive in time order). Driver-level, as :func:`save_readings`."""
    if not days:
        return
    sql = (
        "INSERT INTO daily_stock (sku, location, day, readings, units_sold, units_received, closing_on_hand, "
        f"failed_fulfilments, blocked_quantity) VALUES ({_marks(conn, 9)}) "
        "ON CONFLICT (sku, location, day) DO UPDATE SET "
        "readings = daily_stock.readings + excluded.readings, "
        "units_sold = daily_stock.units_sold + excluded.units_sold, "
        "units_received = daily_stock.units_received + excluded.units_received, "
        "closing_on_hand = COALESCE(excluded.closing_on_hand, daily_stock.closing_on_hand), "
        "failed_fulfilments = daily_stock.failed_fulfilments + excluded.failed_fulfilments, "
        "blocked_quantity = daily_stock.blocked_quantity + excluded.blocked_quantity"
    )
    as_day = (lambda d: d) if conn.dialect.name == "postgresql" else date.isoformat  # SQLite keeps ISO text
    await conn.exec_driver_sql(sql, [(sku, loc, as_day(day), *row) for (sku, loc, day), row in days.items()])


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


async def digests_with(
    conn: AsyncConnection, alert_id: int, since: datetime, until: datetime | None
) -> list[Any]:
    """Digest delivery attempts in [since, until] that carried one of the alert's deliveries. Their audit row
    names only the digest's first alert; ``digest_of`` lists every delivery in it (partial index
    ix_audit_events_digests, reached by repeating its condition)."""
    own = set(
        (await conn.execute(select(deliveries.c.id).where(deliveries.c.alert_id == alert_id))).scalars()
    )
    if not own:
        return []
    query = select(audit_events).where(
        text(DIGEST_DELIVERIES[conn.dialect.name]),
        audit_events.c.at >= since,
        audit_events.c.alert_id.is_distinct_from(alert_id),
    )
    if until is not None:
        query = query.where(audit_events.c.at <= until)
    rows = (await conn.execute(query.order_by(audit_events.c.id))).mappings().all()
    return [row for row in rows if own & set((row["detail"] or {}).get("digest_of") or [])]


# --- the same reads for a set of product-locations, in a fixed number of statements ------------------------


def _pairs_in(table: Any, pairs: Sequence[Pair]) -> tuple[Any, ...]:
    """``(sku, location) IN pairs``, with ``sku IN`` their SKUs beside it: SQLite answers a pair list of two
    or more by scanning (every event since the last roll-up, all of rollup_levels), and the SKUs alone let
    it search the (sku, location …) index instead. The same rows on both databases."""
    return (
        table.c.sku.in_(sorted({sku for sku, _ in pairs})),
        tuple_(table.c.sku, table.c.location).in_(list(pairs)),
    )


# Plain SQL for SQLite's writer (``SqliteReader.plain``): the alert desk reads the rate of sale in every
# transaction that changes an alert, and building, caching and running these through SQLAlchemy cost about
# a millisecond of CPU per transaction, more than all the ingest's own statements. Pairs are matched by
# joining a VALUES list, which SQLite answers by searching each table's (sku, location …) key.
Plain = Callable[[str, Sequence[Any]], Awaitable[tuple[list[Any], int]]]


def _wanted(pairs: Sequence[Pair]) -> tuple[str, list[Any]]:
    marks = ", ".join(["(?, ?)"] * len(pairs))
    return f"WITH wanted(sku, location) AS (VALUES {marks}) ", [v for pair in pairs for v in pair]


async def _units_sold_plain(plain: Plain, first: date, last: date, pairs: Sequence[Pair]) -> dict[Pair, int]:
    found: dict[Pair, int] = {}
    for chunk in _chunks(pairs):
        wanted, args = _wanted(chunk)
        sql = (
            f"{wanted}SELECT d.sku, d.location, sum(d.units_sold) FROM wanted JOIN daily_stock AS d "
            "ON d.sku = wanted.sku AND d.location = wanted.location WHERE d.day >= ? AND d.day <= ? "
            "GROUP BY d.sku, d.location"
        )
        rows, _ = await plain(sql, [*args, first.isoformat(), last.isoformat()])
        found.update({(s, loc): int(total or 0) for s, loc, total in rows})
    return found


# PostgreSQL's writer runs these reads through asyncpg itself (``PgReader.driver``, storage/ingest_rows.py),
# all three in one statement (:func:`sales_inputs_of`): pairs travel as two arrays, so it is one statement
# text whatever the number of pairs, prepared once per connection, and SQLAlchemy's compilation of the
# expanding IN lists and its result processing (about 0.7 ms of CPU per read) are skipped.
PG_WANTED = "unnest($1::text[], $2::text[]) AS wanted(sku, location)"


def wanted_pg(pairs: Sequence[Pair]) -> tuple[list[str], list[str]]:
    """``pairs`` as PG_WANTED's two arrays, in the order given."""
    return [sku for sku, _ in pairs], [location for _, location in pairs]


async def units_sold_of(conn: Any, first: date, last: date, pairs: Sequence[Pair]) -> dict[Pair, int]:
    """:func:`units_sold` for ``pairs`` alone, in one statement (the alert desk's rate of sale)."""
    if (plain := getattr(conn, "plain", None)) is not None:
        return await _units_sold_plain(plain, first, last, pairs)
    query = (
        select(daily_stock.c.sku, daily_stock.c.location, func.sum(daily_stock.c.units_sold))
        .where(
            daily_stock.c.day >= first,
            daily_stock.c.day <= last,
            *_pairs_in(daily_stock, pairs),
        )
        .group_by(daily_stock.c.sku, daily_stock.c.location)
    )
    return {(s, loc): int(total or 0) for s, loc, total in (await conn.execute(query)).all()}


async def events_after_of(conn: Any, after_id: int | None, pairs: Sequence[Pair]) -> list[RawEvent]:
    """:func:`events_after` for ``pairs`` alone, in one statement (plus failed fulfilments' payloads).
    ``after_id`` None: after the roll-up's mark (:func:`read_mark`)."""
    if after_id is None:
        after_id = await read_mark(conn)
    if (plain := getattr(conn, "plain", None)) is not None:
        found: list[Any] = []
        for chunk in _chunks(pairs):
            wanted, args = _wanted(chunk)
            sql = (
                f"{wanted}SELECT e.id, e.kind, e.sku, e.location, e.on_hand, e.outcome, e.occurred_at, "
                "e.received_at FROM wanted JOIN events AS e ON e.sku = wanted.sku "
                "AND e.location = wanted.location WHERE e.id > ?"
            )
            found += (await plain(sql, [*args, after_id]))[0]
        found.sort(key=lambda row: row[0])
        requested = await _requested(conn, [r[0] for r in found if r[1] == "fulfillment_failed"])
        return [RawEvent._make((*row, requested.get(row[0]))) for row in found]
    query = (
        select(*_raw_event_columns())
        .where(events.c.id > after_id, *_pairs_in(events, pairs))
        .order_by(events.c.id)
    )
    rows = (await conn.execute(query)).all()
    requested = await _requested(conn, [r[0] for r in rows if r[1] == "fulfillment_failed"])
    return [RawEvent._make((*row, requested.get(row[0]))) for row in rows]


# The rate of sale's three reads in one statement on PostgreSQL, each a round trip otherwise: units sold in
# the roll-up ($3 to $4), events after the roll-up's mark ($5 names it) and the roll-up's last readings of
# every pair asked (a superset of those the events need). ``part`` tells the rows apart.
_SALES_INPUTS_PG = (
    "SELECT 0 AS part, d.sku, d.location, sum(d.units_sold)::int8 AS n, NULL::int8 AS id, NULL::text, "
    "NULL::int4, NULL::text, NULL::timestamptz, NULL::timestamptz "
    f"FROM {PG_WANTED} JOIN daily_stock AS d ON d.sku = wanted.sku AND d.location = wanted.location "
    "WHERE d.day >= $3 AND d.day <= $4 GROUP BY d.sku, d.location "
    "UNION ALL SELECT 1, e.sku, e.location, NULL, e.id, e.kind, e.on_hand, e.outcome, e.occurred_at, "
    f"e.received_at FROM {PG_WANTED} JOIN events AS e ON e.sku = wanted.sku AND e.location = wanted.location "
    "WHERE e.id > coalesce((SELECT last_event_id FROM rollup_marks WHERE name = $5), 0) "
    "UNION ALL SELECT 2, r.sku, r.location, r.on_hand, NULL, NULL, NULL, NULL, NULL, NULL "
    f"FROM {PG_WANTED} JOIN rollup_levels AS r ON r.sku = wanted.sku AND r.location = wanted.location "
    "ORDER BY part, id"
)


async def sales_inputs_of(
    conn: Any, first: date, last: date, pairs: Sequence[Pair]
) -> tuple[dict[Pair, int], list[RawEvent], dict[Pair, int] | None]:
    """What the rate of sale of ``pairs`` is worked from: units sold from ``first`` to ``last`` in the
    roll-up, the events after the roll-up's mark, and (PostgreSQL's driver: read in the same statement) the
    roll-up's last reading of each pair; None where the caller should read those for the events' pairs."""
    driver = getattr(conn, "driver", None)
    if driver is None:
        return await units_sold_of(conn, first, last, pairs), await events_after_of(conn, None, pairs), None
    sold: dict[Pair, int] = {}
    found: list[Any] = []
    readings: dict[Pair, int] = {}
    rows = await driver(_SALES_INPUTS_PG, *wanted_pg(pairs), first, last, MARK)
    for part, sku, location, number, pk, kind, on_hand, outcome, occurred, received in rows:
        if part == 0:
            sold[(sku, location)] = int(number or 0)
        elif part == 1:  # in id order
            found.append((pk, kind, sku, location, on_hand, outcome, occurred, received))
        else:
            readings[(sku, location)] = number
    requested = await _requested(conn, [e[0] for e in found if e[1] == "fulfillment_failed"])
    return sold, [RawEvent._make((*e, requested.get(e[0]))) for e in found], readings


async def last_readings_of(conn: Any, pairs: Sequence[Pair]) -> dict[Pair, int]:
    """:func:`last_readings` in one statement."""
    if (plain := getattr(conn, "plain", None)) is not None:
        readings: dict[Pair, int] = {}
        for chunk in _chunks(pairs):
            wanted, args = _wanted(chunk)
            sql = (
                f"{wanted}SELECT r.sku, r.location, r.on_hand FROM wanted JOIN rollup_levels AS r "
                "ON r.sku = wanted.sku AND r.location = wanted.location"
            )
            readings.update({(s, loc): on_hand for s, loc, on_hand in (await plain(sql, args))[0]})
        return readings
    query = select(rollup_levels.c.sku, rollup_levels.c.location, rollup_levels.c.on_hand).where(
        *_pairs_in(rollup_levels, pairs)
    )
    return {(sku, location): on_hand for sku, location, on_hand in (await conn.execute(query)).all()}
