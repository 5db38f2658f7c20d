"""The statements of a write transaction, set-wise: each takes every row of a batch at once.

An ingest batch (one request's events, or many requests' grouped by the writer) costs a fixed number of
statements whatever its size: insert the new events, lock and read their levels, read the batch's open and
recently resolved alerts, insert the new alerts (``RETURNING`` their ids), write the levels with their
open-alert pointers, append the audit rows, insert the deliveries. The alert desk decides in between, in
Python, with its pure rules (``bot/alerts.py``, ``bot/transitions.py``); nothing of them is in SQL.

Two implementations of :class:`Rows`, one statement text each:

- :class:`CoreRows` (PostgreSQL): SQLAlchemy Core on the async connection, one asyncpg round trip each.
  Pairs of (SKU, location) travel as two arrays (``unnest``), so the statement text, and asyncpg's
  prepared statement, is the same whatever the batch size. The multi-row inserts (events, alerts,
  deliveries, audit rows) and the rate of sale's reads go to asyncpg itself, in the same transaction,
  with every column as an array: one prepared text per statement, no SQLAlchemy work per row.
- :class:`SqliteRows` (SQLite): plain SQL on the sqlite3 connection. The group-commit writer owns a sqlite3
  connection on its own thread (:class:`SqliteWriterDb`), so a whole transaction runs on the database's
  thread without one hand-off; elsewhere (people's actions, sweeps) the same SQL goes through the async
  connection's driver, in its transaction. Values are written exactly as SQLAlchemy writes them
  (``UTCDateTime`` as naive UTC text, JSON as text), and every ingest test runs on both databases.

Pairs are matched by joining a ``WITH wanted(sku, location) AS (VALUES …)`` list (PostgreSQL: ``unnest``):
SQLite answers ``(sku, location) IN (VALUES …)`` with two or more pairs by scanning the whole key index,
and the join by searching it (``tests/test_storage.py`` checks both plans).
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import sqlite3
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import cache
from typing import Any, Protocol

from pydantic_core import PydanticSerializationError, to_json
from sqlalchemy import JSON, BigInteger, Boolean, Column, Integer, bindparam, select, update
from sqlalchemy import create_engine as sa_create_engine
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.pool import StaticPool

from stockbot.storage.alerts import (
    LEVEL_COLUMNS,
    Alert,
    ConcurrentChange,
    Level,
    level_from_row,
    level_from_values,
)
from stockbot.storage.catalog import Spellings
from stockbot.storage.db import create_engine, sqlite_pragmas
from stockbot.storage.folding import fold
from stockbot.storage.history import PG_WANTED, wanted_pg
from stockbot.storage.stockouts import OPENING, UPDATE_ROW, opening_row, track_all, update_sqlite
from stockbot.storage.tables import (
    UTCDateTime,
    alerts,
    audit_events,
    deliveries,
    events,
    products,
    stock_levels,
    stockouts,
)

Pair = tuple[str, str]


class Rows(Protocol):
    # What names the transaction these statements run in (the async connection, or the writer's own
    # connection): the alert desk gathers the ids of the deliveries each transaction queued by it.
    owner: Any
    # The same transaction as a connection SQLAlchemy Core statements run on with ``await
    # conn.execute(...)``, as on an AsyncConnection (the outbox's claims and outcomes, storage/deliveries.py,
    # ride in the writer's transactions through it). Typed Any: on the writer's SQLite connection it is a
    # :class:`CoreOnThread`, which has only that part of AsyncConnection's interface.
    core: Any

    async def spellings(self, skus: Iterable[str]) -> Spellings:
        """How the catalog spells ``skus`` and their locations, matched ignoring ASCII case (one query)."""

    async def insert_events(self, rows: Sequence[dict[str, Any]]) -> dict[Pair, int]:
        """Insert events not seen before; the ids of those inserted, by (source, event_id)."""

    async def lock_levels(self, pairs: Iterable[Pair]) -> dict[Pair, Level]:
        """The levels of ``pairs`` with their catalog facts, locked, in a fixed order (no deadlocks)."""

    async def known_skus(self, skus: Iterable[str]) -> set[str]: ...

    async def set_event_outcomes(self, outcomes: Sequence[tuple[int, str]]) -> None: ...

    async def write_levels(self, levels: Sequence[Level]) -> None:
        """On-hand, newest event and open alert of each level (the caller holds their locks)."""

    async def set_open_alerts(self, pointers: dict[Pair, int | None]) -> None: ...

    async def alerts_of(self, pairs: Iterable[Pair], resolved_since: datetime) -> list[Alert]:
        """The unresolved alerts of ``pairs`` and those resolved at or after ``resolved_since``, locked."""

    async def notified_channels(self, alert_ids: Iterable[int]) -> dict[int, set[str]]:
        """The channels each alert was sent to (or is being sent to)."""

    async def insert_alerts(self, new: Sequence[Alert]) -> list[int]:
        """Insert alerts (at most one per pair); their ids, in the order given."""

    async def update_alerts(self, changed: Sequence[tuple[Alert, int]]) -> None:
        """Write each alert where its version is still the one given, else :class:`ConcurrentChange`."""

    async def insert_deliveries(self, rows: Sequence[dict[str, Any]]) -> list[int]:
        """Insert deliveries; their ids."""

    async def append_audit(self, rows: Sequence[dict[str, Any]]) -> None: ...

    async def track_stockouts(self, changes: Sequence[tuple[Alert | None, Alert, str]]) -> None:
        """The stock-out rows of these alert changes, in order (storage/stockouts.py)."""
        ...

    async def write_all(
        self,
        levels: Sequence[Level],
        audit: Sequence[dict[str, Any]],
        stockouts: Sequence[tuple[Alert | None, Alert, str]],
        deliveries: Sequence[dict[str, Any]],
    ) -> list[int]:
        """A transaction's last writes, as :func:`write_in_turn` makes them: the deliveries' ids."""
        ...

    def reader(self) -> Any:
        """Something whose ``execute`` answers a SQLAlchemy SELECT in this transaction, as an async
        connection does (the rate of sale the alert desk puts in each message, bot/history.sales_of)."""
        ...


@dataclass
class Writes:
    """What a transaction writes after its alert rows, gathered so each kind is one statement."""

    audit: list[dict[str, Any]] = field(default_factory=list)
    deliveries: list[dict[str, Any]] = field(default_factory=list)
    open_alerts: dict[Pair, int | None] = field(default_factory=dict)
    # (alert before, alert after, event) of every change, in order: the stock-out rows (storage/stockouts.py)
    stockouts: list[tuple[Alert | None, Alert, str]] = field(default_factory=list)
    changed: bool = False  # an alert changed (even if no destination takes the change)
    # levels whose locks the transaction holds, with their open-alert pointers (the ingest's)
    levels: list[Level] = field(default_factory=list)

    async def flush(self, rows: Rows) -> list[int]:
        """Write what was gathered; the ids of the deliveries it queued."""
        if self.open_alerts:
            await rows.set_open_alerts(self.open_alerts)
        ids = await rows.write_all(self.levels, self.audit, self.stockouts, self.deliveries)
        self.audit, self.deliveries, self.open_alerts, self.changed = [], [], {}, False
        self.stockouts, self.levels = [], []
        return ids


async def write_in_turn(
    rows: Rows,
    levels: Sequence[Level],
    audit: Sequence[dict[str, Any]],
    stockouts: Sequence[tuple[Alert | None, Alert, str]],
    deliveries: Sequence[dict[str, Any]],
) -> list[int]:
    """Levels, audit rows, stock-out rows and deliveries, a statement each; the deliveries' ids."""
    await rows.write_levels(levels)
    await rows.append_audit(audit)
    if stockouts:
        await rows.track_stockouts(stockouts)
    return await rows.insert_deliveries(deliveries)


