"""Engines for SQLite (the embedded default) and PostgreSQL (scale-out), and schema migration.

SQLite runs in WAL mode with ``synchronous=FULL``: a 202 means the event is on disk, not in a page cache.
Every SQLite write transaction starts with ``BEGIN IMMEDIATE`` so two writers (the server and a CLI command)
queue on the lock instead of failing on a stale snapshot; read-only work passes ``stockbot_read=True``.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import event, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Connection, ExceptionContext
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

if TYPE_CHECKING:
    from alembic.config import Config as AlembicConfig

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
READ_ONLY = {"stockbot_read": True}
# temp_store=MEMORY: a multi-row statement's statement journal (INSERT … ON CONFLICT, UPDATE … FROM) and a
# materialized CTE otherwise go to a temporary file, created and unlinked for each write transaction.
SQLITE_PRAGMAS = ("journal_mode=WAL", "synchronous=FULL", "foreign_keys=ON", "temp_store=MEMORY")


def sqlite_pragmas(busy_ms: int) -> tuple[str, ...]:
    """Every SQLite connection's pragmas (the engine's and the group-commit writer's own)."""
    return (*SQLITE_PRAGMAS, f"busy_timeout={busy_ms}")


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
    engine = create_async_engine(url, pool_size=pool_size, max_overflow=pool_size)
    _configure_postgresql(engine)
    return engine


def _configure_postgresql(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "checkout")
    def on_checkout(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        # Instead of SQLAlchemy's pre-ping, which costs three round trips per checkout on asyncpg (BEGIN,
        # an empty query, ROLLBACK) and so per writer transaction: a connection the server ended (restart,
        # outage, pg_terminate_backend) has usually seen its socket close by the time it is checked out
        # again, and asyncpg knows it without asking. Raising DisconnectionError makes the pool replace it.
        # One checked out between the server's FATAL and the close is caught by on_error below.
        if dbapi_connection.driver_connection.is_closed():
            raise sa_exc.DisconnectionError("the server closed this pooled connection")

    @event.listens_for(engine.sync_engine, "handle_error")
    def on_error(context: ExceptionContext) -> None:
        # SQLAlchemy takes an asyncpg error for a disconnect only once the socket is closed; a session the
        # server ended a moment earlier is as gone, so the pool drops it and the error reads as one.
        if ended_by_server(context.original_exception):
            context.is_disconnect = True


def _configure_sqlite(engine: AsyncEngine, busy_ms: int) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control from the driver so we can say BEGIN IMMEDIATE ourselves.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        for pragma in sqlite_pragmas(busy_ms):
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


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and what it wraps: SQLAlchemy's ``orig``, then causes and contexts, each once."""
    seen: set[int] = set()
    error: BaseException | None = exc
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        yield error
        error = getattr(error, "orig", None) or error.__cause__ or error.__context__


def unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` means the database is away (down, locked, unreachable, refusing connections), not
    that it refused a statement: callers answer the first 503 with Retry-After; the second is a bug."""
    for error in _causes(exc):
        if isinstance(error, sa_exc.TimeoutError | OSError | TimeoutError):  # pool exhausted, no route
            return True
        if isinstance(error, sa_exc.DBAPIError) and error.connection_invalidated:
            return True
        sqlstate = getattr(error, "sqlstate", None)
        if isinstance(sqlstate, str) and (sqlstate[:2] in _PG_AWAY_CLASSES or sqlstate in _PG_AWAY_CODES):
            return True
        if type(error).__module__ == "sqlite3" and any(m in str(error).lower() for m in _SQLITE_AWAY):
            return True
        if _session_ended(error):
            return True
    return False


def ended_by_server(exc: BaseException) -> bool:
    """Whether ``exc`` is, or wraps, asyncpg refusing a statement on a session the server has just ended."""
    return any(_session_ended(error) for error in _causes(exc))


def _session_ended(error: BaseException) -> bool:
    """The server ends a session (restart, outage, ``pg_terminate_backend``, ``idle_session_timeout``) with a
    FATAL message, then closes the socket. A connection that has read the message but not yet the close is
    still open to asyncpg, stuck in its error-consuming state (2), and refuses any statement with this error.
    Nothing but an unprompted server error puts an idle connection in that state.
    """
    return type(error).__module__.startswith("asyncpg") and "operation (2) is in progress" in str(error)


def rolled_back(exc: BaseException) -> bool:
    """Whether PostgreSQL rolled the transaction back to break a deadlock or a serialization conflict
    (SQLSTATE class 40): the same work run again commits."""
    return any(str(getattr(error, "sqlstate", "")).startswith("40") for error in _causes(exc))


def alembic_config(connection: Connection | None = None) -> AlembicConfig:
    from alembic.config import Config as AlembicConfig

    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


@cache
def head_revision() -> str:
    """The newest migration, read from the migration files' ``revision`` / ``down_revision`` lines.

    Read without alembic, so that a start on a database already at head never imports it (about 11 MiB).
    """
    revisions: set[str] = set()
    replaced: set[str] = set()
    for path in (MIGRATIONS_DIR / "versions").glob("*.py"):
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.AnnAssign | ast.Assign) and isinstance(node.value, ast.Constant):
                target = node.target if isinstance(node, ast.AnnAssign) else node.targets[0]
                name, value = getattr(target, "id", None), node.value.value
                if not isinstance(value, str):
                    continue  # down_revision = None: the first migration
                if name == "revision":
                    revisions.add(value)
                elif name == "down_revision" and value:
                    replaced.add(value)
    heads = revisions - replaced
    if len(heads) != 1:
        raise RuntimeError(f"the migrations have {len(heads)} heads ({sorted(heads)}); merge them")
    return heads.pop()


async def current_revision(engine: AsyncEngine) -> str | None:
    """The database's schema revision with a plain query; None for an empty database."""
    try:
        async with engine.connect() as conn:
            conn = await conn.execution_options(**READ_ONLY)
            return (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalar()
    except DBAPIError:  # no alembic_version table yet
        return None


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    """Apply migrations up to ``revision`` (idempotent; called by ``stockbot db upgrade`` and at start).

    Alembic is imported only when there is something to apply.
    """
    if revision == "head" and await current_revision(engine) == head_revision():
        return
    from alembic import command

    async with engine.begin() as conn:
        await conn.run_sync(lambda sync: command.upgrade(alembic_config(sync), revision))


async def fetch_tuples(conn: Any, statement: Any) -> list[tuple[Any, ...]]:
    """Run a SELECT through the driver itself, in ``conn``'s transaction, and return plain tuples.

    For the few reads that return tens of thousands of rows (a month of stock-outs for a report), where
    SQLAlchemy's row objects would cost as much as the query. Only for statements whose columns need no
    result processing (numbers and text) and whose parameters are plain values or aware datetimes."""
    compiled = statement.compile(dialect=conn.dialect)
    values = compiled.construct_params()
    args = [values[name] for name in compiled.positiontup or []]
    raw = (await conn.get_raw_connection()).driver_connection
    if conn.dialect.name == "postgresql":
        return [tuple(record) for record in await raw.fetch(str(compiled), *args)]
    args = [_sqlite_value(arg) for arg in args]
    return list(await raw.execute_fetchall(str(compiled), args))


def _sqlite_value(value: Any) -> Any:
    """What the UTCDateTime type stores on SQLite: naive UTC text with microseconds."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
    return value
