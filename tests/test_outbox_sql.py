"""The outbox's plain-SQL statements on the SQLite writer's own connection write exactly what its SQLAlchemy
statements write elsewhere: the same claims, the same outcome rows, the same remembered cards. PostgreSQL's
one statement for a batch of outcomes and their audit rows writes what SQLAlchemy writes on SQLite.

While the dispatcher runs beside the group-commit writer, every claim and outcome goes through
``CoreOnThread.plain``; tests that drive the dispatcher by hand (``run_once``) go through the engine's
connection and SQLAlchemy. Both are run here on twin databases, and every column is compared.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert, select

from stockbot.bot.runtime import Runtime
from stockbot.storage import deliveries as outbox
from stockbot.storage.audit import audit_row
from stockbot.storage.deliveries import Claimed, Mark
from stockbot.storage.ingest_rows import SqliteWriterDb, driver_of, rows_for
from stockbot.storage.tables import alert_posts, audit_events, deliveries
from tests.helpers import T0
from tests.helpers import test_config as config_for

LEASE = timedelta(seconds=30)
NOW = T0 + timedelta(minutes=1)


def rows() -> list[dict[str, Any]]:
    """Posts of alerts 1–6 to channels a and b, and an update of alert 1 in a behind its post."""
    found = []
    for alert_id, channel, event in [
        *((n, c, "opened") for n in range(1, 7) for c in ("a", "b")),
        (1, "a", "updated"),
    ]:
        found.append(
            {
                "alert_id": alert_id,
                "channel": channel,
                "adapter": "webhook",
                "event": event,
                "message": {"alert_id": alert_id, "event": event, "text": "Ünïcode ✓"},
                "idempotency_key": f"a{alert_id}-{event}-{channel}",
                "status": "pending",
                "attempts": 0,
                "next_attempt_at": T0,
                "created_at": T0,
            }
        )
    return found


def outcomes(claimed: list[Claimed]) -> list[Mark]:
    """One of each kind of outcome, over the claims in id order."""
    at = NOW + timedelta(seconds=7)
    by_id = {item.id: item for item in claimed}
    kinds = [
        lambda i, p: Mark(i, "delivered", external_id=f"ext-{i}", pair=p, remember=True),
        lambda i, p: Mark(i, "delivered", external_id=None, pair=p, remember=False),
        lambda i, p: Mark(i, "pending", at=at, error="HTTP 503 " + "x" * 2100, pair=p),
        lambda i, p: Mark(i, "held", at=at, error="digest retry", pair=p),
        lambda i, p: Mark(i, "failed", error="HTTP 404", pair=p),
        lambda i, p: Mark(i, "dead", error="too old", pair=p),
        lambda i, p: Mark(i, "pending", attempted=False, at=at),
        lambda i, p: Mark(i, "held", attempted=False, at=at),
    ]
    ids = sorted(by_id)
    return [
        kinds[n % len(kinds)](i, (by_id[i].alert_id, by_id[i].channel) if by_id[i].alert_id else None)
        for n, i in enumerate(ids)
    ]


async def table(runtime: Runtime, which: Any) -> list[tuple[Any, ...]]:
    async with runtime.engine.connect() as conn:
        query = select(which).order_by(*which.primary_key.columns)
        return [tuple(row) for row in (await conn.execute(query)).all()]


async def test_plain_claims_and_outcomes_write_what_sqlalchemy_writes(tmp_path: Path) -> None:
    runtimes = []
    for name in ("plain", "core"):
        runtime = await Runtime.create(config_for(f"sqlite+aiosqlite:///{tmp_path / name}.db"), migrate=True)
        async with runtime.engine.begin() as conn:
            await conn.execute(insert(deliveries), rows())
            await conn.execute(
                insert(alert_posts), [{"alert_id": 2, "channel": "b", "external_id": "old", "posted_at": T0}]
            )
        runtimes.append(runtime)
    plain_runtime, core_runtime = runtimes
    results: dict[str, Any] = {}
    try:
        writer = SqliteWriterDb(str(tmp_path / "plain.db"))
        statements: list[str] = []
        writer.connection.set_trace_callback(statements.append)
        try:
            async with writer.transaction() as tx:
                results["plain"] = await exercise(tx.core)
        finally:
            await writer.close()
        assert any(" FROM v WHERE deliveries.id = v.id" in s for s in statements)  # the plain path ran
        async with core_runtime.engine.begin() as conn:
            results["core"] = await exercise(conn)
        assert results["plain"] == results["core"]
        claimed, successors, only = results["plain"]
        assert [c.external_id for c in claimed if (c.alert_id, c.channel) == (2, "b")] == ["old"]
        assert [(c.alert_id, c.channel, c.event) for c in successors] == [(1, "a", "updated")]
        assert len(only) == 1
        for which in (deliveries, alert_posts):
            assert await table(plain_runtime, which) == await table(core_runtime, which)
        assert ("delivered", "ext-1") in {(r[7], r[14]) for r in await table(plain_runtime, deliveries)}
    finally:
        for runtime in runtimes:
            await runtime.stop()


async def exercise(conn: Any) -> tuple[list[Claimed], list[Claimed], list[Claimed]]:
    """The outbox's hot statements, in the order the running dispatcher uses them."""
    claimed = await outbox.claim_in(conn, "me", NOW, 11, LEASE)  # alert 1's update waits for its post
    marks = outcomes(claimed)
    await outbox.record(conn, marks, NOW)
    finished = [m.pair for m in marks if m.finished and m.pair]
    successors = await outbox.claim_successors(conn, "me", NOW, LEASE, finished)
    left = [r["idempotency_key"] for r in rows()][11]
    only = await outbox.claim_in(conn, "me", NOW, 5, LEASE, [await id_of(conn, left)])
    return claimed, successors, only


