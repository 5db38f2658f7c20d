"""``stockbot db``: the database schema."""

from __future__ import annotations

import typer

from stockbot.handlers.cli.common import (
    ConfigOption,
    config_from,
    engine_for,
    redacted_url,
    run,
)

db_app = typer.Typer(help="Database schema.", no_args_is_help=True)


@db_app.command("upgrade")
def db_upgrade(config_path: ConfigOption = None) -> None:
    """Apply schema migrations (also done at every start)."""
    config = config_from(config_path)

    async def go() -> None:
        engine = await engine_for(config)
        await engine.dispose()

    run(go)
    typer.echo(f"database is up to date ({redacted_url(config.storage.url)})")
