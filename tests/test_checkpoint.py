"""The SQLite writer's commits never checkpoint the WAL (that stalled whichever event was being committed
when the WAL crossed 1,000 pages); a checkpointer beside it copies the WAL into the database file."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from stockbot.storage.ingest_rows import SqliteWriterDb


def in_database_file(path: Path) -> int | None:
    """Rows of ``probe`` in the database file alone: ``immutable=1`` makes SQLite ignore the WAL."""
    reader = sqlite3.connect(f"file:{path}?immutable=1", uri=True)
    try:
        return int(reader.execute("SELECT count(*) FROM probe").fetchone()[0])
    except sqlite3.OperationalError:  # the table itself is still only in the WAL
        return None
    finally:
        reader.close()


async def test_the_writer_never_checkpoints_and_the_checkpointer_does(tmp_path: Path) -> None:
    path = tmp_path / "stockbot.db"
    db = SqliteWriterDb(str(path))
    try:
        assert db.connection.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 0
        async with db.transaction():
            db.connection.execute("CREATE TABLE probe (n INTEGER)")
            db.connection.executemany("INSERT INTO probe VALUES (?)", [(n,) for n in range(100)])
        # Committed (in the WAL), and far below the 1,000 pages at which SQLite would checkpoint on its own:
        # only the checkpointer can bring the rows into the database file.
        for _ in range(300):
            if in_database_file(path) == 100:
                break
            await asyncio.sleep(0.1)
        assert in_database_file(path) == 100
    finally:
        await db.close()
