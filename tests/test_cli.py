"""The `stockbot` command as a user runs it: a real process, a real config file, a real SQLite file."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from stockbot.bot.permissions import Actor
from stockbot.storage.catalog import DEMO_CATALOG
from stockbot.storage.tables import audit_events, stock_levels
from tests.conftest import HarnessFactory
from tests.helpers import StockbotHarness, event

STOCKBOT = str(Path(sys.executable).with_name("stockbot"))


def stockbot(*args: str, config: Path | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    command = [STOCKBOT, *args]
    if config is not None:
        command += ["--config", str(config)]
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "120"}
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, env=env)
    if check:
        assert result.returncode == 0, result.stdout + result.stderr
    return result


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "stockbot.toml"
    path.write_text(
        f'[storage]\nurl = "sqlite:///{tmp_path / "cli.db"}"\n'
        '[channels.terminal]\nadapter = "console"\naddress = "ops"\n'
        '[channels.down]\nadapter = "webhook"\naddress = "http://127.0.0.1:9/hook"\n'
        '[[routes]]\nchannels = ["terminal"]\n'
    )
    return path


def test_help_lists_every_command() -> None:
    text = stockbot("--help").stdout
    for command in (
        "serve",
        "demo",
        "flag",
        "db",
        "catalog",
        "deliveries",
        "alerts",
        "audit",
        "channels",
        "config",
    ):
        assert command in text
    for sub in (
        ["catalog", "import"],
        ["audit", "export"],
        ["deliveries", "retry"],
        ["channels", "test"],
        ["alerts", "resolve"],
    ):
        assert "Usage" in stockbot(*sub, "--help").stdout


def test_a_bad_config_is_refused_with_the_key_named(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('[server]\nprot = 80\n[channels.x]\nadapter = "slak"\naddress = "C1"\n')
    result = stockbot("config", "check", config=path, check=False)
    assert result.returncode == 2
    assert "server.prot: unknown key" in result.stderr
    assert "channels.x.adapter: unknown adapter 'slak'" in result.stderr


def test_catalog_import_export_flag_deliveries_and_audit(config: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("sku,name,location,minimum\nX-1,Thing,Chicago DC,lots\n")
    result = stockbot("catalog", "import", str(bad), config=config, check=False)
    assert (
        result.returncode == 2
        and "bad.csv row 2, column minimum: 'lots' is not a whole number" in result.stderr
    )

    assert (
        "imported 50 products at 100 product-locations"
        in stockbot("catalog", "import", str(DEMO_CATALOG), config=config).stdout
    )
    exported = list(csv.DictReader(io.StringIO(stockbot("catalog", "export", config=config).stdout)))
    assert len(exported) == 100

    flagged = stockbot(
        "flag", "CAB-DK-JR", "--location", "Chicago DC", "--by", "sam", "--reason", "cracked", config=config
    )
    assert "alert #1 opened: CAB-DK-JR at Chicago DC, out" in flagged.stdout
    assert "[ops] #1 opened" in flagged.stdout  # delivered through the outbox to the console channel
    refused = stockbot("flag", "CAB-DK-JR", "--by", "sam", config=config, check=False)
    assert refused.returncode == 2 and "say which location" in refused.stderr

    listing = stockbot("deliveries", "list", config=config).stdout
    assert "terminal" in listing and "delivered" in listing
    assert "nothing to retry" in stockbot("deliveries", "retry", "--all", config=config).stdout

    lines = stockbot("audit", "export", "--format", "json", config=config).stdout.splitlines()
    kinds = [json.loads(line)["kind"] for line in lines]
    # the import, the flag and its delivery, the flag without a location
    assert kinds == ["catalog.imported", "alert.opened", "delivery.sent", "action.refused"]
    rows = list(
        csv.DictReader(
            io.StringIO(stockbot("audit", "export", "--since", "2000-01-01", config=config).stdout)
        )
    )
    assert [r["kind"] for r in rows] == kinds and rows[1]["actor"] == "cli:sam"
    assert (
        stockbot("audit", "export", "--until", "2000-01-01", config=config).stdout.count("\n") == 1
    )  # header
    result = stockbot("audit", "export", "--since", "someday", config=config, check=False)
    assert result.returncode == 2 and "--since" in result.stderr


def test_channels_test_reports_what_came_back(config: Path) -> None:
    ok = stockbot("channels", "test", "terminal", config=config)
    assert "delivered to console:ops" in ok.stdout and "TEST-SKU" in ok.stdout
    down = stockbot("channels", "test", "down", config=config, check=False)
    assert down.returncode == 1 and "not delivered" in down.stdout and "connection failed" in down.stdout
    unknown = stockbot("channels", "test", "nope", config=config, check=False)
    assert unknown.returncode == 1 and "configured channels: terminal, down" in unknown.stdout


stockbot_cli = stockbot  # the fixture of the same name starts the app; this runs the command


def test_db_upgrade_is_idempotent(config: Path) -> None:
    for _ in range(2):
        assert "up to date" in stockbot("db", "upgrade", config=config).stdout


def test_help_names_config_sections_literally() -> None:
    help_text = stockbot("serve", "--help").stdout
    assert "[server] host" in help_text and "[server] port" in help_text


def test_a_port_in_use_is_one_line_naming_the_port(config: Path, tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        for args in (
            ["serve", "--port", str(port), "--config", str(config)],
            ["demo", "--exit", "--port", str(port), "--database", str(tmp_path / "demo.db")],
        ):
            result = stockbot(*args, check=False)
            assert result.returncode == 2, result.stderr
            errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
            assert errors == [
                f"error: port {port} on 127.0.0.1 is already in use: stop the other server or "
                "pick another with --port"
            ]
            assert "Traceback" not in result.stderr


@pytest.mark.parametrize("platforms", [[], ["slack", "teams"], ["twilio_sms", "sendgrid", "jira", "webhook"]])
def test_init_writes_a_config_with_only_the_chosen_platforms(tmp_path: Path, platforms: list[str]) -> None:
    stockbot("init", *platforms, "--dir", str(tmp_path))
    config = tmp_path / "stockbot.toml"
    text = config.read_text()
    env = dict(line.split("=", 1) for line in (tmp_path / ".env").read_text().splitlines() if "=" in line)
    assert len(env["STOCKBOT_ERP_SECRET"]) == 64  # generated; every other variable is left for the user
    assert [name for name, value in env.items() if not value] == sorted(set(env) - {"STOCKBOT_ERP_SECRET"})
    for adapter in ("slack", "teams", "twilio_sms", "sendgrid", "jira"):
        assert (f'adapter = "{adapter}"' in text) == (adapter in platforms)
    # Filled in, the file passes the same check `stockbot serve` runs.
    values = {name: value or "x" * 24 for name, value in env.items()}
    values.update(SLACK_BOT_TOKEN="xoxb-1-2-abc", TWILIO_ACCOUNT_SID="AC" + "0" * 32)
    values.update(TEAMS_APP_ID="6f1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d")
    result = subprocess.run(
        [STOCKBOT, "config", "check", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **values},
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert "config is valid" in result.stdout
    again = stockbot("init", "--dir", str(tmp_path), check=False)
    assert again.returncode == 2 and "pass --force to overwrite" in again.stderr


COUNT = (
    "sku,name,category,key_product,location,minimum,critical_level,on_hand\n"
    "cab-dk-jr,Donkey Kong Jr. upright,cabinet,no,CHICAGO DC,1,,9\n"
    "cab-dk-jr,Donkey Kong Jr. upright,cabinet,no,Las Vegas Showroom,1,,0\n"
)


async def test_catalog_import_sets_levels_only_when_asked_never_over_a_newer_event(
    stockbot: HarnessFactory, db_url: str, tmp_path: Path
) -> None:
    harness = await stockbot()
    await harness.send(event("CAB-DK-JR", 2))  # an event at 09:00 sets Chicago DC to 2
    config = tmp_path / "stockbot.toml"
    config.write_text(
        f'[storage]\nurl = "{db_url}"\n[channels.terminal]\nadapter = "console"\naddress = "ops"\n'
    )
    count = tmp_path / "count.csv"
    count.write_text(COUNT)

    plain = stockbot_cli("catalog", "import", str(count), "--by", "alice", config=config).stdout
    assert "levels unchanged: 2 row(s) give on_hand; pass --set-levels to set them" in plain
    assert await levels(harness) == {"Chicago DC": 2, "Las Vegas Showroom": 3}

    counted = stockbot_cli(
        "catalog",
        "import",
        str(count),
        "--set-levels",
        "--as-of",
        "2026-11-26T08:00Z",
        "--by",
        "alice",
        "--reason",
        "stocktake",
        config=config,
    ).stdout
    assert "set 1 level(s)" in counted and "CAB-DK-JR at Las Vegas Showroom: 3 → 0" in counted
    assert (
        "kept CAB-DK-JR at Chicago DC at 2 (counted 9): an event from erp at 2026-11-26 09:00 UTC is newer"
        in counted
    )
    assert "alert #1 opened: CAB-DK-JR at Las Vegas Showroom" in counted
    assert await levels(harness) == {"Chicago DC": 2, "Las Vegas Showroom": 0}
    kinds = [
        (r["kind"], r["actor"], r["subject"]) for r in await audit_rows(harness) if r["actor"] == "cli:alice"
    ]
    assert kinds == [
        ("catalog.imported", "cli:alice", None),
        ("level.import_kept", "cli:alice", "CAB-DK-JR@Chicago DC"),
        ("level.imported", "cli:alice", "CAB-DK-JR@Las Vegas Showroom"),
        ("alert.opened", "cli:alice", "CAB-DK-JR@Las Vegas Showroom"),
        ("catalog.imported", "cli:alice", None),
    ]
    refused = stockbot_cli(
        "catalog", "import", str(count), "--as-of", "2026-11-26", config=config, check=False
    )
    assert refused.returncode == 2 and "use it with --set-levels" in refused.stderr


async def levels(harness: StockbotHarness) -> dict[str, int | None]:
    assert harness.runtime is not None
    query = select(stock_levels.c.location, stock_levels.c.on_hand).where(stock_levels.c.sku == "CAB-DK-JR")
    async with harness.runtime.engine.connect() as conn:
        return dict((await conn.execute(query)).all())  # type: ignore[arg-type]


async def audit_rows(harness: StockbotHarness) -> list[dict[str, Any]]:
    assert harness.runtime is not None
    async with harness.runtime.engine.connect() as conn:
        query = select(audit_events).order_by(audit_events.c.id)
        return [dict(r) for r in (await conn.execute(query)).mappings().all()]


async def test_alerts_list_show_and_resolve(stockbot: HarnessFactory, db_url: str, tmp_path: Path) -> None:
    harness = await stockbot(roles={"warehouse": ["U_WH"]})
    await harness.send(event("CAB-DK-JR", 0))
    await harness.send(event("CAB-MK-LEGACY", 1, location="Las Vegas Showroom"))
    await harness.desk.flag("CAB-MK-LEGACY", "Chicago DC", Actor(id="U_WH", via="slack", name="Sam"), "wet")
    config = tmp_path / "stockbot.toml"
    config.write_text(
        f'[storage]\nurl = "{db_url}"\n[channels.terminal]\nadapter = "console"\naddress = "ops"\n'
    )

    listing = stockbot_cli("alerts", "list", config=config).stdout.splitlines()
    assert [line.split()[0] for line in listing] == ["#3", "#2", "#1"]  # newest first
    assert "flagged by Sam" in listing[0] and "CAB-MK-LEGACY at Chicago DC" in listing[0]
    only = stockbot_cli("alerts", "list", "--sku", "cab-mk-legacy", "--location", "CHICAGO DC", config=config)
    assert [line.split()[0] for line in only.stdout.splitlines()] == ["#3"]
    assert "no resolved alerts" in stockbot_cli("alerts", "list", "--state", "resolved", config=config).stdout
    bad = stockbot_cli("alerts", "list", "--state", "closed", config=config, check=False)
    assert bad.returncode == 2 and "choose one of open, acknowledged" in bad.stderr

    done = stockbot_cli(
        "alerts", "resolve", "3", "--by", "morgan", "--reason", "flagged by mistake", config=config
    ).stdout
    assert "alert #3 resolved by morgan: CAB-MK-LEGACY at Chicago DC (flagged by mistake)" in done
    shown = stockbot_cli("alerts", "show", "3", config=config).stdout
    assert "  resolved why  flagged by mistake" in shown
    history = shown.split("history:")[1]
    assert "alert.opened" in history and "slack:U_WH" in history and "reason wet" not in history
    assert "alert.resolved" in history and "cli:morgan" in history and "reason flagged by mistake" in history
    again = stockbot_cli(
        "alerts", "resolve", "3", "--by", "morgan", "--reason", "x", config=config, check=False
    )
    assert again.returncode == 2 and "already resolved" in again.stderr
    missing = stockbot_cli("alerts", "show", "99", config=config, check=False)
    assert missing.returncode == 2 and "there is no alert #99" in missing.stderr
