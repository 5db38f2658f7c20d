"""The ingest hot path's four statements: store new events, lock and read their levels, write the levels,
append the audit rows. One batch of events costs these four round trips, whatever its size.

On PostgreSQL they are SQLAlchemy Core statements (asyncpg makes one round trip each). On SQLite, SQLAlchemy's
aiosqlite adapter makes about four thread hand-offs per statement (cursor, execute, fetch, close), which
made the group-commit writer the bottleneck of ingest; :class:`SqliteRows` sends the same statements through
aiosqlite's own ``execute_fetchall`` / ``executemany``, one hand-off each, inside the same transaction.
Values are written exactly as SQLAlchemy writes them (``UTCDateTime`` as naive UTC text, JSON as text),
and ``tests/test_events_api.py`` runs every ingest case on both databases.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy import insert, select, tuple_, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.expression import bindparam

from stockbot.storage.alerts import LEVEL_COLUMNS, Level, level_from_row
from stockbot.storage.tables import audit_events, events, products, stock_levels

Pair = tuple[str, str]


class IngestRows(Protocol):
    async def insert_events(self, rows: Sequence[dict[str, Any]]) -> dict[Pair, int]:
        """Insert events not seen before; the ids of those inserted, by (source, event_id)."""

    async def lock_levels(self, pairs: set[Pair]) -> dict[Pair, Level]:
        """The levels of ``pairs`` with their catalog facts, locked, in a fixed order (no deadlocks)."""

    async def write_levels(self, levels: Sequence[Level]) -> None: ...

    async def append_audit(self, rows: Sequence[dict[str, Any]]) -> None: ...


async def rows_for(conn: AsyncConnection) -> IngestRows:
    if conn.dialect.name == "sqlite":
        raw = await conn.get_raw_connection()
        return SqliteRows(raw.driver_connection)
    return CoreRows(conn)


class CoreRows:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def insert_events(self, rows: Sequence[dict[str, Any]]) -> dict[Pair, int]:
        if not rows:
            return {}
        stmt = (
            postgresql.insert(events)
            .on_conflict_do_nothing(index_elements=["source", "event_id"])
            .returning(events.c.id, events.c.source, events.c.event_id)
        )
        result = await self.conn.execute(stmt, list(rows))
        return {(r.source, r.event_id): r.id for r in result.all()}

    async def lock_levels(self, pairs: set[Pair]) -> dict[Pair, Level]:
        query = (
            select(*LEVEL_COLUMNS)
            .join(products, products.c.sku == stock_levels.c.sku)
            .where(tuple_(stock_levels.c.sku, stock_levels.c.location).in_(sorted(pairs)))
            .order_by(stock_levels.c.sku, stock_levels.c.location)
            .with_for_update(of=stock_levels)
        )
        rows = (await self.conn.execute(query)).mappings().all()
        return {(r["sku"], r["location"]): level_from_row(r) for r in rows}

    async def write_levels(self, levels: Sequence[Level]) -> None:
        stmt = (
            update(stock_levels)
            .where(stock_levels.c.sku == bindparam("b_sku"), stock_levels.c.location == bindparam("b_loc"))
            .values(
                on_hand=bindparam("b_on_hand"),
                last_event_at=bindparam("b_at"),
                last_source=bindparam("b_src"),
            )
        )
        params = [
            {
                "b_sku": lv.sku,
                "b_loc": lv.location,
                "b_on_hand": lv.on_hand,
                "b_at": lv.last_event_at,
                "b_src": lv.last_source,
            }
            for lv in levels
        ]
        await self.conn.execute(stmt, params)

    async def append_audit(self, rows: Sequence[dict[str, Any]]) -> None:
        if rows:
            await self.conn.execute(insert(audit_events), list(rows))


# --- SQLite: one aiosqlite call per statement ----------------------------------------------------------

EVENT_COLUMNS = [
    "source",
    "event_id",
    "kind",
    "sku",
    "location",
    "on_hand",
    "status",
    "occurred_at",
    "received_at",
    "outcome",
    "payload",
]
AUDIT_COLUMNS = ["at", "kind", "actor", "alert_id", "subject", "detail"]
LEVEL_NAMES = [c.name for c in LEVEL_COLUMNS]
# SQLite allows 32766 bound values per statement (since 3.32): chunk the multi-row statements below it.
MAX_VALUES = 30000


def sqlite_time(value: datetime | None) -> str | None:
    """What SQLAlchemy's ``UTCDateTime`` stores on SQLite: naive UTC with microseconds."""
    if value is None:
        return None
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")


