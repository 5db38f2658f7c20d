"""A start with an empty config loads no SDK it does not use, and no alembic once the schema is at head.

Each start runs in a fresh interpreter (a subprocess), so ``sys.modules`` shows what the start itself
imported, not what other tests left behind.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from stockbot.storage.db import create_engine, head_revision, upgrade

HEAVY = [
    "slack_bolt",
    "slack_sdk",
    "microsoft_agents",
    "msal",
    "boto3",
    "botocore",
    "alembic",
    "twilio",
    "jinja2",
]

START = """
import asyncio, json, sys
import aiohttp
from aiohttp import web
from stockbot.bot.config import parse_config
from stockbot.handlers.cli.serve import make_app

async def main() -> None:
    config = parse_config({"storage": {"url": sys.argv[1]}}, env={})
    runner = web.AppRunner(await make_app(config))
    await runner.setup()  # runs the app's start-up: writer, dispatcher, scheduler
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}/healthz") as answer:
        status = answer.status
    loaded = sorted(name for name in sys.modules if name.split(".")[0] in json.loads(sys.argv[2]))
    await runner.cleanup()
    print(json.dumps({"health": status, "loaded": loaded}))

asyncio.run(main())
"""


def start(url: str) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", START, url, json.dumps(HEAVY)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


async def test_an_empty_config_starts_without_chat_sdks_adapters_or_alembic(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'stockbot.db'}"
    engine = create_engine(url)
    await upgrade(engine)  # the schema exists, as on every start after the first
    await engine.dispose()
    started = start(url)
    assert started["health"] == 200
    assert started["loaded"] == []


async def test_the_first_start_creates_the_schema_with_alembic(tmp_path: Path) -> None:
    started = start(f"sqlite+aiosqlite:///{tmp_path / 'stockbot.db'}")
    assert started["health"] == 200
    assert "alembic" in started["loaded"]


def test_the_head_revision_is_read_as_alembic_reads_it() -> None:
    from alembic.script import ScriptDirectory

    from stockbot.storage.db import alembic_config

    assert head_revision() == ScriptDirectory.from_config(alembic_config()).get_current_head()
