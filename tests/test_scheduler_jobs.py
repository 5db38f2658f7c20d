"""The scheduler's leased ticks: a job cut short by the process stopping is not reported as a failure."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from pathlib import Path

import pytest

from stockbot.bot.runtime import Runtime
from stockbot.scheduler.jobs import leased
from tests.helpers import test_config as config_for


async def test_a_tick_cancelled_by_shutdown_logs_one_line_not_a_failure(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    runtime = await Runtime.create(
        config_for(f"sqlite+aiosqlite:///{tmp_path / 'stockbot.db'}"), migrate=True
    )
    started = asyncio.Event()

    async def sweep() -> int:
        started.set()
        await asyncio.Event().wait()  # still running when the process stops
        return 1

    tick = leased(runtime.engine, runtime.clock, "worker-1", "escalations", timedelta(seconds=15), sweep)
    try:
        with caplog.at_level(logging.INFO, logger="stockbot.scheduler"):
            running = asyncio.ensure_future(tick())
            await asyncio.wait_for(started.wait(), 10)
            running.cancel()  # what APScheduler's executor does to a running job at shutdown
            assert await running is None  # ended quietly: APScheduler sees no exception to log
    finally:
        await runtime.stop()
    assert [r.getMessage() for r in caplog.records if r.name == "stockbot.scheduler"] == [
        "escalations: stopped with the process; the next tick runs it again"
    ]
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
