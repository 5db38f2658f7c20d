"""Work that may wait (``GroupCommitter.run(..., linger=…)``) shares the next transaction instead of
starting one of its own, and still commits when nothing comes to share it with."""

from __future__ import annotations

import asyncio

import pytest

from stockbot.bot.runtime import Runtime
from stockbot.storage.ingest_rows import Rows

pytestmark = pytest.mark.parametrize("db_url", ["sqlite", "postgres"], indirect=True)


async def nothing(_rows: Rows) -> str:
    return "done"


async def test_lingering_work_rides_with_the_next_transaction(writer_runtime: Runtime) -> None:
    before = writer_runtime.writer.committed
    # A long linger: only the second job's arrival can make the first one go.
    lingering = asyncio.create_task(writer_runtime.writer.run(nothing, linger=30.0))
    await asyncio.sleep(0.05)
    assert not lingering.done() and writer_runtime.writer.committed == before
    assert await asyncio.wait_for(writer_runtime.writer.run(nothing), 20) == "done"
    assert await asyncio.wait_for(lingering, 20) == "done"
    assert writer_runtime.writer.committed == before + 1  # one transaction for both


async def test_lingering_work_alone_commits_when_its_linger_is_over(writer_runtime: Runtime) -> None:
    before = writer_runtime.writer.committed
    assert await asyncio.wait_for(writer_runtime.writer.run(nothing, linger=0.05), 20) == "done"
    assert await asyncio.wait_for(writer_runtime.writer.run(nothing, linger=0.05), 20) == "done"
    assert writer_runtime.writer.committed == before + 2  # nothing else came: each went alone


async def test_lingering_work_is_refused_not_lost_when_the_writer_stops(writer_runtime: Runtime) -> None:
    lingering = asyncio.create_task(writer_runtime.writer.run(nothing, linger=30.0))
    await asyncio.sleep(0.05)
    await writer_runtime.writer.stop()
    with pytest.raises(RuntimeError, match="the writer stopped"):
        await asyncio.wait_for(lingering, 20)
