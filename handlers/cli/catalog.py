"""``stockbot catalog``: products, their per-location minimums, and the CSV they come from."""

from __future__ import annotations

import getpass
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from stockbot.handlers.cli.common import (
    ConfigOption,
    config_from,
    engine_for,
    fail,
    parse_when,
    run,
)
from stockbot.storage.audit import append, audit_row
from stockbot.storage.catalog import import_levels, import_rows

LISTED = 20  # level changes printed one by one; the audit log has them all

catalog_app = typer.Typer(help="Products and their per-location minimums.", no_args_is_help=True)


@catalog_app.command("import")
def catalog_import(
    file: Annotated[
        Path,
        typer.Argument(
            help="CSV: sku,name,category,key_product,location,minimum,critical_level,on_hand[,lead_time_days]"
        ),
    ],
    set_levels: Annotated[
        bool,
        typer.Option(
            "--set-levels",
            help="Also set stock levels from the on_hand column (each audited; a level changed by an event "
            "after --as-of is kept). Without it, levels are left to events.",
        ),
    ] = False,
    as_of: Annotated[
        str | None,
        typer.Option(help="When the on_hand counts were taken, e.g. 2026-11-30T07:00Z (default: now)."),
    ] = None,
    by: Annotated[
        str | None, typer.Option("--by", help="Who is importing, for the audit log (default: your login).")
    ] = None,
    reason: Annotated[str | None, typer.Option(help="Why, for the audit log, e.g. 'year-end count'.")] = None,
    config_path: ConfigOption = None,
) -> None:
    """Add or update products and minimums from a CSV file (all or nothing); levels only with --set-levels."""
    from stockbot.storage.catalog import CatalogError, parse_csv

    config = config_from(config_path)
    if not file.exists():
        raise fail(f"{file}: no such file")
    counted_at = parse_when(as_of, "--as-of") or datetime.now(UTC)
    if as_of is not None and not set_levels:
        raise fail("--as-of says when the on_hand counts were taken: use it with --set-levels")
    typer.echo(f"reading {file} …", err=True)
    try:
        rows = parse_csv(file.read_text(encoding="utf-8-sig"), source=file.name)
    except CatalogError as exc:
        raise fail(f"{len(exc.problems)} problem(s); nothing was imported\n{exc}") from None
    typer.echo(f"{len(rows):,} rows are valid; importing in one transaction …", err=True)
    who = by or getpass.getuser()
    request = ImportRequest(rows, file.name, who, reason, counted_at if set_levels else None)
    result = run(lambda: _import(config, request))
    typer.echo(f"imported {result.products} products at {result.locations} product-locations from {file}")
    for line in result.lines(sum(r.on_hand is not None for r in rows)):
        typer.echo(line)


@dataclass(frozen=True)
class ImportRequest:
    rows: list[Any]
    file: str
    by: str
    reason: str | None
    as_of: datetime | None  # None: leave levels alone


@dataclass
class ImportResult:
    products: int
    locations: int
    levels: list[Any] = field(default_factory=list)  # storage.catalog.LevelChange
    alerts: list[str] = field(default_factory=list)
    set_levels: bool = False

    def lines(self, counted: int) -> list[str]:
        if not self.set_levels:
            if not counted:
                return []
            return [
                f"levels unchanged: {counted} row(s) give on_hand; pass --set-levels to set them "
                "(audited; a level changed by a newer event is kept)"
            ]
        applied = [c for c in self.levels if c.applied]
        kept = [c for c in self.levels if not c.applied]
        lines = [f"set {len(applied)} level(s); {counted - len(self.levels)} already matched the count"]
        lines += [f"  {c.sku} at {c.location}: {_shown(c.before)} → {c.after}" for c in applied[:LISTED]]
        if len(applied) > LISTED:
            lines.append(f"  … and {len(applied) - LISTED} more (each is in the audit log: level.imported)")
        for c in kept:
            when = f"{c.newer_event_at:%Y-%m-%d %H:%M} UTC" if c.newer_event_at else "?"
            lines.append(
                f"kept {c.sku} at {c.location} at {_shown(c.before)} (counted {c.after}): an event from "
                f"{c.newer_source or '?'} at {when} is newer than the count"
            )
        lines += [f"alert {line}" for line in self.alerts]
        return lines


def _shown(value: int | None) -> str:
    return "unknown" if value is None else str(value)


async def _import(config: Any, request: ImportRequest) -> ImportResult:
    if request.as_of is None:
        engine = await engine_for(config)
        try:
            async with engine.begin() as conn:
                result = ImportResult(*await import_rows(conn, request.rows))
                await append(conn, [_summary(request, result)])
            return result
        finally:
            await engine.dispose()
    return await _import_with_levels(config, request, request.as_of)


async def _import_with_levels(config: Any, request: ImportRequest, as_of: datetime) -> ImportResult:
    """Levels move alerts, so this goes through the alert desk: a count of 0 opens one, a count above the
    minimum plus the buffer resolves one, all in the import's transaction."""
    from stockbot.bot.permissions import Actor
    from stockbot.bot.runtime import Runtime

    runtime = await Runtime.create(config)
    actor = Actor(id=request.by, via="cli", name=request.by)
    try:
        async with runtime.desk.transaction() as conn:  # its deliveries go to the dispatcher on commit
            result = ImportResult(*await import_rows(conn, request.rows), set_levels=True)
            now = runtime.clock.now()
            result.levels = await import_levels(
                conn,
                request.rows,
                as_of=as_of,
                actor=actor.label,
                now=now,
                file=request.file,
                reason=request.reason,
            )
            for change in (c for c in result.levels if c.applied):
                outcome = await runtime.desk.reassess(conn, change.sku, change.location, actor)
                if outcome is not None:
                    alert = outcome.alert
                    result.alerts.append(f"#{alert.id} {outcome.event}: {alert.sku} at {alert.location}")
            await append(conn, [_summary(request, result)])
        await runtime.dispatcher.drain()
        return result
    finally:
        await runtime.stop()


def _summary(request: ImportRequest, result: ImportResult) -> dict[str, Any]:
    detail: dict[str, Any] = {
        "file": request.file,
        "products": result.products,
        "locations": result.locations,
        "set_levels": result.set_levels,
    }
    if result.set_levels:
        detail["levels_set"] = sum(c.applied for c in result.levels)
        detail["levels_kept"] = sum(not c.applied for c in result.levels)
    if request.reason:
        detail["reason"] = request.reason
    now = datetime.now(UTC)
    return audit_row(now, "catalog.imported", f"cli:{request.by}", **detail)


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
        engine = await engine_for(config)
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
