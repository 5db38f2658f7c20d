"""`stockbot report` as a user runs it: a real process, a real config file, a real SQLite file."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

from stockbot.storage.catalog import DEMO_CATALOG
from tests.test_cli import config, stockbot

__all__ = ["config"]  # the fixture, shared with tests/test_cli.py


def test_report_as_json_csv_and_a_self_contained_html_page(config: Path, tmp_path: Path) -> None:
    stockbot("catalog", "import", str(DEMO_CATALOG), config=config)
    stockbot(
        "flag",
        "CAB-PACMAN-UP",
        "--location",
        "Chicago DC",
        "--by",
        "dana",
        "--reason",
        "dropped",
        config=config,
    )

    found = json.loads(stockbot("report", "--format", "json", config=config).stdout)
    now = found["current"]
    assert (now["period"]["days"], found["previous"]["period"]["days"]) == (7, 7)
    assert (now["stockouts"]["opened"], now["stockouts"]["by_trigger"], now["stockouts"]["out_now"]) == (
        1,
        {"manual": 1},
        1,
    )
    assert now["stockouts"]["by_severity"] == {"low": 0, "out": 0, "critical": 1}  # a key product out
    assert now["response"]["never_acknowledged"] == 1
    (flagged,) = [
        p for p in found["products"] if p["sku"] == "CAB-PACMAN-UP" and p["location"] == "Chicago DC"
    ]
    assert (flagged["stockouts"], flagged["units_sold"], flagged["lead_time_days"]) == (1, 0, 7)

    out = tmp_path / "chicago.csv"
    result = stockbot(
        "report",
        "--since",
        "30d",
        "--location",
        "Chicago DC",
        "--format",
        "csv",
        "--out",
        str(out),
        config=config,
    )
    assert "wrote the csv report" in result.stderr and result.stdout == ""
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert {r["location"] for r in rows} == {"Chicago DC"}
    assert [r["stockouts"] for r in rows if r["sku"] == "CAB-PACMAN-UP"] == ["1"]

    page = tmp_path / "report.html"
    stockbot("report", "--since", "2026-01-01", "--format", "html", "-o", str(page), config=config)
    html = page.read_text()
    assert html.lstrip().lower().startswith("<!doctype html")
    assert "<svg" in html
    # self-contained: nothing fetched (no script, stylesheet link, image or font from elsewhere)
    assert not re.search(r"<script|<link|src=|url\(", html, re.IGNORECASE)


def test_bad_report_options_are_named(config: Path) -> None:
    for args, expected in [
        (["--since", "yesterday"], "--since 'yesterday': write a number of days like 30d"),
        (["--since", "0d"], "between 1d and 3660d"),
        (["--since", "30d", "--until", "2026-11-01"], "--until goes with a date in --since"),
        (["--since", "2026-11-10", "--until", "2026-11-01"], "--until must be after --since"),
        (["--format", "pdf"], "--format 'pdf': choose html, csv or json"),
    ]:
        result = stockbot("report", *args, config=config, check=False)
        assert result.returncode == 2 and expected in result.stderr, (args, result.stderr)
