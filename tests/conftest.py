"""Shared fixtures: a real SQLite file and a real PostgreSQL database per test, and the real app on 127.0.0.1.

PostgreSQL tests skip with a reason when no server answers on 127.0.0.1:5432; ``STOCKBOT_REQUIRE_POSTGRES=1``
(set by ``.ci/run``) turns that skip into a failure.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from stockbot.bot.runtime import Runtime
from tests.helpers import PG_ADMIN_URL, StockbotHarness, test_config

pytest_plugins: list[str] = []


async def _pg_reachable() -> str | None:
    import asyncpg

    try:
        conn = await asyncpg.connect(PG_ADMIN_URL, timeout=3)
        await conn.close()
    except Exception as exc:  # any failure means "no server here"
        return f"{type(exc).__name__}: {exc}"
    return None


_PG_PROBLEM: str | bool | None = False  # False: not probed yet


async def require_postgres() -> None:
    global _PG_PROBLEM
    if _PG_PROBLEM is False:
        _PG_PROBLEM = await _pg_reachable()
    if _PG_PROBLEM:
        reason = f"no PostgreSQL server at 127.0.0.1:5432 ({_PG_PROBLEM}); start one to run these tests"
        if os.environ.get("STOCKBOT_REQUIRE_POSTGRES") == "1":
            pytest.fail(reason)
        pytest.skip(reason)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A fresh, empty database URL on each engine: a SQLite file, or a PostgreSQL database of its own."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'stockbot.db'}"
        return
    await require_postgres()
    import asyncpg

    name = f"stockbot_test_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(PG_ADMIN_URL)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    yield f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
    admin = await asyncpg.connect(PG_ADMIN_URL)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'stockbot.db'}"


@pytest.fixture
async def writer_runtime(db_url: str) -> AsyncIterator[Runtime]:
    """The runtime with its group-commit writer running and its dispatcher not: the writer's own tests."""
    runtime = await Runtime.create(test_config(db_url), migrate=True)
    await runtime.start(dispatch=False)
    yield runtime
    await runtime.stop()


HarnessFactory = Callable[..., Awaitable[StockbotHarness]]


@pytest.fixture
async def stockbot(db_url: str) -> AsyncIterator[HarnessFactory]:
    """``await stockbot(config_overrides...)`` starts the real app on 127.0.0.1 with the demo catalog."""
    started: list[StockbotHarness] = []

    async def start(**overrides: Any) -> StockbotHarness:
        harness = StockbotHarness(db_url, overrides)
        await harness.start()
        started.append(harness)
        return harness

    yield start
    for harness in reversed(started):
        await harness.close()
