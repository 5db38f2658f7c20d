"""The ingest transaction's statements: how many a batch costs, and that pairs are found through the key.

Statements are counted where the driver sees them (sqlite3's trace callback, SQLAlchemy's cursor events
on PostgreSQL) on the group-commit writer's own connection, running the production ``apply_events``.
"""

from __future__ import annotations

import asyncio
import csv
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event, func, select, text

from stockbot.bot.ingest import InventoryEvent, apply_events
from stockbot.bot.runtime import Runtime
from stockbot.storage import ingest_rows
from stockbot.storage.audit import audit_row
from stockbot.storage.catalog import DEMO_CATALOG, import_rows, parse_csv
from stockbot.storage.ingest_rows import (
    ALERTS_OF_PG,
    SPELLINGS_PG,
    EngineWriterDb,
    SqliteWriterDb,
    driver_of,
    lock_levels_pg,
    lock_levels_sqlite,
    open_writer_db,
)
from stockbot.storage.tables import alerts, audit_events, deliveries, events, stock_levels, stockouts
from tests.helpers import T0
from tests.helpers import test_config as config_for

PAIRS = [(r["sku"], r["location"]) for r in csv.DictReader(DEMO_CATALOG.open())]


@pytest.fixture
async def runtime(db_url: str) -> AsyncIterator[Runtime]:
    runtime = await Runtime.create(config_for(db_url), migrate=True)
    async with runtime.engine.begin() as conn:
        await import_rows(conn, parse_csv(DEMO_CATALOG.read_text()))
    yield runtime
    await runtime.stop()


def out_of_stock(count: int, first: int = 0) -> list[InventoryEvent]:
    return [
        InventoryEvent.model_validate(
            {
                "event_id": f"oos-{first + i}",
                "source": "erp",
                "sku": sku,
                "location": location,
                "on_hand": 0,
                "occurred_at": T0.isoformat(),
            }
        )
        for i, (sku, location) in enumerate(PAIRS[first : first + count])
    ]


def count_statements(db: Any) -> list[str]:
    """Every statement the writer's connection runs from now on (transaction control left out)."""
    seen: list[str] = []
    if isinstance(db, SqliteWriterDb):
        db.connection.set_trace_callback(seen.append)
    else:
        assert isinstance(db, EngineWriterDb)

        # SQLAlchemy's cursor events see the statements it runs; asyncpg's query log adds those run on the
        # driver itself (the rate of sale, storage/history.py). The log also has SQLAlchemy's executemany
        # (not its prepared statements) and the transaction's control: those are left out here.
        through_sqlalchemy: set[str] = set()

        @event.listens_for(db.engine.sync_engine, "before_cursor_execute")
        def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
            through_sqlalchemy.add(statement)
            seen.append(statement)

        def record_driver(query: Any) -> None:
            control = query.query.rstrip(";").split()[0].upper() in ("BEGIN", "COMMIT", "ROLLBACK")
            if not control and query.query not in through_sqlalchemy:
                seen.append(query.query)

        @event.listens_for(db.engine.sync_engine, "checkout")
        def watch(dbapi_connection: Any, *_: Any) -> None:
            dbapi_connection.driver_connection.add_query_logger(record_driver)

        @event.listens_for(db.engine.sync_engine, "checkin")
        def unwatch(dbapi_connection: Any, *_: Any) -> None:
            if dbapi_connection is not None:
                dbapi_connection.driver_connection.remove_query_logger(record_driver)

    return seen


