"""Work that may wait (``GroupCommitter.run(..., linger=…)``) shares the next transaction instead of
starting one of its own, and still commits when nothing comes to share it with."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from stockbot.bot.runtime import Runtime
from stockbot.storage.ingest_rows import Rows
from tests.helpers import test_config as config_for

pytestmark = pytest.mark.parametrize("db_url", ["sqlite", "postgres"], indirect=True)


@pytest.fixture
async def runtime(db_url: str) -> AsyncIterator[Runtime]:
    runtime = await Runtime.create(config_for(db_url), migrate=True)
    await runtime.start(dispatch=False)
    yield runtime
    await runtime.stop()


async def nothing(_rows: Rows) -> str:
    return "done"


async def test_lingering_work_rides_with_the_next_transaction(runtime: Runtime) -> None:
    before = runtime.writer.committed
    # A long linger: only the second job's arrival can make the first one go.
    lingering = asyncio.create_task(runtime.writer.run(nothing, linger=30.0))
    await asyncio.sleep(0.05)
    assert not lingering.done() and runtime.writer.committed == before
    assert await asyncio.wait_for(runtime.writer.run(nothing), 20) == "done"
    assert await asyncio.wait_for(lingering, 20) == "done"
    assert runtime.writer.committed == before + 1  # one transaction for both


async def test_lingering_work_alone_commits_when_its_linger_is_over(runtime: Runtime) -> None:
    before = runtime.writer.committed
    assert await asyncio.wait_for(runtime.writer.run(nothing, linger=0.05), 20) == "done"
    assert await asyncio.wait_for(runtime.writer.run(nothing, linger=0.05), 20) == "done"
    assert runtime.writer.committed == before + 2  # nothing else came: each went alone


async def test_lingering_work_is_refused_not_lost_when_the_writer_stops(runtime: Runtime) -> None:
    lingering = asyncio.create_task(runtime.writer.run(nothing, linger=30.0))
    await asyncio.sleep(0.05)
    await runtime.writer.stop()
    with pytest.raises(RuntimeError, match="the writer stopped"):
        await asyncio.wait_for(lingering, 20)