def _spellings(found: Iterable[Any]) -> Spellings:
    spelled = Spellings()
    for sku, location in found:
        spelled.skus[fold(sku)] = sku
        if location is not None:
            spelled.locations.setdefault(sku, {})[fold(location)] = location
    return spelled


# SKUs by their folded spelling (storage/folding.py), through the folded-SKU index; with every location.
SPELLINGS_SQL = (
    "SELECT products.sku, stock_levels.location FROM products "
    "LEFT OUTER JOIN stock_levels ON stock_levels.sku = products.sku WHERE "
)


SPELLINGS_PG = SPELLINGS_SQL + 'lower(products.sku COLLATE "C") = ANY($1::text[])'


def rows_for(conn: AsyncConnection) -> Rows:
    """The statements for ``conn``'s database, in ``conn``'s transaction."""
    if conn.dialect.name == "sqlite":
        return SqliteRows(_through_driver(conn), conn)
    return CoreRows(conn)


ALERT_NAMES = [name for name in Alert.__dataclass_fields__ if name != "id"]


def alert_values(alert: Alert) -> dict[str, Any]:
    """An alert's columns but its id (``dataclasses.asdict`` deep-copies, at a cost per alert)."""
    return {name: getattr(alert, name) for name in ALERT_NAMES}


# --- PostgreSQL: SQLAlchemy Core ----------------------------------------------------------------------------


# The hot path's reads and updates go to asyncpg with one statement text whatever the batch's size (pairs
# travel as two arrays): SQLAlchemy's compile, bind and result processing cost several times the round trip.
LOCK_LEVELS_PG = (
    f"SELECT {', '.join(f'{c.table.name}.{c.name}' for c in LEVEL_COLUMNS)} FROM {PG_WANTED} "
    "JOIN stock_levels ON stock_levels.sku = wanted.sku AND stock_levels.location = wanted.location "
    "JOIN products ON products.sku = stock_levels.sku "
    "ORDER BY stock_levels.sku, stock_levels.location FOR UPDATE OF stock_levels"
)
ALERTS_OF_PG = (
    f"SELECT {', '.join(f'alerts.{c.name}' for c in alerts.c)} FROM {PG_WANTED} "
    "JOIN alerts ON alerts.sku = wanted.sku AND alerts.location = wanted.location "
    "WHERE alerts.state <> 'resolved' OR alerts.resolved_at >= $3 ORDER BY alerts.id FOR UPDATE OF alerts"
)


@cache
def _write_levels_sql(one: bool, first: int = 1) -> str:
    """The levels' UPDATE, its parameters numbered from ``first``: a lone level's values as they are
    (asyncpg's array encoding is the costlier part: _insert_row_sql), several as arrays."""
    n = [f"${first + i}" for i in range(6)]
    if one:
        return (
            f"UPDATE stock_levels SET on_hand = {n[2]}, last_event_at = {n[3]}, last_source = {n[4]}, "
            f"open_alert_id = {n[5]} WHERE sku = {n[0]} AND location = {n[1]}"
        )
    return (
        "UPDATE stock_levels SET on_hand = v.on_hand, last_event_at = v.last_event_at, "
        "last_source = v.last_source, open_alert_id = v.open_alert_id "
        f"FROM unnest({n[0]}::text[], {n[1]}::text[], {n[2]}::int4[], {n[3]}::timestamptz[], {n[4]}::text[], "
        f"{n[5]}::int8[]) AS v(sku, location, on_hand, last_event_at, last_source, open_alert_id) "
        "WHERE stock_levels.sku = v.sku AND stock_levels.location = v.location"
    )


def _levels_statement(levels: Sequence[Level], first: int = 1) -> tuple[str, list[Any]]:
    for lv in levels:
        if lv.last_event_at is not None and lv.last_event_at.tzinfo is None:
            raise ValueError("naive datetime given to the database; use an aware UTC datetime")
    if len(levels) == 1:
        lv = levels[0]
        args = [lv.sku, lv.location, lv.on_hand, lv.last_event_at, lv.last_source, lv.open_alert_id]
        return _write_levels_sql(True, first), args
    columns: list[Any] = [
        [lv.sku for lv in levels],
        [lv.location for lv in levels],
        [lv.on_hand for lv in levels],
        [lv.last_event_at for lv in levels],
        [lv.last_source for lv in levels],
        [lv.open_alert_id for lv in levels],
    ]
    return _write_levels_sql(False, first), columns


def lock_levels_pg(pairs: Iterable[Pair]) -> tuple[str, tuple[list[str], list[str]]]:
    """The statement behind :meth:`CoreRows.lock_levels` and its arguments: the pairs in the order their
    rows are locked in, so two transactions never wait on each other (its plan is checked in the tests)."""
    return LOCK_LEVELS_PG, wanted_pg(sorted(set(pairs)))


def _utc(value: datetime | None) -> datetime | None:
    """A ``timestamptz`` as ``UTCDateTime`` hands it back: aware, in UTC (asyncpg's already are)."""
    return value if value is None or value.tzinfo is UTC else value.astimezone(UTC)


def _json_text(value: Any) -> Any:
    """A ``json`` column read through the driver: SQLAlchemy's codec leaves it text, its type parses it."""
    return json.loads(value) if isinstance(value, str) else value