async def test_a_batch_of_out_of_stock_events_costs_thirteen_statements_whatever_its_size(
    runtime: Runtime, db_url: str
) -> None:
    db = open_writer_db(db_url)
    try:
        # First batches on the connection, of one event and of two (a lone row's values travel as they
        # are, several rows' as arrays): asyncpg asks the server about each array type once per connection
        # (int8[], int4[], timestamptz[]); those look-ups are not the transaction's statements.
        for first, size in ((90, 1), (91, 2)):
            async with db.transaction() as rows:
                await apply_events(runtime.desk, rows, out_of_stock(size, first))
        costs = []
        for first, size in ((0, 1), (1, 20)):
            seen = count_statements(db)
            seen.clear()
            async with db.transaction() as rows:
                outcomes, changed = await apply_events(runtime.desk, rows, out_of_stock(size, first))
            costs.append([s for s in seen if s.split()[0].upper() not in ("BEGIN", "COMMIT")])
            assert outcomes == ["applied"] * size and changed
    finally:
        await db.close()
    # the catalog's spellings (case-insensitive SKUs and locations, storage/folding.py), events, levels
    # (locked), the batch's alerts, new alerts, the rate of sale for the messages (units sold, roll-up mark,
    # events since, last readings; one statement on PostgreSQL), levels + open alerts, audit, stock-out rows,
    # deliveries (on PostgreSQL these four are one statement)
    expected = 7 if db_url.startswith("postgresql") else 13
    assert [len(statements) for statements in costs] == [expected, expected], costs
    async with runtime.engine.connect() as conn:
        assert (await conn.execute(select(func.count()).select_from(alerts))).scalar_one() == 24
        opened = select(func.count()).select_from(audit_events).where(audit_events.c.kind == "alert.opened")
        assert (await conn.execute(opened)).scalar_one() == 24
        assert (await conn.execute(select(func.count()).select_from(deliveries))).scalar_one() >= 24
        assert (await conn.execute(select(func.count()).select_from(stockouts))).scalar_one() == 24
        short = select(func.count()).select_from(stock_levels)
        short = short.where(stock_levels.c.on_hand == 0, stock_levels.c.open_alert_id.is_not(None))
        assert (await conn.execute(short)).scalar_one() == 24
        applied = select(func.count()).select_from(audit_events).where(audit_events.c.kind == "event.applied")
        assert (await conn.execute(applied)).scalar_one() == 24


def level_event(event_id: str, sku: str, location: str, seconds: int) -> InventoryEvent:
    at = T0 + timedelta(seconds=seconds)
    return InventoryEvent.model_validate(
        {
            "event_id": event_id,
            "source": "erp",
            "sku": sku,
            "location": location,
            "on_hand": 50,
            "occurred_at": at.isoformat(),
        }
    )


async def test_a_batch_of_stale_and_unknown_events_stores_every_outcome_in_one_statement(
    runtime: Runtime, db_url: str
) -> None:
    sku, location = PAIRS[0]
    batch = [
        level_event("stale", sku, location, 0),  # older than the level's newest event (10 s)
        level_event("no-sku-1", "NO-SUCH-SKU-1", location, 0),
        level_event("no-sku-2", "NO-SUCH-SKU-2", location, 0),
        level_event("no-location", sku, "Moon Base", 0),
        level_event("newer", sku, location, 20),
    ]
    db = open_writer_db(db_url)
    try:
        async with db.transaction() as rows:
            await apply_events(runtime.desk, rows, [level_event("first", sku, location, 10)])
        seen = count_statements(db)
        seen.clear()
        async with db.transaction() as rows:
            outcomes, _ = await apply_events(runtime.desk, rows, batch)
    finally:
        await db.close()
    assert outcomes == ["stale", "unknown_sku", "unknown_sku", "unknown_location", "applied"]
    assert len([s for s in seen if "UPDATE EVENTS" in s.upper()]) == 1, seen
    async with runtime.engine.connect() as conn:
        stored = dict((await conn.execute(select(events.c.event_id, events.c.outcome))).all())
    assert stored == {"first": "applied", **{e.event_id: o for e, o in zip(batch, outcomes, strict=True)}}


async def test_a_second_signal_for_open_alerts_reads_their_channels_once(
    runtime: Runtime, db_url: str
) -> None:
    db = open_writer_db(db_url)
    try:
        async with db.transaction() as rows:
            await apply_events(runtime.desk, rows, out_of_stock(10))
        back = [
            e.model_copy(update={"event_id": f"back-{e.event_id}", "on_hand": 500}) for e in out_of_stock(10)
        ]
        seen = count_statements(db)
        seen.clear()
        async with db.transaction() as rows:
            await apply_events(runtime.desk, rows, back)
    finally:
        await db.close()
    statements = [s for s in seen if s.split()[0].upper() not in ("BEGIN", "COMMIT")]
    # spellings, events, levels, the batch's alerts, their channels, the rate of sale (4; 1 on PostgreSQL),
    # the resolved alerts and their stock-out rows (PostgreSQL: one executemany each; SQLite: one UPDATE
    # each), levels + open alerts, audit, deliveries
    updates = [s for s in statements if s.upper().startswith(("UPDATE ALERTS", "UPDATE STOCKOUTS"))]
    assert len(statements) - len(updates) == (9 if db_url.startswith("postgresql") else 12), statements
    async with runtime.engine.connect() as conn:
        resolved = select(func.count()).select_from(alerts).where(alerts.c.state == "resolved")
        assert (await conn.execute(resolved)).scalar_one() == 10


