"""The dispatcher as real ``stockbot serve`` processes: killed with SIGKILL mid-delivery and restarted, and
three of them sharing one PostgreSQL database. Events go in over signed HTTP; deliveries come out to a fake
webhook receiver in this process, which records each POST and its delivery id.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from sqlalchemy import select

from stockbot.adapters.webhook import WebhookAdapter
from stockbot.storage.catalog import DEMO_CATALOG, import_rows, parse_csv
from stockbot.storage.db import create_engine, upgrade
from stockbot.storage.tables import deliveries
from tests.conftest import require_postgres
from tests.fakes.vendor import FakeVendor, Recorded
from tests.helpers import ERP_SECRET, PG_ADMIN_URL, event, signed_headers

STOCKBOT = Path(sys.executable).with_name("stockbot")
SKUS = [
    "CAB-MK-LEGACY",
    "CAB-DK-JR",
    "CAB-CENTIPEDE",
    "CAB-NBAJAM-4P",
    "CAB-TMNT-4P",
    "PIN-MET-PRO",
    "PIN-GODZ-PRO",
    "CAB-PACMAN-UP",
]


class Served:
    """One ``stockbot serve`` process on a port of its own; its output goes to a file for failures."""

    def __init__(self, config: Path, log: Path) -> None:
        self.config, self.log = config, log
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def launch(self) -> None:
        with self.log.open("ab") as out:
            command = [str(STOCKBOT), "serve", "--config", str(self.config), "--port", str(self.port)]
            self.process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)

    async def start(self, http: aiohttp.ClientSession) -> None:
        self.launch()

        async def healthy() -> bool:
            assert self.process is not None
            if self.process.poll() is not None:
                pytest.fail(f"stockbot serve exited ({self.process.returncode}):\n{self.log.read_text()}")
            try:
                async with http.get(self.url + "/healthz") as response:
                    return response.status == 200
            except aiohttp.ClientError:
                return False

        await eventually(healthy, "stockbot serve answering /healthz")

    async def send(self, http: aiohttp.ClientSession, *events: dict[str, Any]) -> None:
        body = json.dumps({"events": list(events)}).encode()
        async with http.post(self.url + "/events/inventory", data=body, headers=signed_headers(body)) as r:
            assert r.status == 202, await r.text()  # acknowledged: committed, never to be lost

    def kill(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


async def eventually(check: Callable[[], Awaitable[bool]], what: str, within: float = 60.0) -> None:
    """Wait for ``check``; the bound only keeps a broken build from hanging, nothing is timed."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not await check():
        if loop.time() > deadline:
            pytest.fail(f"never happened: {what}")
        await asyncio.sleep(0.05)


def write_config(path: Path, database_url: str, receiver: str, channels: list[str]) -> Path:
    lines = [
        "[storage]",
        f'url = "{database_url}"',
        "[sources.erp]",
        f'secret = "{ERP_SECRET}"',
        "[delivery]",
        'claim_lease = "2s"          # a dead process\'s claims are taken over within seconds',
        "poll_interval = 0.2",
        'initial_backoff = "1s"',
        "[logging]",
        'level = "warning"',
        "[[routes]]",
        f"channels = {json.dumps(channels)}",
    ]
    for name in channels:
        lines += [f"[channels.{name}]", 'adapter = "webhook"', f'address = "{receiver}/hooks/{name}"']
    path.write_text("\n".join(lines) + "\n")
    return path


async def prepare(database_url: str) -> None:
    """The schema and the demo catalog, as `stockbot db upgrade` and `stockbot catalog import` would."""
    engine = create_engine(database_url)
    try:
        await upgrade(engine)
        async with engine.begin() as conn:
            await import_rows(conn, parse_csv(DEMO_CATALOG.read_text()))
    finally:
        await engine.dispose()


async def outbox(database_url: str) -> list[dict[str, Any]]:
    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            query = select(deliveries.c.id, deliveries.c.idempotency_key, deliveries.c.status)
            return [dict(r) for r in (await conn.execute(query.order_by(deliveries.c.id))).mappings()]
    finally:
        await engine.dispose()