def _from_sqlite_time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value).replace(tzinfo=UTC) if value else None


def _value(column: str, value: Any) -> Any:
    if isinstance(value, datetime):
        return sqlite_time(value)
    if column in ("payload", "detail"):
        return json.dumps(value)
    return value


def _chunks(rows: Sequence[Any], width: int) -> list[Sequence[Any]]:
    size = max(MAX_VALUES // width, 1)
    return [rows[i : i + size] for i in range(0, len(rows), size)]


class SqliteRows:
    def __init__(self, driver: Any) -> None:
        self.driver = driver  # the aiosqlite connection under SQLAlchemy's, in its transaction

    async def insert_events(self, rows: Sequence[dict[str, Any]]) -> dict[Pair, int]:
        inserted: dict[Pair, int] = {}
        for chunk in _chunks(rows, len(EVENT_COLUMNS)):
            marks = ", ".join(["(" + ", ".join("?" * len(EVENT_COLUMNS)) + ")"] * len(chunk))
            sql = (
                f"INSERT INTO events ({', '.join(EVENT_COLUMNS)}) VALUES {marks} "
                "ON CONFLICT (source, event_id) DO NOTHING RETURNING id, source, event_id"
            )
            params = [_value(c, row[c]) for row in chunk for c in EVENT_COLUMNS]
            for event_pk, source, event_id in await self.driver.execute_fetchall(sql, params):
                inserted[(source, event_id)] = event_pk
        return inserted

    async def lock_levels(self, pairs: set[Pair]) -> dict[Pair, Level]:
        # BEGIN IMMEDIATE already holds the database's write lock: no row locks to take on SQLite.
        levels: dict[Pair, Level] = {}
        columns = ", ".join(f"{c.table.name}.{c.name}" for c in LEVEL_COLUMNS)
        for chunk in _chunks(sorted(pairs), 2):
            wanted = ", ".join(["(?, ?)"] * len(chunk))
            sql = (
                f"SELECT {columns} FROM stock_levels JOIN products ON products.sku = stock_levels.sku "
                f"WHERE (stock_levels.sku, stock_levels.location) IN (VALUES {wanted})"
            )
            rows = await self.driver.execute_fetchall(sql, [v for pair in chunk for v in pair])
            for row in rows:
                values = dict(zip(LEVEL_NAMES, row, strict=True))
                values["key_product"] = bool(values["key_product"])
                values["last_event_at"] = _from_sqlite_time(values["last_event_at"])
                levels[(values["sku"], values["location"])] = level_from_row(values)
        return levels

    async def write_levels(self, levels: Sequence[Level]) -> None:
        await self.driver.executemany(
            "UPDATE stock_levels SET on_hand = ?, last_event_at = ?, last_source = ? "
            "WHERE sku = ? AND location = ?",
            [
                (lv.on_hand, sqlite_time(lv.last_event_at), lv.last_source, lv.sku, lv.location)
                for lv in levels
            ],
        )

    async def append_audit(self, rows: Sequence[dict[str, Any]]) -> None:
        if not rows:
            return
        marks = ", ".join("?" * len(AUDIT_COLUMNS))
        await self.driver.executemany(
            f"INSERT INTO audit_events ({', '.join(AUDIT_COLUMNS)}) VALUES ({marks})",
            [[_value(c, row[c]) for c in AUDIT_COLUMNS] for row in rows],
        )