class PgColumns:
    """Columns read straight from asyncpg records, with the Python values SQLAlchemy would give."""

    def __init__(self, columns: Sequence[Column[Any]]) -> None:
        self.names = [c.name for c in columns]
        readers = {UTCDateTime: _utc, JSON: _json_text}
        self._readers = [
            (i, to) for i, c in enumerate(columns) for kind, to in readers.items() if isinstance(c.type, kind)
        ]

    def read(self, row: Sequence[Any]) -> dict[str, Any]:
        values = list(row)
        for i, to in self._readers:
            values[i] = to(values[i])
        return dict(zip(self.names, values, strict=True))


PG_LEVELS = PgColumns(LEVEL_COLUMNS)
PG_ALERTS = PgColumns(list(alerts.c))


async def driver_of(conn: AsyncConnection) -> Any:
    """The asyncpg connection under ``conn``, in ``conn``'s transaction."""
    sync = conn.sync_connection
    # Read straight off the sync connection: get_raw_connection's greenlet hop costs ~10 µs, and a
    # transaction that changes an alert asks ~15 times. One that was invalidated reconnects: that needs it.
    pooled = sync.connection if sync is not None and not sync.invalidated else await conn.get_raw_connection()
    raw: Any = pooled.driver_connection
    if not raw.is_in_transaction():
        # SQLAlchemy's asyncpg adapter sends BEGIN with the transaction's first statement. Have it send
        # BEGIN now, so what runs on the driver is in the transaction: through the adapter's own start where
        # it has one (one round trip), else by a first statement of its own (two).
        adapter: Any = pooled.dbapi_connection
        start = getattr(adapter, "_start_transaction", None)
        if start is not None and getattr(adapter, "_transaction", False) is None:
            await start()
        else:
            await conn.exec_driver_sql("SELECT 1")
    return raw


def _pg_array(column: Column[Any]) -> tuple[str, str]:
    """The array type a column's values travel in, and the cast back (JSON travels as its text)."""
    kind = column.type
    if isinstance(kind, UTCDateTime):
        return "timestamptz", ""
    if isinstance(kind, JSON):
        return "text", "::json"
    if isinstance(kind, Boolean):
        return "bool", ""
    if isinstance(kind, BigInteger):  # before Integer, its base
        return "int8", ""
    if isinstance(kind, Integer):
        return "int4", ""
    return "text", ""


def _insert_unnest_sql(table: str, names: tuple[str, ...], returning: str, first: int = 1) -> str:
    """``INSERT … SELECT FROM unnest(…)``: a column per array parameter, so the statement text (and
    asyncpg's prepared statement) is the same for any number of rows. SQLAlchemy's multi-row INSERT …
    RETURNING is a new text, parsed and prepared anew, for each batch size."""
    columns = [TABLES[table].c[name] for name in names]
    arrays = [_pg_array(c) for c in columns]
    unnest = ", ".join(f"${n}::{kind}[]" for n, (kind, _) in enumerate(arrays, first))
    values = ", ".join(f"u.{name}{cast}" for name, (_, cast) in zip(names, arrays, strict=True))
    return (
        f"INSERT INTO {table} ({', '.join(names)}) SELECT {values} "
        f"FROM unnest({unnest}) AS u({', '.join(names)}) {returning}"
    )


def _insert_row_sql(table: str, names: tuple[str, ...], returning: str, first: int = 1) -> str:
    """``INSERT … VALUES``: one row, a parameter per column. asyncpg checks each array, and each of its
    elements, against ``collections.abc`` classes as it encodes them (~370 checks in a one-event opening's
    transaction, about a sixth of its CPU); a lone row's values travel as they are."""
    casts = ["::text::json" if isinstance(TABLES[table].c[name].type, JSON) else "" for name in names]
    values = ", ".join(f"${n}{cast}" for n, cast in enumerate(casts, first))
    return f"INSERT INTO {table} ({', '.join(names)}) VALUES ({values}) {returning}"


@cache
def _insert_plan(
    table: str, names: tuple[str, ...], returning: str, one_row: bool, first: int = 1
) -> tuple[str, tuple[tuple[str, Callable[[Any], Any] | None], ...]]:
    """The statement for these columns, and how each column's values travel (None: as they are), worked
    out once per shape: a one-event transaction inserts into five tables, ~65 columns, and working this
    out per call (a type test and a generator per column) cost more than building the arrays."""
    converters = tuple(
        (name, json_text if isinstance(TABLES[table].c[name].type, JSON) else None) for name in names
    )
    build = _insert_row_sql if one_row else _insert_unnest_sql
    return build(table, names, returning, first), converters


def with_queries(first: Sequence[str], last: str) -> str:
    """``last`` with the statements ``first`` as its data-modifying WITH queries: one round trip for all
    (PostgreSQL runs each once; none sees another's rows). Their parameters are numbered across all."""
    return f"WITH {', '.join(f'w{n} AS ({q})' for n, q in enumerate(first))} {last}" if first else last


def insert_statement(
    table: str,
    columns: list[Column[Any]],
    rows: Sequence[dict[str, Any]],
    returning: str = "",
    first: int = 1,
) -> tuple[str, list[Any]]:
    """One INSERT of ``rows`` (dicts by column name) and its arguments, parameters numbered from ``first``."""
    # The columns given (a column left out gets its server default, as in SQLAlchemy's INSERT).
    given = set().union(*rows)
    names = tuple(c.name for c in columns if c.name in given)
    sql, plan = _insert_plan(table, names, returning, len(rows) == 1, first)
    if len(rows) == 1:
        row = rows[0]
        return sql, [row.get(name) if to is None else to(row.get(name)) for name, to in plan]
    arrays = [
        [row.get(name) for row in rows] if to is None else [to(row.get(name)) for row in rows]
        for name, to in plan
    ]
    return sql, arrays