@pytest.fixture
async def receiver() -> AsyncIterator[FakeVendor]:
    """A webhook receiver that takes a fifth of a second per POST, so a kill lands mid-delivery (and
    recording an outcome, a few milliseconds, is done long before the next POST is answered)."""

    async def slowly(recorded: Recorded) -> web.Response:
        await asyncio.sleep(0.2)
        return web.Response(status=204)

    fake = FakeVendor("receiver")
    fake.expect("POST", "/hooks/{name}", respond=slowly, name="hook")
    await fake.start()
    yield fake
    await fake.close()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def test_kill_9_mid_delivery_loses_nothing_and_resends_only_what_was_in_flight(
    sqlite_url: str, tmp_path: Path, receiver: FakeVendor, http: aiohttp.ClientSession
) -> None:
    await prepare(sqlite_url)
    channels = ["a", "b"]
    config = write_config(tmp_path / "stockbot.toml", sqlite_url, receiver.url, channels)
    first = Served(config, tmp_path / "first.log")
    await first.start(http)
    try:
        await first.send(http, *[event(sku, 0, event_id=f"k9-{sku}") for sku in SKUS])
        await eventually(lambda: _received(receiver, 4), "some deliveries arriving")
        if sys.platform == "linux":  # what was killed ran on uvloop, as stockbot serve runs
            assert first.process is not None
            maps = await asyncio.to_thread(Path(f"/proc/{first.process.pid}/maps").read_text)
            assert "/uvloop/loop." in maps
        first.kill()
    finally:
        first.stop()
    at_kill = await outbox(sqlite_url)
    assert len(at_kill) == len(SKUS) * len(channels)
    unsent = {row["idempotency_key"] for row in at_kill if row["status"] != "delivered"}
    assert unsent, "the kill came after everything was delivered: nothing was tested"

    second = Served(config, tmp_path / "second.log")
    await second.start(http)
    try:

        async def delivered() -> bool:
            return all(row["status"] == "delivered" for row in await outbox(sqlite_url))

        await eventually(delivered, "the restarted process delivering the rest")
    finally:
        second.stop()
    keys = {row["idempotency_key"] for row in await outbox(sqlite_url)}
    received = Counter(r.body["delivery_id"] for r in receiver.requests)
    assert set(received) == keys  # nothing acknowledged was lost
    duplicates = {key for key, n in received.items() if n > 1}
    # At least once: only what the dead process had in flight, or had sent but not yet recorded, comes
    # twice; that is at most twice the requests a destination takes at once (the webhook's default), and a
    # receiver drops them by delivery id.
    in_flight = WebhookAdapter.concurrency
    assert duplicates <= unsent and len(duplicates) <= 2 * in_flight * len(channels), duplicates
    for key in duplicates:
        bodies = {r.raw for r in receiver.requests if r.body["delivery_id"] == key}
        assert len(bodies) == 1
    assert receiver.errors == []


async def _received(receiver: FakeVendor, count: int) -> bool:
    return len(receiver.requests) >= count


@pytest.fixture
async def pg_url() -> AsyncIterator[str]:
    """A fresh PostgreSQL database of its own (these processes share it)."""
    await require_postgres()
    import asyncpg

    name = f"stockbot_test_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(PG_ADMIN_URL)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    yield f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
    admin = await asyncpg.connect(PG_ADMIN_URL)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.mark.postgres
async def test_three_processes_on_one_postgresql_database_send_each_delivery_once_in_order(
    pg_url: str, tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    receiver = FakeVendor("receiver")
    receiver.expect("POST", "/hooks/{name}", respond=lambda r: web.Response(status=204), name="hook")
    await receiver.start()
    await prepare(pg_url)
    channels = ["a", "b", "c"]
    config = write_config(tmp_path / "stockbot.toml", pg_url, receiver.url, channels)
    replicas = [Served(config, tmp_path / f"replica{n}.log") for n in range(3)]
    try:
        await asyncio.gather(*(replica.start(http) for replica in replicas))
        # Each shortage opens on one replica and resolves on another: posts and their updates are
        # claimed by hand-off, successor claims and polls in different processes.
        for n, sku in enumerate(SKUS):
            await replicas[n % 3].send(http, event(sku, 0, event_id=f"r-{sku}-0"))
        for n, sku in enumerate(SKUS):
            await replicas[(n + 1) % 3].send(http, event(sku, 9, event_id=f"r-{sku}-9"))

        async def delivered() -> bool:
            rows = await outbox(pg_url)
            expected = 2 * len(SKUS) * len(channels)
            return len(rows) == expected and all(r["status"] == "delivered" for r in rows)

        await eventually(delivered, "every delivery sent by one replica or another")
    finally:
        for replica in replicas:
            replica.stop()
        await receiver.close()
    ids = [r.body["delivery_id"] for r in receiver.requests]
    assert len(ids) == len(set(ids)) == 2 * len(SKUS) * len(channels)  # each sent once
    for name in channels:
        for sku in SKUS:
            told = [
                r.body["event"]
                for r in receiver.requests
                if r.path == f"/hooks/{name}" and r.body["alert"]["sku"] == sku
            ]
            assert told == ["opened", "resolved"], (name, sku, told)
    assert receiver.errors == []
