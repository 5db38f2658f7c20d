"""The ``stockbot`` command line. Every command reads the same config (``--config`` or ./stockbot.toml)."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from stockbot.bot.config import Config, ConfigError, load_config
from stockbot.handlers.cli.teams import teams_app

T = TypeVar("T")
PROGRESS_EVERY = 10_000

app = typer.Typer(
    help="stockbot tells sales teams the moment key stock runs out, and keeps everyone honest about it.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
catalog_app = typer.Typer(help="Products and their per-location minimums.", no_args_is_help=True)
deliveries_app = typer.Typer(
    help="The outbox: what was sent, what is waiting, what failed.", no_args_is_help=True
)
audit_app = typer.Typer(help="The append-only audit log.", no_args_is_help=True)
channels_app = typer.Typer(help="Configured destinations.", no_args_is_help=True)
config_app = typer.Typer(help="The config file.", no_args_is_help=True)
for sub, name in [
    (db_app, "db"),
    (catalog_app, "catalog"),
    (deliveries_app, "deliveries"),
    (audit_app, "audit"),
    (channels_app, "channels"),
    (config_app, "config"),
    (teams_app, "teams"),
]:
    app.add_typer(sub, name=name)

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
        return load_config(path)
    except ConfigError as exc:
        raise fail(f"invalid config\n{exc}") from None


def run(coro_fn: Callable[[], Awaitable[T]]) -> T:
    return asyncio.run(coro_fn())  # type: ignore[arg-type]


async def _engine(config: Config, migrate: bool = True) -> Any:
    from stockbot.storage.db import create_engine, upgrade

    engine = create_engine(config.storage.url, pool_size=2)
    if migrate:
        await upgrade(engine)
    return engine


def _when(value: str | None, option: str) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise fail(
            f"{option}: {value!r} is not a date or time; write e.g. 2026-11-01 or 2026-11-01T08:00Z"
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


# --- serve and demo -----------------------------------------------------------------------------------


@app.command()
def serve(
    config_path: ConfigOption = None,
    host: Annotated[str | None, typer.Option(help="Listen address (default from [server] host).")] = None,
    port: Annotated[int | None, typer.Option(help="Listen port (default from [server] port).")] = None,
) -> None:
    """Run the bot: inbound events, Slack and Teams front ends, dispatcher and scheduled sweeps."""
    from stockbot.handlers.cli.serve import serve as run_server

    config = config_from(config_path)
    run_server(config, host or config.server.host, port if port is not None else config.server.port)


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

    asyncio.run(play(port=port, speed=speed, keep_running=keep_running, database=database))


# --- db, config -----------------------------------------------------------------------------------------


@db_app.command("upgrade")
def db_upgrade(config_path: ConfigOption = None) -> None:
    """Apply schema migrations (also done at every start)."""
    config = config_from(config_path)

    async def go() -> None:
        engine = await _engine(config)
        await engine.dispose()

    run(go)
    typer.echo(f"database is up to date ({_redacted_url(config.storage.url)})")


def _redacted_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


@config_app.command("check")
def config_check(config_path: ConfigOption = None) -> None:
    """Validate the config and summarise it (secrets are never printed)."""
    from stockbot.bot.routing import channels_of, routes_of

    config = config_from(config_path)
    typer.echo(f"storage:  {_redacted_url(config.storage.url)}")
    typer.echo(f"sources:  {', '.join(config.sources) or '(none: /events/* refuses every request)'}")
    for name, channel in channels_of(config).items():
        typer.echo(f"channel:  {name} → {channel.adapter}:{channel.address}")
    for index, route in enumerate(routes_of(config)):
        match = {k: v for k, v in route.match.model_dump().items() if v}
        escalation = (
            f", escalate to {route.escalate_to} after {route.escalate_after}" if route.escalate_to else ""
        )
        typer.echo(f"route {index}:  {match or 'everything'} → {route.channels}{escalation}")
    typer.secho("config is valid", fg=typer.colors.GREEN)


# --- catalog --------------------------------------------------------------------------------------------


@catalog_app.command("import")
def catalog_import(
    file: Annotated[
        Path,
        typer.Argument(help="CSV: sku,name,category,key_product,location,minimum,critical_level,on_hand"),
    ],
    config_path: ConfigOption = None,
) -> None:
    """Add or update products and minimums from a CSV file (all or nothing)."""
    from stockbot.storage.catalog import CatalogError, import_rows, parse_csv

    config = config_from(config_path)
    if not file.exists():
        raise fail(f"{file}: no such file")
    typer.echo(f"reading {file} …", err=True)
    try:
        rows = parse_csv(file.read_text(encoding="utf-8-sig"), source=file.name)
    except CatalogError as exc:
        raise fail(f"{len(exc.problems)} problem(s); nothing was imported\n{exc}") from None
    typer.echo(f"{len(rows):,} rows are valid; importing in one transaction …", err=True)

    async def go() -> tuple[int, int]:
        engine = await _engine(config)
        try:
            async with engine.begin() as conn:
                return await import_rows(conn, rows)
        finally:
            await engine.dispose()

    products, levels = run(go)
    typer.echo(f"imported {products} products at {levels} product-locations from {file}")


@catalog_app.command("export")
def catalog_export(
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="File to write (default: stdout).")
    ] = None,
    config_path: ConfigOption = None,
) -> None:
    """Write the catalog, with current levels, as CSV."""
    from stockbot.storage.catalog import export_csv

    config = config_from(config_path)

    async def go() -> str:
        engine = await _engine(config)
        try:
            return await export_csv(engine)
        finally:
            await engine.dispose()

    text = run(go)
    if output:
        output.write_text(text)
        typer.echo(f"wrote {text.count(chr(10)) - 1} rows to {output}", err=True)
    else:
        sys.stdout.write(text)


# --- flag -----------------------------------------------------------------------------------------------


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


# --- deliveries -----------------------------------------------------------------------------------------


@deliveries_app.command("list")
def deliveries_list(
    status: Annotated[
        list[str] | None, typer.Option(help="pending, sending, delivered, failed, dead, superseded")
    ] = None,
    limit: Annotated[int, typer.Option(min=1)] = 50,
    config_path: ConfigOption = None,
) -> None:
    """Show recent deliveries, newest first."""
    from stockbot.storage.deliveries import listing

    config = config_from(config_path)

    async def go() -> list[dict[str, Any]]:
        engine = await _engine(config)
        try:
            return await listing(engine, status, limit)
        finally:
            await engine.dispose()

    rows = run(go)
    if not rows:
        typer.echo("no deliveries")
    for r in rows:
        error = f"  {r['last_error'][:80]}" if r["last_error"] else ""
        typer.echo(
            f"{r['id']:>6} alert {r['alert_id'] or '-':>5} {r['channel']:<16} {r['event']:<12} "
            f"{r['status']:<10} attempts {r['attempts']}{error}"
        )


@deliveries_app.command("retry")
def deliveries_retry(
    ids: Annotated[list[int] | None, typer.Argument(help="Delivery ids (see `deliveries list`).")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Re-drive every dead or failed delivery.")] = False,
    config_path: ConfigOption = None,
) -> None:
    """Re-drive dead-lettered (or permanently failed) deliveries: they are queued again with a fresh age."""
    from stockbot.storage.audit import audit_row, record
    from stockbot.storage.deliveries import redrive

    if not ids and not all_:
        raise fail("name delivery ids, or pass --all to re-drive every dead or failed delivery")
    config = config_from(config_path)

    async def go() -> list[int]:
        engine = await _engine(config)
        try:
            now = datetime.now(UTC)
            redriven = await redrive(engine, now, None if all_ else ids)
            if redriven:
                await record(
                    engine, audit_row(now, "delivery.redriven", "cli:deliveries-retry", ids=redriven)
                )
            return redriven
        finally:
            await engine.dispose()

    redriven = run(go)
    typer.echo(f"queued again: {', '.join(map(str, redriven))}" if redriven else "nothing to retry")


# --- audit ----------------------------------------------------------------------------------------------


@audit_app.command("export")
def audit_export(
    since: Annotated[str | None, typer.Option(help="From this time (inclusive), e.g. 2026-11-01.")] = None,
    until: Annotated[str | None, typer.Option(help="Up to this time (exclusive).")] = None,
    format_: Annotated[str, typer.Option("--format", help="csv or json (JSON Lines).")] = "csv",
    output: Annotated[Path | None, typer.Option("--output", "-o", help="File (default: stdout).")] = None,
    config_path: ConfigOption = None,
) -> None:
    """Stream the audit log as CSV or JSON Lines."""
    from stockbot.storage.audit import export

    if format_ not in ("csv", "json"):
        raise fail(f"--format {format_!r}: choose csv or json")
    config = config_from(config_path)
    start, end = _when(since, "--since"), _when(until, "--until")

    async def go() -> int:
        engine = await _engine(config, migrate=False)
        out = output.open("w") if output else sys.stdout
        count = 0
        try:
            async for line in export(engine, start, end, format_):
                out.write(line)
                count += 1
                if output and count % PROGRESS_EVERY == 0:  # stdout may be the data: progress on stderr
                    typer.echo(f"… {count:,} rows", err=True)
        finally:
            await engine.dispose()
            if output:
                out.close()
        return count

    count = run(go)
    if output:
        typer.echo(f"wrote {count - (format_ == 'csv')} audit rows to {output}", err=True)


# --- channels -------------------------------------------------------------------------------------------


@channels_app.command("list")
def channels_list(config_path: ConfigOption = None) -> None:
    """List configured channels."""
    from stockbot.bot.routing import channels_of

    for name, channel in channels_of(config_from(config_path)).items():
        typer.echo(f"{name:<20} {channel.adapter:<14} {channel.address}")


@channels_app.command("test")
def channels_test(
    name: Annotated[str, typer.Argument(help="A [channels.NAME] from the config.")],
    config_path: ConfigOption = None,
) -> None:
    """Send a test alert to one channel through the outbox and print what came back."""
    from stockbot.handlers.cli.channels import send_test

    config = config_from(config_path)
    ok, report = run(lambda: send_test(config, name))
    typer.secho(report, fg=typer.colors.GREEN if ok else typer.colors.RED)
    if not ok:
        raise typer.Exit(1)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
