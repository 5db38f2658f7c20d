"""The writer's transactions side by side: on PostgreSQL a second batch starts while the first is still open,
the row locks keep them apart as they keep replicas apart, and a transaction PostgreSQL rolls back to break a
deadlock is run again; on SQLite, which has one writer anyway, batches still go one at a time."""

from __future__ import annotations

import asyncio
import random
import threading
from datetime import timedelta

import asyncpg
import pytest
from sqlalchemy import func, select, text

from stockbot.bot.runtime import Runtime
from stockbot.storage.db import rolled_back, unavailable
from stockbot.storage.ingest_rows import Rows
from stockbot.storage.tables import alerts, events, stock_levels
from tests.conftest import HarnessFactory
from tests.helpers import T0, event


def held_until(release: threading.Event, started: threading.Event) -> object:
    """Work that keeps its transaction open until ``release`` is set (it runs on the writer's thread)."""

    async def work(_rows: Rows) -> str:
        started.set()
        await asyncio.to_thread(release.wait, 20)  # the writer's loop goes on meanwhile
        return "held"

    return work


async def quick(_rows: Rows) -> str:
    return "quick"


@pytest.mark.parametrize("db_url", ["sqlite", "postgres"], indirect=True)
async def test_a_second_batch_waits_for_an_open_transaction_only_where_one_writer_is_allowed(
    writer_runtime: Runtime, db_url: str
) -> None:
    release, started = threading.Event(), threading.Event()
    held = asyncio.create_task(writer_runtime.writer.run(held_until(release, started)))  # type: ignore[arg-type]
    assert await asyncio.to_thread(started.wait, 20), "the held transaction never started"
    second = asyncio.create_task(writer_runtime.writer.run(quick))
    await asyncio.sleep(0.3)
    if db_url.startswith("postgresql"):
        assert second.done() and second.result() == "quick"  # committed beside the open transaction
        assert not held.done()
    else:
        assert not second.done()  # SQLite: behind the open transaction's write lock
    release.set()
    assert await asyncio.wait_for(held, 20) == "held"
    assert await asyncio.wait_for(second, 20) == "quick"


@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
async def test_a_transaction_rolled_back_for_a_deadlock_is_run_again(writer_runtime: Runtime) -> None:
    runs: list[int] = []

    async def deadlocks_once(rows: Rows) -> str:
        runs.append(1)
        if len(runs) == 1:  # the server's own error, through the driver, as a real deadlock raises it
            await rows.core.execute(
                text("DO $$ BEGIN RAISE EXCEPTION 'crossed' USING ERRCODE = 'deadlock_detected'; END $$")
            )
        return "committed"

    before = writer_runtime.writer.committed
    assert await asyncio.wait_for(writer_runtime.writer.run(deadlocks_once), 20) == "committed"
    assert len(runs) == 2 and writer_runtime.writer.committed == before + 1


@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
async def test_a_real_deadlock_reads_as_rolled_back_not_as_the_database_being_away(db_url: str) -> None:
    dsn = db_url.replace("postgresql+asyncpg", "postgresql")
    first, second = await asyncpg.connect(dsn), await asyncpg.connect(dsn)
    try:
        await first.execute("CREATE TABLE crossing (id int PRIMARY KEY)")
        await first.execute("INSERT INTO crossing VALUES (1), (2)")
        async with first.transaction(), second.transaction():
            await first.execute("UPDATE crossing SET id = id WHERE id = 1")
            await second.execute("UPDATE crossing SET id = id WHERE id = 2")
            crossed = await asyncio.gather(
                first.execute("UPDATE crossing SET id = id WHERE id = 2"),
                second.execute("UPDATE crossing SET id = id WHERE id = 1"),
                return_exceptions=True,
            )
            errors = [e for e in crossed if isinstance(e, BaseException)]
            assert len(errors) == 1  # PostgreSQL broke the cycle by failing one side
            assert rolled_back(errors[0]) and not unavailable(errors[0])
            raise asyncio.CancelledError  # leave both transactions by rolling back
    except asyncio.CancelledError:
        pass
    finally:
        await first.close()
        await second.close()
    assert not rolled_back(ValueError("not a database error"))


@pytest.mark.parametrize("db_url", ["sqlite", "postgres"], indirect=True)
async def test_events_for_the_same_products_from_many_requests_at_once_leave_one_alert_and_the_latest_level(
    stockbot: HarnessFactory,
) -> None:
    """Forty requests at once over three products, their times shuffled: whichever transaction locks a
    product first, the newest event's level wins, each product has at most one alert open, and every event
    is stored once."""
    harness = await stockbot()
    skus = ["CAB-PACMAN-UP", "CAB-GALAGA-CKT", "CAB-SF2-CE"]
    sent = []
    for n in range(40):
        sku = skus[n % 3]
        on_hand = 0 if n % 2 == 0 else n
        sent.append(event(sku, on_hand, event_id=f"c-{n}", at=T0 + timedelta(seconds=n)))
    random.Random(11).shuffle(sent)
    answers = await asyncio.gather(*(harness.post("/events/inventory", body) for body in sent))
    assert [status for status, _ in answers] == [202] * len(sent)
    assert harness.runtime is not None
    async with harness.runtime.engine.connect() as conn:
        for sku in skus:
            newest = max((body for body in sent if body["sku"] == sku), key=lambda b: b["occurred_at"])
            level = select(stock_levels.c.on_hand).where(
                stock_levels.c.sku == sku, stock_levels.c.location == "Chicago DC"
            )
            assert (await conn.execute(level)).scalar_one() == newest["on_hand"]
            open_alerts = select(func.count()).where(alerts.c.sku == sku, alerts.c.state != "resolved")
            assert (await conn.execute(open_alerts)).scalar_one() <= 1
        stored = select(func.count(func.distinct(events.c.event_id))).select_from(events)
        assert (await conn.execute(stored)).scalar_one() == len(sent)
        rows = select(func.count()).select_from(events)
        assert (await conn.execute(rows)).scalar_one() == len(sent)
