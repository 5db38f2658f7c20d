"""``stockbot audit``: the append-only audit log."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from stockbot.handlers.cli.common import (
    PROGRESS_EVERY,
    ConfigOption,
    config_from,
    engine_for,
    fail,
    parse_when,
    run,
)

audit_app = typer.Typer(help="The append-only audit log.", no_args_is_help=True)


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
    start, end = parse_when(since, "--since"), parse_when(until, "--until")

    async def go() -> int:
        engine = await engine_for(config, migrate=False)
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