class CoreRows:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn
        self.newest_event = 0  # the highest events id this transaction inserted
        self.owner: Any = conn
        self.core: Any = conn

    async def _insert(
        self, table: str, columns: list[Column[Any]], rows: Sequence[dict[str, Any]], returning: str = ""
    ) -> list[Any]:
        """Insert ``rows`` (dicts by column name) in one statement through asyncpg."""
        if not rows:
            return []
        sql, args = insert_statement(table, columns, rows, returning)
        raw = await driver_of(self.conn)
        return list(await raw.fetch(sql, *args))

    async def spellings(self, skus: Iterable[str]) -> Spellings:
        keys = sorted({fold(sku) for sku in skus})
        if not keys:
            return Spellings()
        return _spellings(await (await driver_of(self.conn)).fetch(SPELLINGS_PG, keys))

    async def insert_events(self, rows: Sequence[dict[str, Any]]) -> dict[Pair, int]:
        tail = "ON CONFLICT (source, event_id) DO NOTHING RETURNING id, source, event_id"
        returned = await self._insert("events", EVENT_COLUMNS, rows, tail)
        inserted = {(source, event_id): event_pk for event_pk, source, event_id in returned}
        self.newest_event = max(self.newest_event, *inserted.values(), 0)
        return inserted

    async def lock_levels(self, pairs: Iterable[Pair]) -> dict[Pair, Level]:
        sql, args = lock_levels_pg(pairs)
        if not args[0]:
            return {}
        raw = await driver_of(self.conn)
        rows = [PG_LEVELS.read(r) for r in await raw.fetch(sql, *args)]
        return {(r["sku"], r["location"]): level_from_row(r) for r in rows}

    async def known_skus(self, skus: Iterable[str]) -> set[str]:
        wanted = sorted(set(skus))
        if not wanted:
            return set()
        query = select(products.c.sku).where(products.c.sku.in_(wanted))
        return set((await self.conn.execute(query)).scalars())

    async def set_event_outcomes(self, outcomes: Sequence[tuple[int, str]]) -> None:
        if outcomes:
            stmt = update(events).where(events.c.id == bindparam("b_id")).values(outcome=bindparam("b_out"))
            await self.conn.execute(stmt, [{"b_id": i, "b_out": o} for i, o in outcomes])

    async def write_levels(self, levels: Sequence[Level]) -> None:
        if not levels:
            return
        sql, args = _levels_statement(levels)
        await (await driver_of(self.conn)).execute(sql, *args)

    async def set_open_alerts(self, pointers: dict[Pair, int | None]) -> None:
        if not pointers:
            return
        stmt = (
            update(stock_levels)
            .where(stock_levels.c.sku == bindparam("b_sku"), stock_levels.c.location == bindparam("b_loc"))
            .values(open_alert_id=bindparam("b_alert"))
        )
        params = [{"b_sku": s, "b_loc": loc, "b_alert": a} for (s, loc), a in sorted(pointers.items())]
        await self.conn.execute(stmt, params)

    async def alerts_of(self, pairs: Iterable[Pair], resolved_since: datetime) -> list[Alert]:
        args = wanted_pg(sorted(set(pairs)))  # the order they are locked in
        if not args[0]:
            return []
        raw = await driver_of(self.conn)
        rows = await raw.fetch(ALERTS_OF_PG, *args, resolved_since)
        return [Alert(**PG_ALERTS.read(row)) for row in rows]

    async def notified_channels(self, alert_ids: Iterable[int]) -> dict[int, set[str]]:
        ids = sorted(set(alert_ids))
        if not ids:
            return {}
        query = (
            select(deliveries.c.alert_id, deliveries.c.channel)
            .where(deliveries.c.alert_id.in_(ids))
            .distinct()
        )
        found: dict[int, set[str]] = {}
        for alert_id, channel in (await self.conn.execute(query, {"ids": ids})).all():
            found.setdefault(alert_id, set()).add(channel)
        return found

    async def insert_alerts(self, new: Sequence[Alert]) -> list[int]:
        rows = [alert_values(a) for a in new]
        returned = await self._insert("alerts", ALERT_COLUMNS, rows, "RETURNING id, sku, location")
        ids = {(sku, location): alert_id for alert_id, sku, location in returned}
        return [ids[(a.sku, a.location)] for a in new]

    async def update_alerts(self, changed: Sequence[tuple[Alert, int]]) -> None:
        if not changed:
            return
        stmt = (
            update(alerts)
            .where(alerts.c.id == bindparam("b_id"), alerts.c.version == bindparam("b_version"))
            .values({name: bindparam(f"v_{name}") for name in ALERT_NAMES})
        )
        params = [
            {**{f"v_{k}": v for k, v in alert_values(a).items()}, "b_id": a.id, "b_version": was}
            for a, was in changed
        ]
        result = await self.conn.execute(stmt, params)
        # asyncpg's executemany reports no row count; every alert changed here was read FOR UPDATE in this
        # transaction (alerts_of, load_alert), so none can have moved since. One row is checked exactly.
        if len(params) == 1 and result.rowcount != 1:
            raise ConcurrentChange(f"alert {changed[0][0].id} changed concurrently")

    async def insert_deliveries(self, rows: Sequence[dict[str, Any]]) -> list[int]:
        # Back in the order given, by their keys (unique): RETURNING promises no order.
        returned = await self._insert("deliveries", DELIVERY_COLUMNS, rows, "RETURNING id, idempotency_key")
        ids = {key: delivery_id for delivery_id, key in returned}
        return [ids[row["idempotency_key"]] for row in rows]

    async def append_audit(self, rows: Sequence[dict[str, Any]]) -> None:
        await self._insert("audit_events", AUDIT_COLUMNS, rows)

    async def track_stockouts(self, changes: Sequence[tuple[Alert | None, Alert, str]]) -> None:
        async def insert_rows(rows: list[dict[str, Any]]) -> None:
            await self._insert("stockouts", STOCKOUT_COLUMNS, rows)

        async def update_rows(rows: list[dict[str, Any]]) -> None:
            await self.conn.execute(UPDATE_ROW, rows)

        await track_all(changes, insert_rows, update_rows)

    async def write_all(
        self,
        levels: Sequence[Level],
        audit: Sequence[dict[str, Any]],
        stockouts: Sequence[tuple[Alert | None, Alert, str]],
        deliveries: Sequence[dict[str, Any]],
    ) -> list[int]:
        """One statement: the levels' UPDATE and the audit and stock-out INSERTs as data-modifying WITH
        queries of the deliveries' INSERT, three round trips fewer than :func:`write_in_turn`. None reads
        another's rows. A stock-out change that is not an opening is an UPDATE that must see the rows the
        batch inserted before it: such batches are written in turn."""
        if any(event not in OPENING for _, _, event in stockouts):
            return await write_in_turn(self, levels, audit, stockouts, deliveries)
        queries: list[str] = []
        args: list[Any] = []
        if levels:
            sql, more = _levels_statement(levels, len(args) + 1)
            queries.append(sql)
            args += more
        for table, columns, rows in (
            ("audit_events", AUDIT_COLUMNS, audit),
            ("stockouts", STOCKOUT_COLUMNS, [opening_row(new) for _, new, _ in stockouts]),
        ):
            if rows:
                sql, more = insert_statement(table, columns, rows, "", len(args) + 1)
                queries.append(sql)
                args += more
        if deliveries:
            last, more = insert_statement(
                "deliveries", DELIVERY_COLUMNS, deliveries, "RETURNING id, idempotency_key", len(args) + 1
            )
            args += more
        elif len(queries) > 1:
            last = queries.pop()
        else:  # one statement or none: nothing to join
            if queries:
                await (await driver_of(self.conn)).execute(queries[0], *args)
            return []
        returned = await (await driver_of(self.conn)).fetch(with_queries(queries, last), *args)
        if not deliveries:
            return []
        ids = {key: delivery_id for delivery_id, key in returned}
        return [ids[row["idempotency_key"]] for row in deliveries]

    def reader(self) -> Any:
        return PgReader(self.conn)


