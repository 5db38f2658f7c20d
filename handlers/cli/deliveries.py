"""``stockbot deliveries``: the outbox, what was sent, what waits, what failed."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import typer

from stockbot.handlers.cli.common import (
    ConfigOption,
    config_from,
    engine_for,
    fail,
    run,
)

deliveries_app = typer.Typer(
    help="The outbox: what was sent, what is waiting, what failed.", no_args_is_help=True
)


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
        engine = await engine_for(config)
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
        engine = await engine_for(config)
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
