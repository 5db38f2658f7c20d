"""The database away, for real: 503 problem+json with Retry-After on every route that needs it, /readyz 503
while /livez stays 200, and one ``database.unavailable`` audit row per outage once the database is back.

SQLite is made unavailable the way it happens in practice: another process holds its write lock (with a
short ``[storage] busy_timeout`` so the test does not wait 30 s). PostgreSQL: the database stops accepting
connections and the server ends the ones stockbot holds; and, through a relay that holds back the socket's
close, the moment between the server's FATAL message and that close, when a pooled session looks open.
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
from stockbot.storage.db import unavailable
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


class EndingHeldBack:
    """A TCP relay to PostgreSQL that passes the server's words at once but holds back its end of the
    connection while ``holding``: the moment between a FATAL "terminating connection" and the socket's close,
    which a real network (or a pooler in between) can stretch, and which a pooled connection can be
    checked out in."""

    def __init__(self) -> None:
        self.holding = False
        self.ended = 0  # server sides that have closed
        self._held: list[asyncio.StreamWriter] = []
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> EndingHeldBack:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *_: object) -> None:
        self.release()
        assert self._server is not None
        self._server.close()

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    def release(self) -> None:
        self.holding = False
        for client in self._held:
            client.close()
        self._held.clear()

    async def _relay(self, client_in: asyncio.StreamReader, client_out: asyncio.StreamWriter) -> None:
        server_in, server_out = await asyncio.open_connection("127.0.0.1", 5432)
        upstream = asyncio.create_task(self._pipe(client_in, server_out))
        await self._pipe(server_in, client_out, ending=True)
        upstream.cancel()

    async def _pipe(
        self, source: asyncio.StreamReader, sink: asyncio.StreamWriter, *, ending: bool = False
    ) -> None:
        try:
            while chunk := await source.read(65536):
                sink.write(chunk)
                await sink.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        if ending:
            self.ended += 1
            if self.holding:
                self._held.append(sink)
                return
        sink.close()


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
async def test_a_session_ended_before_its_socket_closes_is_503_not_500(
    stockbot: HarnessFactory, db_url: str
) -> None:
    async with EndingHeldBack() as relay:
        harness = await stockbot(storage={"url": db_url.replace(":5432/", f":{relay.port}/")})
        assert harness.runtime is not None
        # the dispatcher stays stopped, so the pooled session the server ends is the next request's
        assert (await harness.post("/events/inventory", event("CAB-PACMAN-UP", 0, event_id="e0")))[0] == 202
        relay.holding = True
        async with database_away(db_url):
            for _ in range(100):  # until the server has ended the pooled sessions (the bound: a broken build)
                if relay.ended:
                    break
                await asyncio.sleep(0.02)
            await asyncio.sleep(0.05)  # asyncpg reads the FATAL; the socket's end stays held back
            status, problem = await harness.post("/events/inventory", event("CAB-PACMAN-UP", 1))
            assert status == 503, problem
            assert "retry in 5 seconds" in problem["detail"]
            relay.release()
        await outage_sweep(harness.runtime.outage)()
        [row] = await outages(harness)
        assert row["detail"]["error"].startswith("the server ended the database session")
        assert (await harness.post("/events/inventory", event("CAB-PACMAN-UP", 2, event_id="e2")))[0] == 202
        assert await count(harness, events) == 2


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
async def test_two_statements_at_once_on_one_session_stay_a_bug_not_an_outage(db_url: str) -> None:
    """The client-side error a session the server ended gives is close kin to one our own code would cause
    by using a session twice at once: that one must stay a 500 and a logged bug, not a quiet 503."""
    conn = await asyncpg.connect(db_url.replace("+asyncpg", ""))
    try:
        first = asyncio.ensure_future(conn.execute("SELECT pg_sleep(0.2)"))
        await asyncio.sleep(0.02)
        with pytest.raises(asyncpg.InterfaceError) as raised:
            await conn.execute("SELECT 1")
        await first
    finally:
        await conn.close()
    assert "another operation is in progress" in str(raised.value)
    assert not unavailable(raised.value)
