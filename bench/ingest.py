"""Signed-event ingest throughput and latency, next to a bare aiohttp JSON handler measured in the same run.

    python bench/ingest.py [--seconds 10] [--connections 50] [--postgres]

Each server runs in a process of its own; the load generator (aiohttp client, keep-alive connections) runs in
this one, so the figures compare like with like: same client, same machine, same body sizes. stockbot answers
202 only after the event is committed (SQLite WAL with synchronous=FULL, or PostgreSQL), so the ratio is the
price of durability plus signature check, validation and the alert logic. The server's CPU per request
(/proc, every thread) is printed too: on a machine shared with other load, requests/s swing with it, while
CPU per request, and its ratio to bare's, moves much less.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import random
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aiohttp
from aiohttp import web

SECRET = "bench-secret-0123456789abcdef"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- servers (each in a child process) ------------------------------------------------------------------


def run_bare(port: int) -> None:
    async def handler(request: web.Request) -> web.Response:
        body = await request.json()
        return web.json_response({"accepted": 1, "event_id": body.get("event_id")}, status=202)

    from stockbot.bot.eventloop import use_fast_event_loop

    use_fast_event_loop()  # the loop stockbot serve runs on: the ratio compares what stockbot adds
    app = web.Application()
    app.router.add_post("/events/inventory", handler)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


def run_stockbot(port: int, database_url: str) -> None:
    from stockbot.bot.config import parse_config
    from stockbot.bot.runtime import Runtime
    from stockbot.handlers.app import build_app
    from stockbot.storage.catalog import DEMO_CATALOG, import_rows, parse_csv

    async def make() -> web.Application:
        config = parse_config(
            {
                "storage": {"url": database_url},
                "sources": {"erp": {"secret": SECRET}},
                "channels": {"sink": {"adapter": "webhook", "address": "http://127.0.0.1:9/nowhere"}},
                "logging": {"level": "error"},
            },
            env={},
        )
        runtime = await Runtime.create(config)
        async with runtime.engine.begin() as conn:
            await import_rows(conn, parse_csv(DEMO_CATALOG.read_text()), seed_levels=True)
        return build_app(runtime)

    import logging

    from stockbot.bot.eventloop import use_fast_event_loop

    logging.disable(logging.WARNING)
    use_fast_event_loop()
    web.run_app(make(), host="127.0.0.1", port=port, print=None, access_log=None)


# --- load -------------------------------------------------------------------------------------------------


@dataclass
class Result:
    name: str
    requests: int
    seconds: float
    latencies: list[float]
    errors: int
    cpu: float  # the server process's CPU seconds (every thread, user and system) over the run

    @property
    def cpu_per_request(self) -> float:
        """µs of server CPU per request: what other load on a shared machine changes least."""
        return self.cpu / max(self.requests, 1) * 1e6

    @property
    def rate(self) -> float:
        return self.requests / self.seconds

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(int(len(ordered) * p), len(ordered) - 1)] * 1000


def catalog_pairs() -> list[tuple[str, str]]:
    import csv

    from stockbot.storage.catalog import DEMO_CATALOG

    return [(r["sku"], r["location"]) for r in csv.DictReader(DEMO_CATALOG.open())]


def make_body(counter: int, pairs: list[tuple[str, str]]) -> bytes:
    sku, location = pairs[counter % len(pairs)]
    # Mostly healthy levels, as in a real feed; about 1 in 20 at zero, so alerts open and resolve too.
    on_hand = 0 if counter % 20 == 0 else 200 + counter % 7
    return json.dumps(
        {
            "event_id": f"bench-{os.getpid()}-{counter}",
            "source": "erp",
            "sku": sku,
            "location": location,
            "on_hand": on_hand,
            "occurred_at": datetime.now(UTC).isoformat(),
        }
    ).encode()


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def load(
    name: str, url: str, seconds: float, connections: int, sign: Callable[[bytes], str], pid: int
) -> Result:
    pairs = catalog_pairs()
    latencies: list[float] = []
    errors = 0
    counter = 0
    deadline = 0.0

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal counter, errors
        while time.perf_counter() < deadline:
            counter += 1
            body = make_body(counter, pairs)
            headers = {"Content-Type": "application/json", "X-Stockbot-Signature": sign(body)}
            started = time.perf_counter()
            async with session.post(url, data=body, headers=headers) as response:
                await response.read()
                if response.status != 202:
                    errors += 1
            latencies.append(time.perf_counter() - started)

    connector = aiohttp.TCPConnector(limit=connections)
    async with aiohttp.ClientSession(connector=connector) as session:
        for _ in range(200):  # warm up, and wait for the server to listen
            try:
                async with session.get(url.rsplit("/events", 1)[0] + "/healthz") as response:
                    await response.read()
                break
            except aiohttp.ClientError:
                await asyncio.sleep(0.1)
        deadline = time.perf_counter() + 1.0
        await asyncio.gather(*(worker(session) for _ in range(connections)))
        latencies.clear()
        errors = 0
        start, cpu = time.perf_counter(), cpu_seconds(pid)
        deadline = start + seconds
        await asyncio.gather(*(worker(session) for _ in range(connections)))
        elapsed, cpu = time.perf_counter() - start, cpu_seconds(pid) - cpu
    return Result(name, len(latencies), elapsed, latencies, errors, cpu)


def measure(name: str, target: Callable[..., None], args: tuple, seconds: float, connections: int) -> Result:
    from stockbot.adapters.signing import sign

    port = free_port()
    process = multiprocessing.get_context("spawn").Process(target=target, args=(port, *args), daemon=True)
    process.start()
    try:
        url = f"http://127.0.0.1:{port}/events/inventory"
        print(
            f"  measuring {name} for {seconds:g}s with {connections} connections…",
            file=sys.stderr,
            flush=True,
        )
        assert process.pid is not None
        return asyncio.run(
            load(name, url, seconds, connections, lambda body: sign(SECRET, body), process.pid)
        )
    finally:
        process.terminate()
        process.join(10)


def postgres_url() -> str | None:
    import asyncpg

    async def create() -> str:
        name = f"stockbot_bench_{os.getpid()}"
        conn = await asyncpg.connect("postgresql://postgres@127.0.0.1:5432/test", timeout=3)
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        await conn.execute(f'CREATE DATABASE "{name}"')
        await conn.close()
        return f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"

    try:
        return asyncio.run(create())
    except Exception as exc:
        print(f"  (PostgreSQL skipped: {exc})", file=sys.stderr)
        return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--postgres", action="store_true", help="also measure with PostgreSQL on 127.0.0.1")
    args = parser.parse_args()
    random.seed(1)
    with tempfile.TemporaryDirectory() as tmp:
        runs = [
            ("bare aiohttp", run_bare, ()),
            ("stockbot, SQLite", run_stockbot, (f"sqlite+aiosqlite:///{tmp}/bench.db",)),
        ]
        if args.postgres and (url := postgres_url()):
            runs.append(("stockbot, PostgreSQL", run_stockbot, (url,)))
        results = [
            measure(name, target, extra, args.seconds, args.connections) for name, target, extra in runs
        ]
    bare = results[0]
    print(
        f"\n{'server':<22}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'errors':>8}{'vs bare':>10}"
        f"{'CPU µs/req':>12}{'CPU vs bare':>13}"
    )
    for result in results:
        ratio = result.rate / bare.rate
        print(
            f"{result.name:<22}{result.rate:>10.0f}{result.percentile(0.5):>10.2f}"
            f"{result.percentile(0.99):>10.2f}{result.errors:>8}{ratio:>9.0%}"
            f"{result.cpu_per_request:>12.0f}{bare.cpu_per_request / result.cpu_per_request:>12.0%}"
        )
    print(
        f"\n{os.cpu_count()} cores; median of {len(bare.latencies)} bare latencies: "
        f"{statistics.median(bare.latencies) * 1000:.2f} ms"
    )


if __name__ == "__main__":
    main()