class PgReader:
    """SQLAlchemy SELECTs on the transaction's connection, and ``driver``: plain SQL through its asyncpg
    connection, in the same transaction, for the reads that have a form of their own on PostgreSQL (the
    rate of sale the alert desk reads for every change it writes, storage/history.py)."""

    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn
        self.dialect = conn.dialect

    async def execute(self, statement: Any, parameters: Any = None) -> Any:
        return await self.conn.execute(statement, parameters)

    async def driver(self, sql: str, *args: Any) -> list[Any]:
        raw = await driver_of(self.conn)
        return list(await raw.fetch(sql, *args))


# --- SQLite: plain SQL, on the database's own thread -------------------------------------------------------

# SQLite allows 32766 bound values per statement (since 3.32): chunk multi-row statements below it.
MAX_VALUES = 30000

Execute = Callable[[str, Sequence[Any]], Awaitable[tuple[list[Any], int]]]


def _through_driver(conn: AsyncConnection) -> Execute:
    """Plain SQL through the async connection's driver, in its transaction (a hand-off per statement)."""

    async def execute(sql: str, params: Sequence[Any]) -> tuple[list[Any], int]:
        result = await conn.exec_driver_sql(sql, tuple(params))
        rows = list(result.fetchall()) if result.returns_rows else []
        return rows, result.rowcount

    return execute


def _direct(connection: sqlite3.Connection) -> Execute:
    """Plain SQL on a sqlite3 connection owned by this thread: no hand-off at all."""

    async def execute(sql: str, params: Sequence[Any]) -> tuple[list[Any], int]:
        cursor = connection.execute(sql, params)
        rows = cursor.fetchall()
        return rows, cursor.rowcount

    return execute


# Times already converted, and their texts: an event's time is written twice (its row, its level's newest
# event) and a batch's rows share one received_at and audit time, in turns that a one-slot memory missed.
# isoformat is a printf-style formatter, ~7% of a level update's instructions when it ran ~4 times an event.
# Equal instants give the same UTC text, whatever their zone; the memory is emptied when it is full.
_time_texts: dict[datetime, str] = {}
TIME_TEXTS = 4096


def sqlite_time(value: datetime | None) -> str | None:
    """What SQLAlchemy's ``UTCDateTime`` stores on SQLite: naive UTC with microseconds."""
    if value is None:
        return None
    text = _time_texts.get(value)
    if text is None:
        utc = value if value.tzinfo is UTC else value.astimezone(UTC)
        # "YYYY-MM-DD HH:MM:SS.ffffff" and the "+00:00" cut off: a third cheaper than replace(tzinfo=None)
        text = utc.isoformat(" ", "microseconds")[:26]
        if len(_time_texts) >= TIME_TEXTS:
            _time_texts.clear()  # one thread's clear and another's insert: each atomic under the GIL
        _time_texts[value] = text
    return text


def _from_sqlite_time(value: str | None) -> datetime | None:
    return parse_sqlite_time(value) if value else None


def parse_sqlite_time(value: str) -> datetime:
    """A ``UTCDateTime`` as SQLite stores it, back to an aware datetime."""
    try:  # the offset parsed with the text: a sixth of the time of replace(tzinfo=UTC) after it
        return datetime.fromisoformat(value + "+00:00")
    except ValueError:  # a text with an offset of its own (none of stockbot's writes): read as before
        return datetime.fromisoformat(value).replace(tzinfo=UTC)


def _writer_of(column: Column[Any]) -> Callable[[Any], Any] | None:
    """How a column's Python value is stored on SQLite, as SQLAlchemy stores it (None: as it is)."""
    if isinstance(column.type, UTCDateTime):
        return sqlite_time
    if isinstance(column.type, JSON):
        return json_text
    return None


def json_text(value: Any) -> str:
    """A JSON column's value as text: the same JSON value ``json.dumps`` gives (compact, UTF-8 rather
    than escaped), from pydantic-core's encoder in about a quarter of the time; every event writes two.
    What it refuses (an unpaired surrogate in a sender's extra field) goes through ``json.dumps``, which
    escapes it."""
    try:
        return to_json(value).decode()
    except PydanticSerializationError:
        return json.dumps(value)


def _json_or_none(value: Any) -> Any:
    return json.loads(value) if value is not None else None


def _reader_of(column: Column[Any]) -> Callable[[Any], Any] | None:
    """How a column's stored value is read back, as SQLAlchemy reads it (None: as it is)."""
    if isinstance(column.type, UTCDateTime):
        return _from_sqlite_time
    if isinstance(column.type, JSON):
        return _json_or_none
    if isinstance(column.type, Boolean):
        return bool
    return None


class SqliteColumns:
    """Columns with how each is written to and read from SQLite, worked out once per list: a batch's
    rows then pay a call only for the values that need converting (times, JSON, booleans), not a
    type test and a call for every value."""

    def __init__(self, columns: Sequence[Column[Any]]) -> None:
        self.names = [c.name for c in columns]
        self.listed = ", ".join(self.names)
        self._writers = [(i, to) for i, c in enumerate(columns) if (to := _writer_of(c)) is not None]
        self._readers = [(i, to) for i, c in enumerate(columns) if (to := _reader_of(c)) is not None]

    def values(self, row: dict[str, Any]) -> list[Any]:
        """A row (by column name; a missing name is NULL) as the statement's parameters, in order."""
        values = list(map(row.get, self.names))
        for i, to in self._writers:
            values[i] = to(values[i])
        return values

    def read(self, row: Sequence[Any]) -> dict[str, Any]:
        """A fetched row, in this order, by column name, with the Python values SQLAlchemy would give."""
        return dict(zip(self.names, self.converted(row), strict=True))

    def converted(self, row: Sequence[Any]) -> list[Any]:
        """A fetched row's values, in this order, as SQLAlchemy would give them."""
        values = list(row)
        for i, to in self._readers:
            values[i] = to(values[i])
        return values


