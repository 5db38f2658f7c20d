"""The report, timeline and alert-list queries are answered through their indexes: SQLite's
``EXPLAIN QUERY PLAN`` and PostgreSQL's ``EXPLAIN`` name the index for each.

On PostgreSQL the test turns sequential scans off for its session: on a near-empty test table a sequential
scan is always cheapest, so what is checked is that an index *can* answer the query (without one, the plan
stays a sequential scan however expensive). ``bench/reports.py`` times the same queries on a million events.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import ClauseElement, Executable

from stockbot.adapters.report_data import Cut
from stockbot.bot import reports
from stockbot.storage import deliveries as outbox
from stockbot.storage import history
from stockbot.storage.alert_pages import AlertFilter, page_query
from stockbot.storage.db import create_engine, upgrade

WHEN = datetime(2026, 11, 20, tzinfo=UTC)
UNTIL = datetime(2026, 11, 27, tzinfo=UTC)


class Explain(Executable, ClauseElement):
    """``EXPLAIN`` of a SQLAlchemy statement, with its parameters bound as they would be."""

    inherit_cache = False

    def __init__(self, statement: Any) -> None:
        self.statement = statement


@compiles(Explain)
def _explain(element: Explain, compiler: Any, **kw: Any) -> str:
    prefix = "EXPLAIN QUERY PLAN " if compiler.dialect.name == "sqlite" else "EXPLAIN "
    sql = prefix + compiler.process(element.statement, **kw)
    compiler._result_columns = []  # the rows are the plan's, not the statement's: no result processing
    return sql


async def plan(conn: AsyncConnection, statement: Any) -> str:
    rows = (await conn.execute(Explain(statement))).all()
    return "\n".join(str(row[-1]) for row in rows)


class _Captured(Exception):
    pass


class _Sources:
    def scalars(self) -> list[str]:
        return ["erp"]


async def statement_of(conn: AsyncConnection, call: Any, skip: int = 0) -> Any:
    """The statement ``call(conn)`` executes after ``skip`` others (those are answered with one source)."""

    class Recorder:
        dialect = conn.dialect

        def __init__(self) -> None:
            self.seen = 0
            self.statement: Any = None

        async def execute(self, statement: Any, *args: Any) -> Any:
            self.seen += 1
            if self.seen <= skip:
                return _Sources()
            self.statement = statement
            raise _Captured

    recorder = Recorder()
    with pytest.raises(_Captured):
        await call(recorder)
    return recorder.statement


QUERIES: list[tuple[str, Any, str]] = [
    (
        "report: stock-outs overlapping a period",
        lambda c: c.execute(reports.stockouts_query(WHEN, UNTIL, Cut(), c.dialect.name)),
        "ix_stockouts_opened_at ix_stockouts_resolved_at",
    ),
    (
        "report: feed-silence incidents",
        lambda c: reports.feed_silences(c, WHEN, UNTIL),
        "ix_stockouts_opened_at",
    ),
    (
        "report: messages sent",
        lambda c: reports.load_sends(c, WHEN, UNTIL, Cut()),
        # PostgreSQL without statistics (a test table) may take the plain index on `at`; both serve
        "ix_audit_events_kind_at|ix_audit_events_at",
    ),
    (
        "report: out now",
        lambda c: reports.load_out_now(c, Cut()),
        "uq_alerts_unresolved",
    ),
    (
        "report: units sold over days",
        lambda c: history.units_sold(c, date(2026, 11, 20), date(2026, 11, 26)),
        "ix_daily_stock_day",
    ),
    (
        "timeline: one product-location's events",
        lambda c: history.events_of(c, ("TOK-A", "Reno"), WHEN, UNTIL),
        "ix_events_sku_location_occurred_at",
    ),
    ("timeline: one alert's audit rows", lambda c: history.audit_of(c, 7), "ix_audit_events_alert_id"),
    (
        "timeline: digests that carried the alert",
        lambda c: history.digests_with(c, 7, WHEN, UNTIL),
        "ix_audit_events_digests",
    ),
    (
        "retention: one source's old events",
        lambda c: history.prune_events(c, WHEN, 10, batch=10),
        "ix_events_source_received_at",
    ),
]
PAGES: list[tuple[str, AlertFilter, str]] = [
    ("alerts: one state", AlertFilter(state="open"), "ix_alerts_state_id"),
    ("alerts: one location", AlertFilter(location="Reno"), "ix_alerts_location_id"),
    ("alerts: one SKU", AlertFilter(sku="TOK-A"), "ix_alerts_sku_location_resolved"),
    ("alerts: opened since", AlertFilter(since=WHEN), "ix_alerts_opened_at"),
]


@pytest.fixture
async def conn(db_url: str) -> Any:
    engine = create_engine(db_url)
    await upgrade(engine)
    async with engine.connect() as connection:
        if engine.dialect.name == "postgresql":
            await connection.exec_driver_sql("SET enable_seqscan = off")
        yield connection
    await engine.dispose()


@pytest.mark.parametrize(("what", "call", "index"), QUERIES, ids=[q[0] for q in QUERIES])
async def test_report_and_timeline_queries_use_their_index(
    conn: AsyncConnection, what: str, call: Any, index: str
) -> None:
    # retention first lists the sources, and the digest lookup the alert's deliveries: explain what follows
    skip = 1 if what.startswith(("retention", "timeline: digests")) else 0
    statement = await statement_of(conn, call, skip=skip)
    found = await plan(conn, statement)
    for name in index.split():  # each name must appear; "a|b": either
        assert any(choice in found for choice in name.split("|")), f"{what}:\n{found}"


@pytest.mark.parametrize(("what", "chosen", "index"), PAGES, ids=[p[0] for p in PAGES])
async def test_alert_pages_use_their_index(
    conn: AsyncConnection, what: str, chosen: AlertFilter, index: str
) -> None:
    found = await plan(conn, page_query(chosen, before_id=1000, limit=51, dialect=conn.dialect.name))
    assert index in found, f"{what}:\n{found}"


async def test_the_first_page_walks_the_primary_key_without_sorting(conn: AsyncConnection) -> None:
    found = await plan(conn, page_query(AlertFilter(), before_id=None, limit=51))
    assert "TEMP B-TREE" not in found and "Sort" not in found.split("\n")[0], found


async def test_the_successor_look_up_finds_queued_deliveries_through_their_alerts(
    conn: AsyncConnection,
) -> None:
    """After a flush of outcomes, what is still queued for those alerts: read through the alerts' index,
    never every pending delivery by status (with a backlog, that was every flush's largest cost)."""
    if conn.dialect.name == "postgresql":
        sql = outbox._WAITING_PG.replace("$1::int8[]", "ARRAY[1, 2, 3]::int8[]")
        found = "\n".join(str(row[0]) for row in (await conn.exec_driver_sql("EXPLAIN " + sql)).all())
        assert "ix_deliveries_status" not in found, found
        return
    found = await plan(conn, outbox._WAITING.params(b_alerts=[1, 2, 3]))
    assert "ix_deliveries_alert_channel" in found and "ix_deliveries_status" not in found, found
    text = outbox._WAITING_PLAIN.format(alerts="?, ?, ?")
    rows = (await conn.exec_driver_sql("EXPLAIN QUERY PLAN " + text, (1, 2, 3))).all()
    found = "\n".join(str(row[-1]) for row in rows)
    assert "ix_deliveries_alert_channel" in found and "ix_deliveries_status" not in found, found
