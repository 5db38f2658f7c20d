"""The ``stockbot`` command line: one module per command group, registered here.

Every command reads the same config (``--config`` or ./stockbot.toml); the shared pieces are in common.py.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer

from stockbot.handlers.cli.alerts import alerts_app
from stockbot.handlers.cli.audit import audit_app
from stockbot.handlers.cli.catalog import catalog_app
from stockbot.handlers.cli.channels import channels_app
from stockbot.handlers.cli.common import ConfigOption, config_from, fail, listen_error, run
from stockbot.handlers.cli.config import config_app
from stockbot.handlers.cli.db import db_app
from stockbot.handlers.cli.deliveries import deliveries_app
from stockbot.handlers.cli.init import init
from stockbot.handlers.cli.report import report_command
from stockbot.handlers.cli.teams import teams_app
from stockbot.handlers.cli.tokens import tokens_app

app = typer.Typer(
    help="stockbot tells sales teams the moment key stock runs out, and keeps everyone honest about it.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # help texts name config sections like [server]: print them as written
)
for sub, name in [
    (db_app, "db"),
    (catalog_app, "catalog"),
    (deliveries_app, "deliveries"),
    (alerts_app, "alerts"),
    (audit_app, "audit"),
    (channels_app, "channels"),
    (config_app, "config"),
    (teams_app, "teams"),
    (tokens_app, "tokens"),
]:
    app.add_typer(sub, name=name)
app.command()(init)
app.command("report")(report_command)


@app.command()
def serve(
    config_path: ConfigOption = None,
    host: Annotated[str | None, typer.Option(help="Listen address (default from [server] host).")] = None,
    port: Annotated[int | None, typer.Option(help="Listen port (default from [server] port).")] = None,
) -> None:
    """Run the bot: inbound events, Slack and Teams front ends, dispatcher and scheduled sweeps."""
    from stockbot.handlers.cli.serve import serve as run_server

    config = config_from(config_path)
    host = host or config.server.host
    port = port if port is not None else config.server.port
    try:
        run_server(config, host, port)
    except OSError as exc:
        raise listen_error(exc, host, port) from None


@app.command()
def demo(
    port: Annotated[int, typer.Option(help="Port for the demo server.")] = 3978,
    speed: Annotated[float, typer.Option(help="Playback speed: 2 plays twice as fast.", min=0.1)] = 1.0,
    keep_running: Annotated[
        bool, typer.Option("--keep-running/--exit", help="Keep serving after the script has played.")
    ] = True,
    database: Annotated[Path, typer.Option(help="SQLite file for the demo (recreated).")] = Path(
        "stockbot-demo.db"
    ),
) -> None:
    """Play a scripted stream of demo events through a real stockbot, no credentials needed."""
    from stockbot.handlers.cli.demo import play

    try:
        asyncio.run(play(port=port, speed=speed, keep_running=keep_running, database=database))
    except OSError as exc:
        raise listen_error(exc, "127.0.0.1", port) from None
    except KeyboardInterrupt:
        typer.echo("\nstopped", err=True)


@app.command()
def flag(
    sku: Annotated[str, typer.Argument(help="The product's SKU.")],
    by: Annotated[str, typer.Option("--by", help="Who is flagging it (recorded in the audit log).")],
    location: Annotated[str | None, typer.Option(help="Location (needed when stocked in several).")] = None,
    reason: Annotated[str | None, typer.Option(help="Why, e.g. 'damaged in transit'.")] = None,
    config_path: ConfigOption = None,
) -> None:
    """Flag a product out of stock by hand, whatever the system's level says."""
    from stockbot.bot.alerts import NotFound
    from stockbot.bot.permissions import Actor
    from stockbot.bot.runtime import Runtime

    config = config_from(config_path)

    async def go() -> str:
        runtime = await Runtime.create(config)
        try:
            runtime.writer.start()
            outcome = await runtime.desk.flag(sku, location, Actor(id=by, via="cli", name=by), reason)
            await runtime.dispatcher.drain()
            alert = outcome.alert
            return f"alert #{alert.id} {outcome.event}: {alert.sku} at {alert.location}, {alert.severity}"
        except NotFound as exc:
            raise fail(str(exc)) from None
        finally:
            await runtime.stop()

    typer.echo(run(go))


def main() -> None:
    app()


if __name__ == "__main__":
    main()
