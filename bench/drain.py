"""Outbox drain rate: how fast the dispatcher empties 10,000 pending deliveries into a local webhook receiver.

    python bench/drain.py [--deliveries 10000] [--channels 20] [--postgres]

The receiver (a bare aiohttp handler answering 204) runs in a process of its own; the dispatcher runs here,
started as ``stockbot serve`` starts it, on a fresh SQLite file (WAL, synchronous=FULL) and, with
``--postgres``, on a fresh PostgreSQL database. The deliveries are written straight into the outbox first
(one per alert, spread over ``--channels`` webhook channels), then the clock starts and stops when the
database says every one of them is delivered: the figure includes every claim, every mark and every audit
row being committed, not only the HTTP requests. The aim is 2,500 deliveries/s or more.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aiohttp import web

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- the receiver (a child process) ------------------------------------------------------------------------


def receive(port: int) -> None:
    async def hook(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hooks/{name}", hook)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


def start_receiver() -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    process = subprocess.Popen([sys.executable, __file__, "--receive", str(port)])
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return process, f"http://127.0.0.1:{port}"
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise SystemExit("the receiver did not start")


# --- the run -----------------------------------------------------------------------------------------------


def message(alert_id: int, now: datetime) -> dict[str, object]:
    from stockbot.adapters.message import AlertMessage

    return AlertMessage(
        alert_id=alert_id,
        event="opened",
        sku=f"BENCH-{alert_id:05d}",
        product_name="Bench product",
        category="bench",
        key_product=False,
        location="Chicago DC",
        on_hand=0,
        minimum=1,
        critical_level=None,
        severity="out",
        state="open",
        trigger="out_of_stock",
        opened_at=now,
        updated_at=now,
    ).to_json()


async def fill(engine: object, deliveries: int, channels: int) -> None:
    """``deliveries`` pending rows, one per alert, round-robin over the channels: what a burst leaves."""
    from sqlalchemy import insert

    from stockbot.storage.tables import deliveries as table

    now = datetime.now(UTC)
    rows = [
        {
            "alert_id": n,
            "channel": f"hook{n % channels}",
            "adapter": "webhook",
            "event": "opened",
            "message": message(n, now),
            "idempotency_key": f"a{n}-v1-hook{n % channels}",
            "status": "pending",
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
        }
        for n in range(1, deliveries + 1)
    ]
    async with engine.begin() as conn:  # type: ignore[attr-defined]
        for start in range(0, len(rows), 1000):
            await conn.execute(insert(table), rows[start : start + 1000])


async def delivered(engine: object) -> int:
    from sqlalchemy import func, select

    from stockbot.storage.tables import deliveries as table

    query = select(func.count()).select_from(table).where(table.c.status == "delivered")
    async with engine.connect() as conn:  # type: ignore[attr-defined]
        return (await conn.execute(query)).scalar_one()


async def drain(database_url: str, receiver: str, deliveries: int, channels: int) -> float:
    from stockbot.bot.config import parse_config
    from stockbot.bot.runtime import Runtime

    config = parse_config(
        {
            "storage": {"url": database_url},
            "channels": {
                f"hook{n}": {"adapter": "webhook", "address": f"{receiver}/hooks/hook{n}"}
                for n in range(channels)
            },
            "logging": {"level": "error"},
        },
        env={},
    )
    runtime = await Runtime.create(config)
    try:
        await fill(runtime.engine, deliveries, channels)
        started = time.perf_counter()
        await runtime.start()
        while await delivered(runtime.engine) < deliveries:
            await asyncio.sleep(0.05)
            if time.perf_counter() - started > 600:
                raise SystemExit("not drained within 10 minutes")
        return deliveries / (time.perf_counter() - started)
    finally:
        await runtime.stop()


async def postgres_database() -> str:
    import asyncpg

    name = f"stockbot_drain_{uuid.uuid4().hex[:10]}"
    conn = await asyncpg.connect(PG_ADMIN, timeout=3)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return name


async def drop_postgres_database(name: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN, timeout=3)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


def report(store: str, rate: float, args: argparse.Namespace) -> None:
    print(f"{store:<11} {args.deliveries} deliveries over {args.channels} channels: {rate:,.0f}/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--deliveries", type=int, default=10_000)
    parser.add_argument("--channels", type=int, default=20, help="webhook channels the rows are spread over")
    parser.add_argument("--postgres", action="store_true", help="also measure with PostgreSQL on 127.0.0.1")
    parser.add_argument("--receive", type=int, help=argparse.SUPPRESS)  # the receiver child process
    args = parser.parse_args()
    if args.receive:
        receive(args.receive)
        return
    logging.disable(logging.WARNING)
    receiver, url = start_receiver()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            sqlite_url = f"sqlite+aiosqlite:///{os.path.join(tmp, 'drain.db')}"
            report("SQLite", asyncio.run(drain(sqlite_url, url, args.deliveries, args.channels)), args)
        if args.postgres:
            name = asyncio.run(postgres_database())
            try:
                pg_url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
                report("PostgreSQL", asyncio.run(drain(pg_url, url, args.deliveries, args.channels)), args)
            finally:
                asyncio.run(drop_postgres_database(name))
    finally:
        receiver.terminate()
        receiver.wait()


if __name__ == "__main__":
    main()
