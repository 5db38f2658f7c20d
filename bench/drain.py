"""Outbox drain rate: how fast the dispatcher empties 10,000 pending deliveries into a local webhook receiver.

    python bench/drain.py [--deliveries 10000] [--channels 20] [--postgres]

The receiver (a bare aiohttp handler answering 204) runs in a process of its own, pinned to core 1; the
dispatcher runs here, pinned to core 0 (as bench/run_all.py places server and load), started as ``stockbot
serve`` starts it and on its event loop, on a fresh SQLite file (WAL, synchronous=FULL) and, with
``--postgres``, on a fresh PostgreSQL database. The deliveries are written straight into the outbox first
(one per alert, spread over ``--channels`` webhook channels), then the clock starts and stops when the
database says every one of them is delivered: the figure includes every claim, every mark and every audit
row being committed, not only the HTTP requests. The aim is 2,500 deliveries/s or more.

For scale, the same POSTs are first sent by a bare aiohttp client with as many requests in flight as the
dispatcher allows (``[delivery] concurrency``, or one per channel if fewer): no database, no claims, no
audit. On a shared machine the ratio says more than the absolute figures, and the CPU time this process
spent per delivery (every thread: the dispatcher, the SQLite driver's thread) does not depend on the
machine's other load at all.
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
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- the receiver (a child process) ------------------------------------------------------------------------


class Receiver(asyncio.Protocol):
    """A minimal HTTP/1.1 webhook receiver: reads each keep-alive request (headers and Content-Length
    body) and answers 204. A tenth of aiohttp's cost per request, so on two shared cores the figures are
    the dispatcher's, not the receiver's."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while (end := self.buffer.find(b"\r\n\r\n")) >= 0:
            head = self.buffer[:end].lower()
            at = head.find(b"content-length:")
            length = (
                int(head[at + 15 : head.find(b"\r\n", at) if b"\r\n" in head[at:] else None])
                if at >= 0
                else 0
            )
            if len(self.buffer) < end + 4 + length:
                return
            self.buffer = self.buffer[end + 4 + length :]
            self.transport.write(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n")  # type: ignore[attr-defined]


# As bench/run_all.py places them: what is measured on core 0, the receiver on core 1 (where the machine has
# two cores or more), whatever affinity this process inherited (run_all's own process is pinned to core 1).
DISPATCHER_CORE, RECEIVER_CORE = 0, 1


def pin(core: int) -> None:
    if (os.cpu_count() or 1) >= 2:
        os.sched_setaffinity(0, {core})


def receive(port: int) -> None:
    pin(RECEIVER_CORE)

    async def serve() -> None:
        server = await asyncio.get_running_loop().create_server(Receiver, "127.0.0.1", port)
        await server.serve_forever()

    asyncio.run(serve())


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


async def drain(database_url: str, receiver: str, deliveries: int, channels: int) -> Figures:
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
        started, cpu = time.perf_counter(), time.process_time()
        await runtime.start()
        # The dispatcher's own count first (a look in memory), then the database's: a count over the
        # outbox every few milliseconds would cost this process more than the deliveries it waits for.
        while runtime.dispatcher.completed < deliveries or await delivered(runtime.engine) < deliveries:
            await asyncio.sleep(0.01)
            if time.perf_counter() - started > 600:
                raise SystemExit("not drained within 10 minutes")
        return Figures(deliveries, time.perf_counter() - started, time.process_time() - cpu)
    finally:
        await runtime.stop()


async def bare(receiver: str, deliveries: int, channels: int, concurrency: int) -> Figures:
    """The same POSTs (body, channels, requests in flight) from a bare aiohttp client: the ceiling this
    machine and receiver allow, measured in the same run."""
    import json

    import aiohttp

    from stockbot.adapters.message import AlertMessage

    now = datetime.now(UTC)
    bodies = [
        json.dumps(
            {"type": "stockbot.alert", "delivery_id": f"a{n}", "event": "opened", "alert": message(n, now)},
            separators=(",", ":"),
        ).encode()
        for n in range(1, deliveries + 1)
    ]
    assert AlertMessage.from_json(message(1, now))
    queue = list(range(deliveries))
    async with aiohttp.ClientSession() as http:

        async def worker() -> None:
            while queue:
                n = queue.pop()
                url = f"{receiver}/hooks/hook{n % channels}"
                headers = {"Content-Type": "application/json", "Idempotency-Key": f"a{n}"}
                async with http.post(url, data=bodies[n], headers=headers) as response:
                    await response.read()

        started, cpu = time.perf_counter(), time.process_time()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return Figures(deliveries, time.perf_counter() - started, time.process_time() - cpu)


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


@dataclass(frozen=True)
class Figures:
    deliveries: int
    seconds: float  # wall clock
    cpu: float  # this process's CPU time, every thread: what the machine's other load does not change


def report(what: str, figures: Figures, args: argparse.Namespace) -> None:
    rate = figures.deliveries / figures.seconds
    cpu = figures.cpu / figures.deliveries * 1e6
    line = f"{what:<11} {figures.deliveries} over {args.channels} channels: {rate:>6,.0f}/s"
    print(f"{line}, {cpu:4.0f} µs CPU each")


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
    from stockbot.bot.eventloop import use_fast_event_loop

    use_fast_event_loop()  # as stockbot serve runs; the bare client too, so the ratio compares like with like
    pin(DISPATCHER_CORE)
    receiver, url = start_receiver()
    try:
        from stockbot.bot.config import DeliveryConfig

        in_flight = min(DeliveryConfig().concurrency, args.channels)
        report("bare client", asyncio.run(bare(url, args.deliveries, args.channels, in_flight)), args)
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
