"""``stockbot catalog``: products, their per-location minimums, and the CSV they come from."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from stockbot.handlers.cli.common import (
    ConfigOption,
    config_from,
    engine_for,
    fail,
    run,
)

catalog_app = typer.Typer(help="Products and their per-location minimums.", no_args_is_help=True)


@catalog_app.command("import")
def catalog_import(
    file: Annotated[
        Path,
        typer.Argument(
            help="CSV: sku,name,category,key_product,location,minimum,critical_level,on_hand[,lead_time_days]"
        ),
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
        engine = await engine_for(config)
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
