"""What every command shares: the ``--config`` option, reading and checking the config, errors, running."""

from __future__ import annotations

import asyncio
import errno
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from stockbot.bot.config import Config, ConfigError, load_config
from stockbot.bot.runtime import check_config

T = TypeVar("T")
PROGRESS_EVERY = 10_000

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        help="Config file (default: $STOCKBOT_CONFIG or ./stockbot.toml).",
        show_default=False,
    ),
]


def fail(message: str, code: int = 2) -> typer.Exit:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    return typer.Exit(code)


def config_from(path: Path | None) -> Config:
    try:
        config = load_config(path)
        check_config(config)
        return config
    except ConfigError as exc:
        raise fail(f"invalid config\n{exc}") from None


def run(coro_fn: Callable[[], Awaitable[T]]) -> T:
    return asyncio.run(coro_fn())  # type: ignore[arg-type]


async def engine_for(config: Config, migrate: bool = True) -> Any:
    from stockbot.storage.db import create_engine, upgrade

    engine = create_engine(config.storage.url, pool_size=2)
    if migrate:
        await upgrade(engine)
    return engine


def parse_when(value: str | None, option: str) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise fail(
            f"{option}: {value!r} is not a date or time; write e.g. 2026-11-01 or 2026-11-01T08:00Z"
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def redacted_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def listen_error(exc: OSError, host: str, port: int) -> typer.Exit:
    """One line for the usual reasons a server cannot listen, instead of a traceback."""
    if exc.errno == errno.EADDRINUSE:
        return fail(
            f"port {port} on {host} is already in use: stop the other server or pick another with --port"
        )
    if exc.errno == errno.EACCES:
        return fail(f"no permission to listen on port {port}: use a port above 1023 with --port")
    if exc.errno == errno.EADDRNOTAVAIL:
        return fail(f"{host} is not an address of this machine: use --host 127.0.0.1 or 0.0.0.0")
    return fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}")
