"""How stockbot's SQLite connections are set up for speed, and that the speed-ups change no stored value."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import text

from stockbot.storage import ingest_rows
from stockbot.storage.db import create_engine
from stockbot.storage.ingest_rows import STATEMENT_CACHE, SqliteWriterDb, sqlite_time

MEMORY = 2  # PRAGMA temp_store: 0 default (a file), 1 file, 2 memory


async def test_every_connection_keeps_temporary_data_in_memory(tmp_path: Path) -> None:
    """A multi-row write's statement journal and a materialized CTE stay off the disk: with the default,
    SQLite creates and unlinks a temporary file for them in each write transaction."""
    path = tmp_path / "stockbot.db"
    writer = SqliteWriterDb(str(path))
    try:
        assert writer.connection.execute("PRAGMA temp_store").fetchone()[0] == MEMORY
        assert writer.connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        await writer.close()
    engine = create_engine(f"sqlite+aiosqlite:///{path}")
    try:
        async with engine.connect() as conn:
            assert (await conn.execute(text("PRAGMA temp_store"))).scalar() == MEMORY
    finally:
        await engine.dispose()


def test_the_writer_keeps_more_prepared_statements_than_sqlite3s_default() -> None:
    # One statement text per shape and number of rows: a dozen shapes times the batch sizes seen under load.
    assert STATEMENT_CACHE >= 12 * 50 > 128


@pytest.mark.parametrize(
    "value",
    [
        datetime(2026, 11, 30, 9, 30, 0, 0, tzinfo=UTC),
        datetime(2026, 11, 30, 9, 30, 0, 123456, tzinfo=UTC),
        datetime(2026, 11, 30, 11, 30, 0, 5, tzinfo=timezone(timedelta(hours=2))),
    ],
)
def test_a_time_is_stored_as_sqlalchemy_stores_it_whatever_came_before(value: datetime) -> None:
    expected = value.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
    assert sqlite_time(value) == expected
    assert sqlite_time(value) == expected  # the same object again: the remembered text
    other = value + timedelta(microseconds=1)
    assert sqlite_time(other) != expected  # an equal-looking neighbour is converted, not remembered
    assert sqlite_time(None) is None
    assert sqlite_time(value) == expected
    # the same instant in another zone is the same UTC text, remembered or not
    assert sqlite_time(value.astimezone(timezone(timedelta(hours=-5, minutes=-30)))) == expected


def test_the_remembered_times_stay_bounded_and_right_after_the_memory_is_emptied() -> None:
    start = datetime(2026, 11, 30, 9, 30, tzinfo=UTC)
    for n in range(ingest_rows.TIME_TEXTS * 2 + 7):
        at = start + timedelta(microseconds=n)
        assert sqlite_time(at) == f"2026-11-30 09:30:00.{n:06d}"
        assert len(ingest_rows._time_texts) <= ingest_rows.TIME_TEXTS


@pytest.mark.skipif(sys.platform == "win32", reason="uvloop is not installed on Windows")
def test_stockbot_serve_runs_on_uvloop_where_it_is_installed() -> None:
    import asyncio

    import uvloop

    from stockbot.bot.eventloop import use_fast_event_loop

    before = asyncio.get_event_loop_policy()
    try:
        assert use_fast_event_loop() == "uvloop"
        loop = asyncio.new_event_loop()  # the writer's thread makes its loop this way
        try:
            assert isinstance(loop, uvloop.Loop)
        finally:
            loop.close()
    finally:
        asyncio.set_event_loop_policy(before)
