"""``stockbot report``: the report of README "History and reports", as a file.

``--format html`` is the browser's ``/reports`` page, self-contained (``adapters/render/report_html.py``);
``csv`` the product table (one row per product-location: stock-outs, time out, rate of sale, days of cover,
suggested reorder); ``json`` everything, as ``GET /api/v1/reports/summary`` answers it.
"""

from __future__ import annotations

import json
import re
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer

from stockbot.adapters.report_data import Cut, Period, Report
from stockbot.handlers.cli.common import ConfigOption, config_from, engine_for, fail, run

FORMATS = ("html", "csv", "json")
_DAYS = re.compile(r"^\s*(\d{1,4})\s*d\s*$")


def parse_period(since: str, until: str | None, now: datetime) -> Period:
    """``--since 30d`` (the last 30 days, today included), or ``--since 2026-11-01`` [``--until``]."""
    end = _date(until, "--until") if until else None
    days = _DAYS.match(since)
    if days:
        if end is not None:
            raise fail(
                "--until goes with a date in --since (e.g. --since 2026-11-01), not with a number of days"
            )
        count = int(days.group(1))
        if not 1 <= count <= 3660:
            raise fail(f"--since {since!r}: between 1d and 3660d")
        return Period.last(count, now)
    start = _date(since, "--since")
    end = end or now.astimezone(UTC).date() + timedelta(days=1)
    if end <= start:
        raise fail("--until must be after --since")
    return Period.between(start, end, now)


def _date(value: str, option: str) -> date:
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise fail(
            f"{option} {value!r}: write a number of days like 30d, or a date like 2026-11-01"
        ) from None


def report_command(
    since: Annotated[
        str, typer.Option(help="The last N days (e.g. 30d, today included) or a first day (2026-11-01).")
    ] = "7d",
    until: Annotated[
        str | None, typer.Option(help="Day after the last (exclusive), with a date --since.")
    ] = None,
    location: Annotated[str | None, typer.Option(help="Only this location.")] = None,
    category: Annotated[str | None, typer.Option(help="Only this category.")] = None,
    sku: Annotated[str | None, typer.Option(help="Only this SKU.")] = None,
    format_: Annotated[str, typer.Option("--format", help="html, csv or json.")] = "html",
    out: Annotated[Path | None, typer.Option("--out", "-o", help="File to write (default: stdout).")] = None,
    config_path: ConfigOption = None,
) -> None:
    """The report: stock-outs, response times, repeat offenders, business impact, noise, what to reorder."""
    from stockbot.bot.reports import report, report_csv

    if format_ not in FORMATS:
        raise fail(f"--format {format_!r}: choose html, csv or json")
    config = config_from(config_path)
    period = parse_period(since, until, datetime.now(UTC))
    cut = Cut(location=location, category=category, sku=sku)

    async def go() -> Report:
        engine = await engine_for(config)
        try:
            return await report(engine, config, period, cut)
        finally:
            await engine.dispose()

    found = run(go)
    if format_ == "csv":
        text = report_csv(found)
    elif format_ == "json":
        text = json.dumps(found.to_json(), indent=2) + "\n"
    else:
        from stockbot.adapters.render.report_html import report_page

        text = report_page(found)
    if out is None:
        sys.stdout.write(text)
        return
    out.write_text(text, encoding="utf-8")
    last = period.end - timedelta(days=1)
    typer.echo(f"wrote the {format_} report of {period.start} to {last} to {out}", err=True)