async def id_of(conn: Any, key: str) -> int:
    query = select(deliveries.c.id).where(deliveries.c.idempotency_key == key)
    result = await conn.execute(query)
    return int(result.scalar_one())


async def twins(urls: dict[str, str]) -> dict[str, Runtime]:
    """A runtime per URL, each database holding the same deliveries and one remembered card."""
    runtimes = {}
    for name, url in urls.items():
        runtime = await Runtime.create(config_for(url), migrate=True)
        async with runtime.engine.begin() as conn:
            await conn.execute(insert(deliveries), rows())
            await conn.execute(
                insert(alert_posts), [{"alert_id": 2, "channel": "b", "external_id": "old", "posted_at": T0}]
            )
        runtimes[name] = runtime
    return runtimes


def audit_of(marks: list[Mark]) -> list[dict[str, Any]]:
    return [
        audit_row(
            NOW, f"delivery.{m.status}", "system:me", alert_id=m.pair[0] if m.pair else None, delivery=m.id
        )
        for m in marks
    ]


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
async def test_postgresql_writes_outcomes_and_their_audit_in_one_statement_as_sqlalchemy_does(
    tmp_path: Path, db_url: str
) -> None:
    runtimes = await twins({"pg": db_url, "sqlite": f"sqlite+aiosqlite:///{tmp_path / 'core.db'}"})
    try:
        statements: dict[str, list[str]] = {}
        for name, runtime in runtimes.items():
            async with runtime.engine.begin() as conn:
                claimed = await outbox.claim_in(conn, "me", NOW, 11, LEASE)
                marks = outcomes(claimed)
                seen: list[str] = statements.setdefault(name, [])
                if name == "pg":
                    (await driver_of(conn)).add_query_logger(
                        lambda query, seen=seen: seen.append(query.query)
                    )
                await outbox.record_with_audit(rows_for(conn), marks, audit_of(marks), NOW)
                # A delivery with two kinds of outcome in one batch: written in turn, as record() does.
                twice = [
                    Mark(claimed[0].id, "pending", attempted=False, at=NOW),
                    Mark(claimed[0].id, "failed", error="HTTP 404"),
                ]
                await outbox.record_with_audit(rows_for(conn), twice, audit_of(twice), NOW)
        for which in (deliveries, alert_posts, audit_events):
            assert await table(runtimes["pg"], which) == await table(runtimes["sqlite"], which)
        # asyncpg's own look-ups of array types (once per connection) are not the outbox's statements.
        pg = [q for q in statements["pg"] if q.lstrip().startswith(("WITH w", "UPDATE", "INSERT"))]
        assert len(pg) == 1 + 3, pg  # all four kinds and the audit rows at once; then three in turn
        assert pg[0].startswith("WITH w0 AS (UPDATE deliveries") and "INSERT INTO audit_events" in pg[0]
        assert "INSERT INTO alert_posts" in pg[0]
        assert ("pending", "HTTP 404") == next(
            (r[7], r[13]) for r in await table(runtimes["pg"], deliveries) if r[0] == claimed[0].id
        )
    finally:
        for runtime in runtimes.values():
            await runtime.stop()