async def test_sqlite_finds_a_batch_of_levels_through_the_key_not_a_scan(sqlite_url: str) -> None:
    runtime = await Runtime.create(config_for(sqlite_url))
    try:
        async with runtime.engine.connect() as conn:
            plan = (
                await conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {lock_levels_sqlite(3)}", ("a",) * 6)
            ).all()
            details = [row[-1] for row in plan]
            # the shape it replaces: SQLite scans the whole key index for (sku, location) IN (VALUES …)
            old = "SELECT * FROM stock_levels WHERE (sku, location) IN (VALUES (?, ?), (?, ?), (?, ?))"
            scanned = [
                row[-1] for row in (await conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {old}", ("a",) * 6)).all()
            ]
    finally:
        await runtime.stop()
    assert any(
        d.startswith("SEARCH stock_levels USING") and "(sku=? AND location=?)" in d for d in details
    ), details
    assert not any(d.startswith("SCAN stock_levels") for d in details), details
    assert any(d.startswith("SCAN stock_levels") for d in scanned), scanned


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
async def test_postgresql_finds_a_batch_of_levels_through_the_key_not_a_scan(db_url: str) -> None:
    runtime = await Runtime.create(config_for(db_url))
    try:
        async with runtime.engine.begin() as conn:
            # Enough rows that a sequential scan would be the planner's choice if the key could not serve.
            await conn.execute(
                text(
                    "INSERT INTO products (sku, name) SELECT 'P' || n, 'product ' || n "
                    "FROM generate_series(1, 20000) AS n"
                )
            )
            await conn.execute(
                text(
                    "INSERT INTO stock_levels (sku, location, minimum, on_hand) "
                    "SELECT 'P' || n, 'DC', 5, 100 FROM generate_series(1, 20000) AS n"
                )
            )
            await conn.execute(text("ANALYZE stock_levels"))
            await conn.execute(text("ANALYZE products"))
            sql, args = lock_levels_pg([("P17", "DC"), ("P4711", "DC"), ("P19999", "DC")])
            raw = await driver_of(conn)
            plan = "\n".join(r[0] for r in await raw.fetch(f"EXPLAIN {sql}", *args))
    finally:
        await runtime.stop()
    # Either key searches by SKU: the primary key, or the case-insensitive (sku, folded location) key of
    # migration 0004, which the planner may take when SKU alone picks one row (one location each here).
    keys = ("pk_stock_levels", "uq_stock_levels_sku_location_folded")
    assert any(f"Index Scan using {key} on stock_levels" in plan for key in keys), plan
    assert "Seq Scan on stock_levels" not in plan, plan


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
async def test_the_postgresql_writer_analyzes_its_tables_as_they_grow_so_batches_search_by_key(
    runtime: Runtime, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After five runs PostgreSQL may keep one generic plan for a prepared statement, costed on the tables
    of that moment: on a new database, a scan of alerts, kept as they grow. The writer analyzes its tables
    each time the events table doubles; the statements are planned again on their real sizes."""
    monkeypatch.setattr(ingest_rows, "ANALYZE_GROWTH", 40)
    db = open_writer_db(db_url)
    assert isinstance(db, EngineWriterDb)
    try:
        for n in range(8):  # past the five custom plans after which a generic one may be kept
            async with db.transaction() as rows:
                await apply_events(runtime.desk, rows, out_of_stock(1, n))
        async with runtime.engine.begin() as conn:  # alerts grow past what the first plans were costed on
            await conn.execute(
                text(
                    "INSERT INTO alerts (sku, location, state, severity, trigger, on_hand, minimum, "
                    "blocked_orders, opened_at, updated_at) SELECT 'CAB-PACMAN-UP', 'GROWN-' || n, "
                    "'resolved', 'warning', 'zero', 0, 1, '[]', now(), now() "
                    "FROM generate_series(1, 20000) AS n"
                )
            )
        assert db.analyzed_at == 0
        async with db.transaction() as rows:  # events past ANALYZE_GROWTH: the writer analyzes, off the batch
            await apply_events(runtime.desk, rows, out_of_stock(40, 8))
        assert db.analyzed_at > 0
        await db.analyzing()
        async with db.transaction() as rows:  # the plan the writer's own prepared statement now runs
            raw = await driver_of(rows.core)
            name = await raw.fetchval(
                "SELECT name FROM pg_prepared_statements WHERE statement = $1", ALERTS_OF_PG
            )
            plan = await raw.fetch(f"EXPLAIN EXECUTE {name}('{{CAB-PACMAN-UP}}', '{{GROWN-7}}', now())")
            counted = await raw.fetchval("SELECT reltuples FROM pg_class WHERE relname = 'alerts'")
    finally:
        await db.close()
    assert counted >= 20000  # the planner knows the table's size
    text_plan = "\n".join(r[0] for r in plan)
    assert "Seq Scan on alerts" not in text_plan, text_plan


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
async def test_a_transaction_whose_first_statement_runs_on_asyncpg_begins_with_one_round_trip(
    runtime: Runtime, db_url: str
) -> None:
    db = open_writer_db(db_url)
    assert isinstance(db, EngineWriterDb)
    sent: list[str] = []  # what asyncpg ran itself
    through_sqlalchemy: list[str] = []

    @event.listens_for(db.engine.sync_engine, "checkout")
    def watch(dbapi_connection: Any, *_: Any) -> None:
        dbapi_connection.driver_connection.add_query_logger(lambda q: sent.append(q.query.rstrip(";")))

    @event.listens_for(db.engine.sync_engine, "before_cursor_execute")
    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        through_sqlalchemy.append(statement)

    try:
        with pytest.raises(RuntimeError, match="undo"):
            async with db.transaction() as rows:
                spelled = await rows.spellings(["cab-pacman-up"])  # the batch's first statement: asyncpg's
                assert spelled.sku("cab-pacman-up") == "CAB-PACMAN-UP"
                await (await driver_of(rows.core)).execute("UPDATE products SET name = 'gone'")
                raise RuntimeError("undo")
        assert sent[0] == "BEGIN" and sent[1].startswith("SELECT products.sku"), sent
        assert through_sqlalchemy == []  # no statement of its own to make SQLAlchemy send the BEGIN
        async with runtime.engine.connect() as conn:  # and it was the transaction's: rolled back with it
            names = await conn.execute(text("SELECT count(*) FROM products WHERE name = 'gone'"))
            assert names.scalar_one() == 0
    finally:
        await db.close()


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
async def test_a_postgresql_writer_transaction_is_begin_statements_commit_and_outlives_its_connection(
    runtime: Runtime, db_url: str
) -> None:
    import asyncpg

    from tests.helpers import PG_ADMIN_URL

    db = open_writer_db(db_url)
    assert isinstance(db, EngineWriterDb)
    control: list[str] = []

    def log(query: Any) -> None:
        control.append(query.query.rstrip(";").upper())

    @event.listens_for(db.engine.sync_engine, "checkout")
    def watch(dbapi_connection: Any, *_: Any) -> None:
        dbapi_connection.driver_connection.add_query_logger(log)  # once: asyncpg keeps a set

    try:
        for _ in range(2):  # the second takes the pooled connection (a new one is never pinged)
            async with db.transaction() as rows:
                assert await rows.known_skus(["CAB-PACMAN-UP"]) == {"CAB-PACMAN-UP"}
        # No pre-ping (BEGIN, an empty query, ROLLBACK) before the transaction's own BEGIN.
        assert [q for q in control if q in ("BEGIN", "ROLLBACK", "COMMIT", "")] == ["BEGIN", "COMMIT"] * 2
        async with db.engine.connect() as conn:
            raw: Any = (await conn.get_raw_connection()).driver_connection
            pid = raw.get_server_pid()
        admin = await asyncpg.connect(PG_ADMIN_URL)
        try:
            await admin.execute("SELECT pg_terminate_backend($1)", pid)
        finally:
            await admin.close()
        # Until the server's goodbye reaches the idle pooled connection (asyncpg has no event to await).
        while not raw.is_closed():  # noqa: ASYNC110
            await asyncio.sleep(0.01)
        async with db.transaction() as rows:  # the pool replaces it at checkout: no error reaches us
            assert await rows.known_skus(["CAB-PACMAN-UP"]) == {"CAB-PACMAN-UP"}
    finally:
        await db.close()


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
async def test_a_big_catalog_import_leaves_postgresql_the_statistics_to_search_the_catalog(
    db_url: str,
) -> None:
    runtime = await Runtime.create(config_for(db_url), migrate=True)
    rows = "\n".join(f"P{n},product {n},,no,DC,5" for n in range(20000))
    try:
        async with runtime.engine.begin() as conn:
            await import_rows(conn, parse_csv(f"sku,name,category,key_product,location,minimum\n{rows}\n"))
        async with runtime.engine.connect() as conn:
            analyzed = await conn.execute(
                text(
                    "SELECT relname FROM pg_stat_user_tables WHERE last_analyze IS NOT NULL ORDER BY relname"
                )
            )
            assert set(analyzed.scalars()) >= {"products", "stock_levels"}
            # the catalog look-up of every ingest batch (CoreRows.spellings): without statistics the
            # planner guessed the tables small and read all of stock_levels for each batch
            keys = [f"p{n}" for n in range(100, 105)]
            explained = await (await driver_of(conn)).fetch(f"EXPLAIN {SPELLINGS_PG}", keys)
            plan = "\n".join(r[0] for r in explained)
    finally:
        await runtime.stop()
    assert "Seq Scan" not in plan, plan


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
async def test_postgresql_stores_a_lone_row_as_it_stores_the_same_row_in_a_batch(
    runtime: Runtime, db_url: str
) -> None:
    """A lone row travels as one parameter per column (``INSERT … VALUES``), several as arrays (``INSERT …
    SELECT FROM unnest``): both store the same values, JSON, times, NULLs and server defaults alike."""
    stamp = T0 + timedelta(microseconds=123_456)
    detail = {"note": "line\u2028sep ☃", "list": [1, None, {"é": True}], "empty": {}}
    audit = [audit_row(stamp, "k.one", "actor ☃", subject="S@L", **detail), audit_row(T0, "k.two", "x")]
    event_rows = [
        {
            "source": f"erp-{n}",
            "event_id": "e-1",
            "kind": "inventory",
            "sku": "CAB-PACMAN-UP",
            "location": "main",
            "on_hand": None,
            "status": "out_of_stock",
            "occurred_at": stamp,
            "received_at": T0,
            "outcome": "applied",
            "payload": detail,
        }
        for n in (1, 2, 3)
    ]
    sent: list[str] = []
    async with runtime.engine.begin() as conn:
        rows = ingest_rows.rows_for(conn)
        (await driver_of(conn)).add_query_logger(lambda q: sent.append(q.query))
        await rows.append_audit(audit[:1])  # alone
        await rows.append_audit(audit)  # the same first row, in a batch
        alone = await rows.insert_events(event_rows[:1])
        together = await rows.insert_events(event_rows[1:])
        assert await rows.insert_events(event_rows[:1]) == {}  # a repeat, alone: ON CONFLICT still holds
    inserts = [q.split(" (")[0] + (" unnest" if "unnest(" in q else " VALUES") for q in sent if "INSERT" in q]
    assert inserts == [
        *["INSERT INTO audit_events VALUES", "INSERT INTO audit_events unnest"],
        *["INSERT INTO events VALUES", "INSERT INTO events unnest", "INSERT INTO events VALUES"],
    ]
    assert set(alone) == {("erp-1", "e-1")} and set(together) == {("erp-2", "e-1"), ("erp-3", "e-1")}

    def stored(found: Any) -> list[dict[str, Any]]:
        return [{k: v for k, v in row._mapping.items() if k not in ("id", "source")} for row in found]

    async with runtime.engine.connect() as conn:
        audit_read = stored(await conn.execute(select(audit_events).order_by(audit_events.c.id)))
        events_read = stored(await conn.execute(select(events).order_by(events.c.id)))
    assert audit_read[0] == audit_read[1]
    assert audit_read[0]["detail"] == detail and audit_read[0]["at"] == stamp
    assert audit_read[2]["kind"] == "k.two" and audit_read[2]["subject"] is None
    assert events_read[0] == events_read[1] == events_read[2]
    assert events_read[0]["payload"] == detail and events_read[0]["on_hand"] is None