def _chunks(rows: Sequence[Any], width: int) -> list[Sequence[Any]]:
    size = max(MAX_VALUES // max(width, 1), 1)
    if len(rows) <= size:  # nearly always: one statement
        return [rows] if rows else []
    return [rows[i : i + size] for i in range(0, len(rows), size)]


# Statement texts by their number of rows, built once: sqlite3 caches the prepared statement by its text,
# and the writer asks for the same few shapes (1 to ~50 rows) thousands of times a second.
@functools.lru_cache(maxsize=1024)
def placeholders(width: int, count: int) -> str:
    """``count`` rows of ``width`` parameters each: ``(?, ?), (?, ?)``."""
    row = "(" + ", ".join("?" * width) + ")"
    return ", ".join([row] * count)


def wanted_sqlite(count: int) -> str:
    return f"WITH wanted(sku, location) AS (VALUES {placeholders(2, count)}) "


@functools.lru_cache(maxsize=256)
def lock_levels_sqlite(count: int) -> str:
    """The statement behind :meth:`SqliteRows.lock_levels` for ``count`` pairs (its plan is tested)."""
    columns = ", ".join(f"{c.table.name}.{c.name}" for c in LEVEL_COLUMNS)
    return (
        f"{wanted_sqlite(count)}SELECT {columns} FROM wanted "
        "JOIN stock_levels ON stock_levels.sku = wanted.sku AND stock_levels.location = wanted.location "
        "JOIN products ON products.sku = stock_levels.sku"
    )


EVENT_COLUMNS = [c for c in events.c if c.name != "id"]
ALERT_COLUMNS = [alerts.c[name] for name in ALERT_NAMES]
DELIVERY_COLUMNS = [c for c in deliveries.c if c.name != "id"]
AUDIT_COLUMNS = [c for c in audit_events.c if c.name != "id"]
STOCKOUT_COLUMNS = [c for c in stockouts.c if c.name != "id"]
TABLES = {t.name: t for t in (events, alerts, deliveries, audit_events, stockouts)}
# The same lists as SQLite writes and reads them.
SQLITE_EVENTS = SqliteColumns(EVENT_COLUMNS)
SQLITE_ALERTS = SqliteColumns(ALERT_COLUMNS)
SQLITE_DELIVERIES = SqliteColumns(DELIVERY_COLUMNS)
SQLITE_AUDIT = SqliteColumns(AUDIT_COLUMNS)
SQLITE_STOCKOUTS = SqliteColumns(STOCKOUT_COLUMNS)
LEVEL_READ = SqliteColumns(LEVEL_COLUMNS)
ALERT_READ = SqliteColumns(list(alerts.c))


class SqliteRows:
    def __init__(self, execute: Execute, owner: Any = None, core: Any = None) -> None:
        self.execute = execute
        self.owner: Any = self if owner is None else owner
        self.core: Any = owner if core is None else core

    async def _insert(
        self, table: str, columns: SqliteColumns, rows: Sequence[dict[str, Any]], tail: str = ""
    ) -> list[Any]:
        """Multi-row INSERT of ``rows`` (dicts by column name), in as few statements as SQLite allows."""
        found: list[Any] = []
        width = len(columns.names)
        for chunk in _chunks(rows, width):
            sql = f"INSERT INTO {table} ({columns.listed}) VALUES {placeholders(width, len(chunk))} {tail}"
            params = [value for row in chunk for value in columns.values(row)]
            found += (await self.execute(sql, params))[0]
        return found

    async def spellings(self, skus: Iterable[str]) -> Spellings:
        found: list[Any] = []
        for chunk in _chunks(sorted({fold(sku) for sku in skus}), 1):
            marks = ", ".join("?" * len(chunk))
            found += (await self.execute(SPELLINGS_SQL + f"lower(products.sku) IN ({marks})", list(chunk)))[0]
        return _spellings(found)

    async def insert_events(self, rows: Sequence[dict[str, Any]]) -> dict[Pair, int]:
        tail = "ON CONFLICT (source, event_id) DO NOTHING RETURNING id, source, event_id"
        returned = await self._insert("events", SQLITE_EVENTS, rows, tail)
        return {(source, event_id): event_pk for event_pk, source, event_id in returned}

    async def lock_levels(self, pairs: Iterable[Pair]) -> dict[Pair, Level]:
        # BEGIN IMMEDIATE already holds the database's write lock: no row locks to take on SQLite.
        levels: dict[Pair, Level] = {}
        for chunk in _chunks(sorted(set(pairs)), 2):
            rows, _ = await self.execute(lock_levels_sqlite(len(chunk)), [v for p in chunk for v in p])
            for row in rows:
                level = level_from_values(LEVEL_READ.converted(row))
                levels[(level.sku, level.location)] = level
        return levels

    async def known_skus(self, skus: Iterable[str]) -> set[str]:
        known: set[str] = set()
        for chunk in _chunks(sorted(set(skus)), 1):
            marks = ", ".join("?" * len(chunk))
            rows, _ = await self.execute(f"SELECT sku FROM products WHERE sku IN ({marks})", list(chunk))
            known.update(row[0] for row in rows)
        return known

    async def set_event_outcomes(self, outcomes: Sequence[tuple[int, str]]) -> None:
        # Stale events and those for SKUs or locations not in the catalog: rare in a healthy feed, but a
        # feed that names products before they are imported sends a batch of them, so one statement.
        for chunk in _chunks(outcomes, 2):
            sql = (
                f"WITH v(id, outcome) AS (VALUES {placeholders(2, len(chunk))}) "
                "UPDATE events SET outcome = v.outcome FROM v WHERE events.id = v.id"
            )
            await self.execute(sql, [value for pair in chunk for value in pair])

    async def write_levels(self, levels: Sequence[Level]) -> None:
        for chunk in _chunks(levels, 6):
            sql = (
                "WITH v(sku, location, on_hand, last_event_at, last_source, open_alert_id) AS "
                f"(VALUES {placeholders(6, len(chunk))}) "
                "UPDATE stock_levels SET on_hand = v.on_hand, last_event_at = v.last_event_at, "
                "last_source = v.last_source, open_alert_id = v.open_alert_id "
                "FROM v WHERE stock_levels.sku = v.sku AND stock_levels.location = v.location"
            )
            params = [
                value
                for lv in chunk
                for value in (
                    lv.sku,
                    lv.location,
                    lv.on_hand,
                    sqlite_time(lv.last_event_at),
                    lv.last_source,
                    lv.open_alert_id,
                )
            ]
            await self.execute(sql, params)

    async def set_open_alerts(self, pointers: dict[Pair, int | None]) -> None:
        items = sorted(pointers.items())
        for chunk in _chunks(items, 3):
            sql = (
                f"WITH v(sku, location, open_alert_id) AS (VALUES {placeholders(3, len(chunk))}) "
                "UPDATE stock_levels SET open_alert_id = v.open_alert_id "
                "FROM v WHERE stock_levels.sku = v.sku AND stock_levels.location = v.location"
            )
            await self.execute(sql, [v for (sku, loc), alert_id in chunk for v in (sku, loc, alert_id)])

    async def alerts_of(self, pairs: Iterable[Pair], resolved_since: datetime) -> list[Alert]:
        found: list[Alert] = []
        names = ", ".join(f"alerts.{c.name}" for c in alerts.c)
        for chunk in _chunks(sorted(set(pairs)), 2):
            sql = (
                f"{wanted_sqlite(len(chunk))}SELECT {names} FROM wanted "
                "JOIN alerts ON alerts.sku = wanted.sku AND alerts.location = wanted.location "
                "WHERE alerts.state <> 'resolved' OR alerts.resolved_at >= ? ORDER BY alerts.id"
            )
            params = [*(v for p in chunk for v in p), sqlite_time(resolved_since)]
            for row in (await self.execute(sql, params))[0]:
                found.append(Alert(**ALERT_READ.read(row)))
        return found

    async def notified_channels(self, alert_ids: Iterable[int]) -> dict[int, set[str]]:
        found: dict[int, set[str]] = {}
        for chunk in _chunks(sorted(set(alert_ids)), 1):
            marks = ", ".join("?" * len(chunk))
            sql = f"SELECT DISTINCT alert_id, channel FROM deliveries WHERE alert_id IN ({marks})"
            for alert_id, channel in (await self.execute(sql, list(chunk)))[0]:
                found.setdefault(alert_id, set()).add(channel)
        return found

    async def insert_alerts(self, new: Sequence[Alert]) -> list[int]:
        returned = await self._insert(
            "alerts", SQLITE_ALERTS, [alert_values(a) for a in new], "RETURNING id, sku, location"
        )
        ids = {(sku, location): alert_id for alert_id, sku, location in returned}
        return [ids[(a.sku, a.location)] for a in new]

    async def update_alerts(self, changed: Sequence[tuple[Alert, int]]) -> None:
        sets = ", ".join(f"{name} = ?" for name in SQLITE_ALERTS.names)
        for alert, was in changed:  # people's actions and later signals: a few rows at most
            params = [*SQLITE_ALERTS.values(alert_values(alert)), alert.id, was]
            _, count = await self.execute(f"UPDATE alerts SET {sets} WHERE id = ? AND version = ?", params)
            if count != 1:
                raise ConcurrentChange(f"alert {alert.id} changed concurrently")

    async def insert_deliveries(self, rows: Sequence[dict[str, Any]]) -> list[int]:
        return [row[0] for row in await self._insert("deliveries", SQLITE_DELIVERIES, rows, "RETURNING id")]

    async def append_audit(self, rows: Sequence[dict[str, Any]]) -> None:
        await self._insert("audit_events", SQLITE_AUDIT, rows)

    async def track_stockouts(self, changes: Sequence[tuple[Alert | None, Alert, str]]) -> None:
        async def insert_rows(rows: list[dict[str, Any]]) -> None:
            await self._insert("stockouts", SQLITE_STOCKOUTS, rows)

        async def update_rows(rows: list[dict[str, Any]]) -> None:
            for values in rows:  # one UPDATE each, as for the alerts
                await update_sqlite(self.execute, sqlite_time, values)

        await track_all(changes, insert_rows, update_rows)

    async def write_all(
        self,
        levels: Sequence[Level],
        audit: Sequence[dict[str, Any]],
        stockouts: Sequence[tuple[Alert | None, Alert, str]],
        deliveries: Sequence[dict[str, Any]],
    ) -> list[int]:
        # no round trips to save on SQLite: a statement is a call on the database's own thread
        return await write_in_turn(self, levels, audit, stockouts, deliveries)

    def reader(self) -> Any:
        return SqliteReader(self.execute, self.core)


class SqliteResult:
    def __init__(self, rows: list[Any]) -> None:
        self.rows = rows

    def all(self) -> list[Any]:
        return self.rows

    def scalars(self) -> list[Any]:
        return [row[0] for row in self.rows]

    def scalar_one_or_none(self) -> Any:
        return self.rows[0][0] if self.rows else None

    def scalar_one(self) -> Any:
        (row,) = self.rows
        return row[0]


class SqliteReader:
    """SQLAlchemy SELECTs through the writer's plain-SQL ``execute`` (or its Core connection), in its
    transaction. Only for reads whose columns need no result processing (numbers and text) and whose
    parameters are plain values, dates or aware datetimes."""

    dialect = sqlite.dialect()

    def __init__(self, execute: Execute, core: Any = None) -> None:
        self._execute = execute
        # Plain SQL in the same transaction, for the reads that have a plain-SQL form on SQLite
        # (storage/history.py: the rate of sale the alert desk reads for every change, on the hot path).
        self.plain = execute
        # A connection of SQLAlchemy's own on the same transaction, where there is one: its compiled
        # cache serves each shape of statement after the first (compiling anew cost more than running).
        self._core = core

    async def execute(self, statement: Any) -> Any:
        if self._core is not None:
            return await self._core.execute(statement)
        compiled = statement.compile(dialect=self.dialect, compile_kwargs={"render_postcompile": True})
        values = compiled.construct_params()
        args = [_plain(values[name]) for name in compiled.positiontup or []]
        rows, _ = await self._execute(str(compiled), args)
        return SqliteResult(list(rows))


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return sqlite_time(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


# --- the group-commit writer's own database connection ---------------------------------------------------


class WriterDb(Protocol):
    # How many transactions may be open at once: the writer runs that many batches side by side.
    concurrency: int

    def transaction(self) -> Any:
        """An async context manager: a transaction, yielding its :class:`Rows`; commits on success."""

    async def close(self) -> None: ...


class CoreOnThread:
    """SQLAlchemy Core on the writer's own sqlite3 connection, awaited as an AsyncConnection is (``await
    conn.execute(statement, params)``), but run right here, on the database's thread: the outbox's
    statements (storage/deliveries.py) then share the writer's transaction and its one commit instead of
    taking SQLite's write lock in transactions of their own."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        # The engine's only connection is the writer's: the transaction is begun and ended on it directly
        # (BEGIN IMMEDIATE / COMMIT), and SQLAlchemy, which sees a driver in autocommit mode, never ends it.
        self._engine = sa_create_engine("sqlite://", creator=lambda: connection, poolclass=StaticPool)
        self._conn = self._engine.connect()
        self.dialect = self._conn.dialect
        # Plain SQL on the same connection, for the statements that have a plain-SQL form on SQLite
        # (a claim of given deliveries, storage/deliveries.py).
        self.plain = _direct(connection)

    async def execute(self, statement: Any, parameters: Any = None) -> Any:
        return self._conn.execute(statement, parameters)

    def ended(self) -> None:
        """The transaction ended on the driver: SQLAlchemy's own view of it ends too (a no-op for SQLite,
        which has no transaction open by then)."""
        self._conn.commit()

    def close(self) -> None:
        self._conn.close()
        self._engine.dispose()


# How often the checkpointer copies the WAL's committed pages into the database file.
CHECKPOINT_INTERVAL = 1.0


class Checkpointer:
    """Copies the WAL into the database file from a thread and connection of its own, so the writer's
    commits never do it. SQLite's automatic checkpoint runs inside the COMMIT that crosses 1,000 WAL pages,
    with a sync of the database file: a stall of 50–200 ms every few seconds for whichever event is being
    committed then, the whole tail of the 202's latency at a steady rate. A PASSIVE checkpoint takes no
    lock a writer needs, so the writer appends to the WAL while it runs."""

    def __init__(self, path: str, busy_timeout: float) -> None:
        self.path, self.busy_timeout = path, busy_timeout
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="stockbot-checkpoint", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        connection = sqlite3.connect(self.path, timeout=self.busy_timeout, isolation_level=None)
        try:
            while not self._stop.wait(CHECKPOINT_INTERVAL):
                try:
                    connection.execute("PRAGMA wal_checkpoint(PASSIVE)")
                except sqlite3.Error as exc:  # tried again next time; the WAL only grows meanwhile
                    logging.getLogger("stockbot.writer").warning("WAL checkpoint failed: %s", exc)
            connection.execute("PRAGMA wal_checkpoint(PASSIVE)")
        finally:
            connection.close()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


STATEMENT_CACHE = 1024


class SqliteWriterDb:
    """A sqlite3 connection opened by, and used only on, the writer's thread: the transaction never leaves
    it. ``BEGIN IMMEDIATE`` takes the write lock first, as every other writer does (storage/db.py). Its
    commits never checkpoint the WAL: the :class:`Checkpointer` does, beside it."""

    concurrency = 1  # one connection, one transaction at a time: SQLite has one writer anyway

    def __init__(self, path: str, busy_timeout: float = 30.0) -> None:
        # Multi-row statements are prepared once per number of rows (placeholders): a dozen shapes times the
        # batch sizes seen under load outgrow sqlite3's default cache of 128, and re-preparing costs more
        # than running.
        self.connection = sqlite3.connect(
            path, timeout=busy_timeout, isolation_level=None, cached_statements=STATEMENT_CACHE
        )
        for pragma in sqlite_pragmas(int(busy_timeout * 1000)):
            self.connection.execute(f"PRAGMA {pragma}")
        self.connection.execute("PRAGMA wal_autocheckpoint=0")
        self.checkpointer = Checkpointer(path, busy_timeout)
        self.core = CoreOnThread(self.connection)
        self.rows = SqliteRows(_direct(self.connection), core=self.core)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Rows]:
        self.connection.execute("BEGIN IMMEDIATE")
        try:
            yield self.rows
        except BaseException:
            self.connection.execute("ROLLBACK")
            self.core.ended()
            raise
        self.connection.execute("COMMIT")
        self.core.ended()

    async def close(self) -> None:
        self.core.close()
        self.connection.close()
        self.checkpointer.stop()


# PostgreSQL: transactions the writer keeps open side by side. Its transaction is a chain of a dozen round
# trips, and the writer's thread waits out most of each; a second connection starts the next batch meanwhile
# (bench/perf-log.md: alerts opened in batches 1,600-1,850 → 2,150-2,450/s). Row locks taken in one order
# keep them apart exactly as they keep several replicas apart; more than two gained nothing more here.
WRITER_CONNECTIONS = 2
# The tables the writer appends to, analyzed by the writer each time the events table has doubled (from
# ANALYZE_GROWTH events on). After five runs of a prepared statement PostgreSQL may keep one generic plan,
# costed on the statistics of that moment: a writer started on a new database kept a sequential scan of alerts
# for every batch (10 ms a batch at 27,000 rows) until an ANALYZE, which autovacuum runs only every so often,
# and never where it is off. An ANALYZE gives the planner the tables' real sizes and makes every connection
# plan its statements again (bench/perf-log.md).
GROWING_TABLES = ("events", "alerts", "deliveries", "stockouts", "alert_posts", "audit_events")
ANALYZE_GROWTH = 1000


class EngineWriterDb:
    """PostgreSQL: an engine of the writer's own, on the writer's loop, with a connection per transaction
    that may be open at once."""

    def __init__(self, url: str, busy_timeout: float = 30.0, concurrency: int = WRITER_CONNECTIONS) -> None:
        self.concurrency = concurrency
        self.engine = create_engine(url, pool_size=concurrency, busy_timeout=busy_timeout)
        self.analyzed_at = 0  # the newest event id when the writer last analyzed its tables
        self._analyzing: asyncio.Task[None] | None = None

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Rows]:
        async with self.engine.begin() as conn:
            rows = CoreRows(conn)
            yield rows
        grown = rows.newest_event >= max(2 * self.analyzed_at, self.analyzed_at + ANALYZE_GROWTH)
        if grown and (self._analyzing is None or self._analyzing.done()):
            self.analyzed_at = rows.newest_event
            self._analyzing = asyncio.ensure_future(self._analyze())

    async def _analyze(self) -> None:
        """Off the transaction, on a connection of its own (the pool's overflow): nothing waits for it."""
        try:
            async with self.engine.connect() as conn:
                await conn.exec_driver_sql(f"ANALYZE {', '.join(GROWING_TABLES)}")
                await conn.commit()
        except Exception as exc:  # the next doubling tries again; autovacuum may have done it meanwhile
            logging.getLogger("stockbot.writer").warning("ANALYZE of the writer's tables failed: %s", exc)

    async def analyzing(self) -> None:
        """Return once an ANALYZE the writer started has ended."""
        if self._analyzing is not None:
            await asyncio.gather(self._analyzing, return_exceptions=True)

    async def close(self) -> None:
        await self.analyzing()
        await self.engine.dispose()


def open_writer_db(url: str, busy_timeout: float = 30.0) -> WriterDb:
    """The writer's connection for ``url``; call it on the writer's thread. ``busy_timeout`` (SQLite):
    seconds a statement waits for another process's lock before failing."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if not parsed.database or parsed.database == ":memory:":
            raise ValueError("the group-commit writer needs a SQLite file, not an in-memory database")
        return SqliteWriterDb(parsed.database, busy_timeout)
    return EngineWriterDb(url, busy_timeout)
