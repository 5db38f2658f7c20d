"""The database away, for real: 503 problem+json with Retry-After on every route that needs it, /readyz 503
while /livez stays 200, and one ``database.unavailable`` audit row per outage once the database is back.

SQLite is made unavailable the way it happens in practice: another process holds its write lock (with a
short ``[storage] busy_timeout`` so the test does not wait 30 s). PostgreSQL: the database stops accepting
connections and the server ends the ones stockbot holds.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import pytest
from sqlalchemy import select

from stockbot.scheduler.jobs import outage_sweep
from stockbot.storage.tables import audit_events, events
from tests.conftest import HarnessFactory
from tests.helpers import PG_ADMIN_URL, StockbotHarness, event
from tests.test_events_api import count


@asynccontextmanager
async def database_away(db_url: str) -> AsyncIterator[None]:
    if db_url.startswith("sqlite"):
        # Taken off the event loop: a write transaction stockbot has under way (the dispatcher's, say) ends
        # only when the loop runs, so a blocking BEGIN here would wait on it until its own timeout.
        holder = sqlite3.connect(
            db_url.split(":///", 1)[1], isolation_level=None, timeout=30, check_same_thread=False
        )
        await asyncio.to_thread(holder.execute, "BEGIN EXCLUSIVE")  # another process's write lock, held
        try:
            yield
        finally:
            await asyncio.to_thread(holder.execute, "ROLLBACK")
            holder.close()
        return
    name = db_url.rsplit("/", 1)[1]
    admin = await asyncpg.connect(PG_ADMIN_URL)
    try:
        await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        await admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", name)
        yield
    finally:
        await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        await admin.close()


async def get(harness: StockbotHarness, path: str) -> tuple[int, Any, dict[str, str]]:
    assert harness.http is not None
    async with harness.http.get(harness.url + path) as response:
        body = await response.json() if "json" in response.content_type else await response.text()
        return response.status, body, dict(response.headers)


async def ready(harness: StockbotHarness) -> None:
    """Wait for /readyz to answer 200 (the bound only keeps a broken build from hanging)."""
    for _ in range(300):
        if (await get(harness, "/readyz"))[0] == 200:
            return
        await asyncio.sleep(0.1)
    pytest.fail("/readyz never answered 200")


async def outages(harness: StockbotHarness) -> list[dict[str, Any]]:
    assert harness.runtime is not None
    query = select(audit_events).where(audit_events.c.kind == "database.unavailable")
    async with harness.runtime.engine.connect() as conn:
        return [dict(r) for r in (await conn.execute(query)).mappings().all()]


async def test_database_away_is_503_with_retry_after_and_audited_once(
    stockbot: HarnessFactory, db_url: str
) -> None:
    harness = await stockbot(storage={"busy_timeout": 0.2})
    assert harness.runtime is not None
    harness.runtime.dispatcher.start()
    # On a disk busy with other work, a start-up transaction can hold the lock past the 0.2 s given here:
    # that brief outage is real and audited too, so this test counts the rows of its own outage only.
    await ready(harness)
    before = len(await outages(harness))

    async with database_away(db_url):
        for n in range(3):
            status, problem = await harness.post(
                "/events/inventory", event("CAB-PACMAN-UP", n, event_id=f"e{n}")
            )
            assert status == 503, problem
            assert problem["status"] == 503 and "retry in 5 seconds" in problem["detail"]
        assert harness.http is not None
        async with harness.http.post(harness.url + "/events/inventory", json=event("CAB-PACMAN-UP", 0)) as r:
            # unsigned: its refusal cannot be audited, so it is not refused silently either
            assert (r.status, r.headers["Retry-After"], r.content_type) == (
                503,
                "5",
                "application/problem+json",
            )
        status, body, headers = await get(harness, "/readyz")
        assert (status, body["database"], headers["Retry-After"]) == (503, False, "5")
        assert (await get(harness, "/healthz"))[0] == 503  # the older name of readiness
        assert (await get(harness, "/livez"))[:2] == (200, {"status": "ok"})  # no restart for an outage
        assert (await get(harness, "/openapi.json"))[0] == 200

    # Back: the scheduler's outage sweep (or the next readiness probe) writes the outage's one row.
    await outage_sweep(harness.runtime.outage)()
    status, body, _ = await get(harness, "/readyz")
    assert (status, body["database"]) == (200, True)
    rows = await outages(harness)
    assert len(rows) == before + 1
    row = rows[-1]
    assert row["actor"] == "stockbot"
    assert row["detail"]["refused"] == 4
    assert row["detail"]["since"] <= row["detail"]["until"]
    assert row["detail"]["error"]
    assert await count(harness, events) == 0  # nothing answered 503 was stored
    await harness.send(event("CAB-PACMAN-UP", 4, event_id="after"))
    assert await count(harness, events) == 1
    assert len(await outages(harness)) == before + 1


async def test_a_probe_during_the_outage_keeps_it_open(stockbot: HarnessFactory, db_url: str) -> None:
    harness = await stockbot(storage={"busy_timeout": 0.2})
    assert harness.runtime is not None
    async with database_away(db_url):
        assert (await harness.post("/events/inventory", event("CAB-PACMAN-UP", 1)))[0] == 503
        await outage_sweep(harness.runtime.outage)()  # the database is still away: nothing written
        assert harness.runtime.outage.ongoing
    assert (await get(harness, "/readyz"))[1]["database"] is True
    assert [r["detail"]["refused"] for r in await outages(harness)] == [1]
