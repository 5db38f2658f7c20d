"""Engines for SQLite (the embedded default) and PostgreSQL (scale-out), and schema migration.

SQLite runs in WAL mode with ``synchronous=FULL``: a 202 means the event is on disk, not in a page cache.
Every SQLite write transaction starts with ``BEGIN IMMEDIATE`` so two writers (the server and a CLI command)
queue on the lock instead of failing on a stale snapshot; read-only work passes ``stockbot_read=True``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
READ_ONLY = {"stockbot_read": True}


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def create_engine(url: str, *, pool_size: int = 10, busy_timeout: float = 30.0) -> AsyncEngine:
    """``busy_timeout`` (SQLite): seconds a statement waits for another process's lock before failing."""
    if is_sqlite(url):
        path = url.split(":///", 1)[1] if ":///" in url else ""
        if path and path != ":memory:":
            Path(path).expanduser().resolve().parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, connect_args={"timeout": busy_timeout}, pool_size=pool_size)
        _configure_sqlite(engine, int(busy_timeout * 1000))
        return engine
    return create_async_engine(url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True)


def _configure_sqlite(engine: AsyncEngine, busy_ms: int) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control from the driver so we can say BEGIN IMMEDIATE ourselves.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        for pragma in (
            "journal_mode=WAL",
            "synchronous=FULL",
            "foreign_keys=ON",
            f"busy_timeout={busy_ms}",
        ):
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def on_begin(conn: Connection) -> None:
        read_only = conn.get_execution_options().get("stockbot_read", False)
        conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


# PostgreSQL SQLSTATE classes and codes that mean "the database cannot serve us now", not "this statement is
# wrong": connection exceptions, too many connections or out of resources, shutting down or starting up,
# a database that is gone or renamed, refused login, no CONNECT privilege, connections not allowed.
_PG_AWAY_CLASSES = ("08", "53", "57", "28", "3D")
_PG_AWAY_CODES = ("55000", "42501", "55P03")
# SQLite's result codes for the same: locked by another process, the file or its disk gone or unusable.
_SQLITE_AWAY = (
    "database is locked",
    "unable to open database",
    "disk i/o error",
    "database or disk is full",
    "readonly database",
    "database disk image is malformed",
)


def unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` means the database is away (down, locked, unreachable, refusing connections), not
    that it refused a statement: callers answer the first 503 with Retry-After; the second is a bug."""
    seen: set[int] = set()
    error: BaseException | None = exc
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, sa_exc.TimeoutError | OSError | TimeoutError):  # pool exhausted, no route
            return True
        if isinstance(error, sa_exc.DBAPIError) and error.connection_invalidated:
            return True
        sqlstate = getattr(error, "sqlstate", None)
        if isinstance(sqlstate, str) and (sqlstate[:2] in _PG_AWAY_CLASSES or sqlstate in _PG_AWAY_CODES):
            return True
        if type(error).__module__ == "sqlite3" and any(m in str(error).lower() for m in _SQLITE_AWAY):
            return True
        error = getattr(error, "orig", None) or error.__cause__ or error.__context__
    return False


def alembic_config(connection: Connection | None = None) -> AlembicConfig:
    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    """Apply migrations up to ``revision`` (idempotent; called by ``stockbot db upgrade`` and at start)."""
    async with engine.begin() as conn:
        await conn.run_sync(lambda sync: command.upgrade(alembic_config(sync), revision))
