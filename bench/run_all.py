"""Every figure of the ingest and delivery goals, side by side with a bare aiohttp forwarder, in one run.

    python bench/run_all.py [--no-postgres] [--quick]

Each server runs in a process of its own, pinned to core 0 where the machine has two or more; the load
generator and the local webhook receiver run here, pinned to core 1. A fresh server (and database) is
started for each group of measurements, so one group's backlog never slows the next. Figures:

- **the 202**: open loop at a fixed rate (each request sent at its scheduled time, whether or not earlier
  ones were answered; latency counted from the scheduled time, so a stall is not hidden).
- **event → first delivery**: every out-of-stock event is for a product-location of its own, so it opens
  one alert whose webhook delivery names it; the receiver stamps each arrival, and the latency runs from the
  event's scheduled send time to that stamp. The bare forwarder answers 202 and forwards each out-of-stock
  event at once.
- **highest sustained rate**: open-loop steps of rising rate; a step passes when every event is answered
  202, every delivery arrives, and the event → delivery p99 is at most 1 s. The highest passing step.
- **alerts opened**: out-of-stock events for distinct product-locations, in requests of 100 events and as
  single-event requests over 50 connections; opened alerts counted from ``/metrics``.
- **signed ingest vs bare**: closed loop, 50 keep-alive connections, mostly healthy levels.
- **first batch sweep**: 1,000 product-locations at zero and no alert; one ``batch_check()``.
- **RSS**: the server process's resident memory when idle after start, and after the load.
- **the disk**: a small write's ``fdatasync`` timed every 0.1 s through the whole run. A 202 waits for its
  commit's sync, so when a 202 p99 is far above its neighbours, this line says whether the disk stalled.

``bench/drain.py`` (the delivery side's own benchmark) runs afterwards when it exists. Alertmanager is not
compared: its binary is not installed here.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import multiprocessing
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import aiohttp
from aiohttp import web
from ingest import SECRET, free_port

SERVER_CORE, LOAD_CORE = 0, 1
SPAWN = multiprocessing.get_context("spawn")


def pin(core: int) -> None:
    """Keep this process on one core, so server and load generator do not take turns on the same one."""
    if (os.cpu_count() or 1) >= 2:
        os.sched_setaffinity(0, {core})


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


# --- servers (each in a child process) --------------------------------------------------------------------


def serve_receiver(port: int) -> None:
    """The local webhook: stamps the arrival of each alert's first delivery, keyed by SKU and location."""
    pin(LOAD_CORE)
    stamps: dict[str, float] = {}

    async def hook(request: web.Request) -> web.Response:
        arrived = time.time()
        body = await request.json()
        alert = body.get("alert", {})
        stamps.setdefault(f"{alert.get('sku')}@{alert.get('location')}", arrived)
        return web.json_response({"id": str(len(stamps))})

    async def read(_: web.Request) -> web.Response:
        return web.json_response(stamps)

    async def reset(_: web.Request) -> web.Response:
        stamps.clear()
        return web.json_response({})

    app = web.Application()
    app.router.add_post("/hook", hook)
    app.router.add_get("/stamps", read)
    app.router.add_post("/reset", reset)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


def serve_bare(port: int, hook_url: str) -> None:
    """Bare aiohttp: parse the JSON, answer 202, and forward each out-of-stock event to the webhook at once
    (what stockbot would deliver, without signatures, validation, storage or alert state). On the event
    loop ``stockbot serve`` uses, so the comparison is of what stockbot adds, not of loops."""
    pin(SERVER_CORE)
    from stockbot.bot.eventloop import use_fast_event_loop

    use_fast_event_loop()

    async def make() -> web.Application:
        app = web.Application()
        session: dict[str, aiohttp.ClientSession] = {}
        tasks: set[asyncio.Task[None]] = set()

        async def forward(events: list[dict[str, Any]]) -> None:
            for event in events:
                if event.get("on_hand") != 0:
                    continue
                alert = {"sku": event.get("sku"), "location": event.get("location")}
                async with session["http"].post(hook_url, json={"alert": alert}) as response:
                    await response.read()

        async def handler(request: web.Request) -> web.Response:
            body = await request.json()
            events = body["events"] if "events" in body else [body]
            task = asyncio.create_task(forward(events))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            return web.json_response({"accepted": len(events)}, status=202)

        async def healthz(_: web.Request) -> web.Response:
            return web.json_response({"status": "ok"})

        async def lifecycle(_: web.Application) -> Any:
            session["http"] = aiohttp.ClientSession()
            yield
            await session["http"].close()

        app.cleanup_ctx.append(lifecycle)
        app.router.add_post("/events/inventory", handler)
        app.router.add_get("/healthz", healthz)
        return app

    web.run_app(make(), host="127.0.0.1", port=port, print=None, access_log=None)


def catalog_csv(count: int, on_hand: int = 100) -> str:
    lines = ["sku,name,category,key_product,location,minimum,critical_level,on_hand"]
    lines += [f"B{i:06d},Bench product {i},bench,no,DC,5,,{on_hand}" for i in range(count)]
    return "\n".join(lines) + "\n"


def bench_config(database_url: str, hook_url: str) -> Any:
    from stockbot.bot.config import parse_config

    return parse_config(
        {
            "storage": {"url": database_url},
            "sources": {"erp": {"secret": SECRET}},
            "channels": {"hook": {"adapter": "webhook", "address": hook_url}},
            "logging": {"level": "error"},
        },
        env={},
    )


def load_catalog(database_url: str, hook_url: str, products: int, on_hand: int) -> None:
    """Create the schema and the catalog in a process of its own, so the server's memory is its own."""
    import logging

    from stockbot.bot.runtime import Runtime
    from stockbot.storage.catalog import import_rows, parse_csv

    async def run() -> None:
        runtime = await Runtime.create(bench_config(database_url, hook_url))
        async with runtime.engine.begin() as conn:
            await import_rows(conn, parse_csv(catalog_csv(products, on_hand)), seed_levels=True)
        await runtime.stop()

    logging.disable(logging.WARNING)
    asyncio.run(run())


def serve_stockbot(port: int, database_url: str, hook_url: str) -> None:
    """The app as ``stockbot serve`` builds and runs it (its event loop, its start-up)."""
    pin(SERVER_CORE)
    import logging

    from stockbot.bot.eventloop import use_fast_event_loop
    from stockbot.handlers.cli.serve import make_app

    logging.disable(logging.WARNING)
    use_fast_event_loop()
    app = make_app(bench_config(database_url, hook_url))
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


def sweep_child(database_url: str, hook_url: str, out: Any) -> None:
    """The first batch sweep after start, over a catalog whose levels are at zero with no alert."""
    pin(SERVER_CORE)
    import logging

    from stockbot.bot.runtime import Runtime

    async def run() -> tuple[int, float]:
        runtime = await Runtime.create(bench_config(database_url, hook_url))
        started = time.perf_counter()
        opened = await runtime.desk.batch_check()
        elapsed = time.perf_counter() - started
        await runtime.stop()
        return opened, elapsed

    logging.disable(logging.WARNING)
    out.send(asyncio.run(run()))


def prepare(database_url: str, hook_url: str, products: int, on_hand: int = 100) -> None:
    process = SPAWN.Process(target=load_catalog, args=(database_url, hook_url, products, on_hand))
    process.start()
    process.join()
    if process.exitcode:
        raise RuntimeError(f"loading the catalog failed ({process.exitcode})")


@contextmanager
def child(target: Callable[..., None], *args: Any) -> Iterator[multiprocessing.Process]:
    process = SPAWN.Process(target=target, args=args, daemon=True)
    process.start()
    try:
        yield process
    finally:
        process.terminate()
        process.join(10)


# --- load -------------------------------------------------------------------------------------------------


def sign(body: bytes) -> str:
    from stockbot.adapters.signing import sign as stockbot_sign

    return stockbot_sign(SECRET, body)


def event(index: int, on_hand: int) -> dict[str, Any]:
    return {
        "event_id": f"run-{os.getpid()}-{time.monotonic_ns()}-{index}",
        "source": "erp",
        "sku": f"B{index:06d}",
        "location": "DC",
        "on_hand": on_hand,
        "occurred_at": datetime.now(UTC).isoformat(),
    }


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(int(len(ordered) * p), len(ordered) - 1)]


async def wait_ready(session: aiohttp.ClientSession, base: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            async with session.get(base + "/healthz") as response:
                if response.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.1)
    raise RuntimeError(f"{base} did not become healthy in {seconds:g} s")


async def post(session: aiohttp.ClientSession, url: str, payload: Any) -> int:
    body = json.dumps(payload).encode()
    headers = {"Content-Type": "application/json", "X-Stockbot-Signature": sign(body)}
    async with session.post(url, data=body, headers=headers) as response:
        await response.read()
        return response.status


@dataclass
class OpenLoop:
    rate: float
    sent: dict[str, float] = field(default_factory=dict)  # "SKU@location" -> scheduled send (epoch s)
    latencies: list[float] = field(default_factory=list)  # 202 latency, s
    timed: list[tuple[float, float]] = field(default_factory=list)  # (scheduled send, epoch s; latency, s)
    errors: int = 0


async def open_loop(
    session: aiohttp.ClientSession, url: str, rate: float, seconds: float, first: int, on_hand: int
) -> OpenLoop:
    """Send one event every 1/rate s on schedule, each for product B<first + i>."""
    result = OpenLoop(rate)
    count = int(rate * seconds)
    start = time.time() + 0.05
    tasks = []

    async def one(index: int, due: float) -> None:
        payload = event(first + index, on_hand)
        result.sent[f"{payload['sku']}@DC"] = due
        try:
            status = await post(session, url, payload)
        except aiohttp.ClientError:
            status = 0
        took = time.time() - due
        result.latencies.append(took)
        result.timed.append((due, took))
        if status != 202:
            result.errors += 1

    for index in range(count):
        due = start + index / rate
        delay = due - time.time()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(index, due)))
    await asyncio.gather(*tasks)
    return result


async def delivered(
    session: aiohttp.ClientSession, receiver: str, run: OpenLoop, timeout: float
) -> tuple[list[float], int]:
    """Event → first delivery latencies (s) of ``run``'s events, waiting up to ``timeout`` for stragglers."""
    deadline = time.monotonic() + timeout
    while True:
        async with session.get(receiver + "/stamps") as response:
            stamps: dict[str, float] = await response.json()
        missing = sum(1 for key in run.sent if key not in stamps)
        if not missing or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.2)
    return [stamps[key] - due for key, due in run.sent.items() if key in stamps], missing


async def closed_loop(
    session: aiohttp.ClientSession, url: str, seconds: float, connections: int, first: int, span: int
) -> float:
    """Requests per second with ``connections`` requests always in flight (levels mostly healthy)."""
    counter = 0
    done = 0
    deadline = 0.0

    async def worker() -> None:
        nonlocal counter, done
        while time.perf_counter() < deadline:
            counter += 1
            # About 1 in 20 at zero, so alerts open and resolve too, as in a real feed.
            on_hand = 0 if counter % 20 == 0 else 200 + counter % 7
            if await post(session, url, event(first + counter % span, on_hand)) == 202:
                done += 1

    deadline = time.perf_counter() + 1.0  # warm up
    await asyncio.gather(*(worker() for _ in range(connections)))
    done = 0
    started = time.perf_counter()
    deadline = started + seconds
    await asyncio.gather(*(worker() for _ in range(connections)))
    return done / (time.perf_counter() - started)


WRK_SCRIPT = """
local requests, i = {}, 0
init = function(args)
  for line in io.lines(args[1]) do
    local tab = line:find("\\t", 1, true)
    local headers = {["Content-Type"] = "application/json", ["X-Stockbot-Signature"] = line:sub(1, tab - 1)}
    requests[#requests + 1] = wrk.format("POST", nil, headers, line:sub(tab + 1))
  end
end
request = function()
  i = i % #requests + 1
  return requests[i]
end
"""


def wrk_closed_loop(url: str, seconds: float, connections: int, first: int, span: int, count: int) -> float:
    """Successful requests per second from wrk (one thread, ``connections`` connections): the load
    generator the issue names, in C, so a fast server is not held back by the client. Each request is a
    signed event of its own (``count`` are made beforehand, more than the run sends), the same mix as
    :func:`closed_loop`."""
    with tempfile.TemporaryDirectory() as tmp:
        lines = Path(tmp, "requests.tsv")
        with lines.open("w") as out:
            for n in range(count):
                on_hand = 0 if n % 20 == 0 else 200 + n % 7
                payload = event(first + n % span, on_hand)
                payload["event_id"] = f"wrk-{os.getpid()}-{time.monotonic_ns()}-{n}"
                body = json.dumps(payload)
                out.write(f"{sign(body.encode())}\t{body}\n")
        script = Path(tmp, "signed.lua")
        script.write_text(WRK_SCRIPT)
        command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds:.0f}s", "-s", str(script), url, str(lines)]
        done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 120, check=True)
    total = re.search(r"(\d+) requests in ([\d.]+)(ms|s|m)", done.stdout)
    if total is None:
        raise RuntimeError(f"wrk printed no total:\n{done.stdout}{done.stderr}")
    requests, elapsed = int(total.group(1)), float(total.group(2))
    elapsed *= {"ms": 0.001, "s": 1.0, "m": 60.0}[total.group(3)]
    failed = re.search(r"Non-2xx or 3xx responses: (\d+)", done.stdout)
    errors = re.search(r"Socket errors: .*", done.stdout)
    if errors:
        say(f"wrk: {errors.group(0)}")
    return (requests - (int(failed.group(1)) if failed else 0)) / elapsed


async def alerts_opened(session: aiohttp.ClientSession, base: str) -> int:
    async with session.get(base + "/metrics") as response:
        text = await response.text()
    found = re.findall(r'stockbot_alert_changes_total\{event="(?:opened|reopened)",[^}]*\} ([0-9.e+]+)', text)
    return int(sum(float(value) for value in found))


async def opening_rate(
    session: aiohttp.ClientSession,
    base: str,
    first: int,
    count: int,
    per_request: int,
    connections: int,
    seconds: float,
) -> float:
    """Out-of-stock events for up to ``count`` distinct product-locations, for at most about ``seconds``;
    alerts opened per second."""
    url = base + "/events/inventory"
    before = await alerts_opened(session, base)
    queue = list(range(first, first + count, per_request))
    queue.reverse()
    started = time.perf_counter()
    deadline = started + seconds

    async def worker() -> None:
        while queue and time.perf_counter() < deadline:
            start = queue.pop()
            events = [event(i, 0) for i in range(start, min(start + per_request, first + count))]
            await post(session, url, events[0] if per_request == 1 else {"events": events})

    await asyncio.gather(*(worker() for _ in range(connections)))
    elapsed = time.perf_counter() - started
    return (await alerts_opened(session, base) - before) / elapsed


# --- one server at a time ---------------------------------------------------------------------------------


@dataclass
class Figures:
    values: dict[str, float | str] = field(default_factory=dict)


class Bench:
    def __init__(self, quick: bool) -> None:
        self.quick = quick
        self.seconds = 4.0 if quick else 10.0
        self.receiver_port = free_port()
        self.receiver = f"http://127.0.0.1:{self.receiver_port}"
        self.hook = self.receiver + "/hook"
        self.name = ""  # the column being measured, for the disk line's phases

    def run(self, name: str, database: Callable[[], str | None] | None) -> Figures:
        figures = Figures()
        self.name = name
        say(f"{name}: 202 latency, ingest ratio, memory")
        # The closed loop's SKUs run from 10,000 to 19,999: every one of them in the catalog.
        self._group(figures, database, self._ingest, 20_000)
        say(f"{name}: event → delivery, highest sustained rate")
        self._group(figures, database, self._delivery, 60_000)  # every step's events are new products
        if database is not None:
            say(f"{name}: alerts opened")
            self._group(figures, database, self._opening, 40_000)
            say(f"{name}: first batch sweep")
            self._sweep(figures, database)
        return figures

    def _group(
        self, figures: Figures, database: Callable[[], str | None] | None, body: Any, products: int
    ) -> None:
        url = database() if database else None
        if database is not None and url is None:
            return
        port = free_port()
        if url:
            prepare(url, self.hook, products)
        target = (serve_stockbot, port, url, self.hook) if url else (serve_bare, port, self.hook)
        with child(*target) as process:
            asyncio.run(body(figures, f"http://127.0.0.1:{port}", process.pid))

    async def _session(self) -> aiohttp.ClientSession:
        return aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=512))

    async def _ingest(self, figures: Figures, base: str, pid: int) -> None:
        async with await self._session() as session:
            await wait_ready(session, base)
            await asyncio.sleep(3)  # the first sweep runs 2 s after start
            figures.values["rss_idle"] = rss_mib(pid)
            url = base + "/events/inventory"
            await open_loop(session, url, 50, 1.0, 0, on_hand=150)  # warm up: connections, caches
            mark(f"{self.name}: the 202 at 50 events/s, level updates")
            run = await open_loop(session, url, 50, self.seconds, 50, on_hand=150)
            mark(f"{self.name}: the ingest loops")
            figures.values["p99_202_levels"] = percentile(run.latencies, 0.99) * 1000
            figures.values["errors"] = run.errors
            rate = await closed_loop(session, url, self.seconds, 50, 10_000, 10_000)
            figures.values["ingest_rate"] = rate
            if shutil.which("wrk"):  # Debian's wrk package
                # More signed events than even bare aiohttp answers in the run: none is sent twice.
                count = int(self.seconds * 16_000)
                run = functools.partial(wrk_closed_loop, url, self.seconds, 50, 10_000, 10_000, count)
                figures.values["wrk_rate"] = await asyncio.to_thread(run)
            figures.values["rss_load"] = rss_mib(pid)

    async def _delivery(self, figures: Figures, base: str, pid: int) -> None:
        async with await self._session() as session:
            await wait_ready(session, base)
            await asyncio.sleep(3)
            url = base + "/events/inventory"
            await open_loop(session, url, 50, 1.0, 0, on_hand=0)  # warm up: connections, first cards
            async with session.post(self.receiver + "/reset") as response:
                await response.read()
            mark(f"{self.name}: the 202 and event → delivery at 50 events/s, openings")
            run = await open_loop(session, url, 50, self.seconds, 50, on_hand=0)
            mark(f"{self.name}: the sustained rate's steps")
            figures.values["p99_202_alerts"] = percentile(run.latencies, 0.99) * 1000
            latencies, missing = await delivered(session, self.receiver, run, 15)
            figures.values["p99_delivery"] = percentile(latencies, 0.99) * 1000
            figures.values["undelivered"] = missing
            figures.values["sustained"] = await self._highest_rate(session, url, run, latencies, missing)

    async def _highest_rate(
        self, session: aiohttp.ClientSession, url: str, first: OpenLoop, latencies: list[float], missing: int
    ) -> str:
        best = "< 50"
        if missing or first.errors or percentile(latencies, 0.99) > 1.0:
            return best
        best, next_product = "50", 50 + len(first.sent)
        # Steps of at most a fifth up to 1,000/s, so the figure is not a coarse step's floor.
        for rate in (100, 200, 300, 400, 500, 600, 700, 850, 1000, 1200, 1400, 1700, 2000):
            seconds = 3.0 if self.quick else 4.0
            run = await open_loop(session, url, rate, seconds, next_product, on_hand=0)
            next_product += len(run.sent)
            latencies, missing = await delivered(session, self.receiver, run, 10)
            p99 = percentile(latencies, 0.99)
            say(f"    {rate}/s: p99 {p99 * 1000:.0f} ms, {missing} undelivered, {run.errors} errors")
            if missing or run.errors or p99 > 1.0:
                break
            best = str(rate)
        return best

    async def _opening(self, figures: Figures, base: str, pid: int) -> None:
        async with await self._session() as session:
            await wait_ready(session, base)
            await asyncio.sleep(3)
            seconds = self.seconds
            batched = await opening_rate(session, base, 0, 30_000, 100, 8, seconds)
            figures.values["open_batched"] = batched
            single = await opening_rate(session, base, 30_000, 10_000, 1, 50, seconds * 0.6)
            figures.values["open_single"] = single

    def _sweep(self, figures: Figures, database: Callable[[], str | None]) -> None:
        url = database()
        if url is None:
            return
        prepare(url, self.hook, 1000, on_hand=0)
        receive, send = SPAWN.Pipe(duplex=False)
        process = SPAWN.Process(target=sweep_child, args=(url, self.hook, send), daemon=True)
        process.start()
        opened, seconds = receive.recv()
        process.join(30)
        figures.values["sweep"] = f"{seconds:.2f} s ({opened})"


class Postgres:
    """A fresh database per server start, all dropped at the end; None when no server answers."""

    ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"

    def __init__(self) -> None:
        self.names: list[str] = []

    def __call__(self) -> str | None:
        name = f"stockbot_bench_{os.getpid()}_{len(self.names)}"
        try:
            asyncio.run(self._admin(f'CREATE DATABASE "{name}"'))
        except Exception as exc:
            say(f"  (PostgreSQL skipped: {exc})")
            return None
        self.names.append(name)
        return f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"

    def drop_all(self) -> None:
        for name in self.names:
            asyncio.run(self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    async def _admin(self, sql: str) -> None:
        import asyncpg

        conn = await asyncpg.connect(self.ADMIN, timeout=3)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()


STARTED = time.monotonic()
# Each phase's start (its progress line, not the indented step results): the disk probe's stalls are told
# by the phase they fell in.
PHASES: list[tuple[float, str]] = []


def mark(phase: str) -> None:
    """A phase begins now (for the disk line), without a progress line."""
    PHASES.append((time.monotonic(), phase))


def say(text: str) -> None:
    """Progress on stderr, with the minutes and seconds since the run began."""
    now = time.monotonic()
    if not text.startswith(" "):
        mark(text)
    minutes, seconds = divmod(int(now - STARTED), 60)
    print(f"[{minutes:2d}:{seconds:02d}] {text}", file=sys.stderr, flush=True)


ROWS = [
    ("p99_202_levels", "the 202, p99 at 50 events/s, level updates (ms)", "≤ 10", "{:.1f}"),
    ("p99_202_alerts", "the 202, p99 at 50 events/s, each opens an alert (ms)", "≤ 10", "{:.1f}"),
    ("open_batched", "out-of-stock events → alerts opened/s (100 per request)", "≥ 2,000", "{:.0f}"),
    ("open_single", "out-of-stock events → alerts opened/s (1 per request, 50 conns)", "≥ 2,000", "{:.0f}"),
    ("wrk_ratio", "signed ingest (wrk, 50 connections) vs bare aiohttp", "≥ 0.60", "{:.2f}"),
    ("wrk_rate", "  … requests/s", "", "{:.0f}"),
    ("ingest_ratio", "  … same, aiohttp client (holds bare below wrk)", "", "{:.2f}"),
    ("ingest_rate", "  … requests/s", "", "{:.0f}"),
    ("rss_idle", "RSS idle (MiB)", "≤ 95", "{:.0f}"),
    ("rss_load", "RSS after load (MiB)", "", "{:.0f}"),
    ("p99_delivery", "event → first delivery at a local webhook, p99 at 50 events/s (ms)", "≤ 10", "{:.1f}"),
    ("undelivered", "  … not delivered within 15 s", "0", "{}"),
    ("sustained", "highest rate with p99 ≤ 1 s and everything delivered (events/s)", "≥ 1,000", "{}"),
    ("sweep", "first batch sweep: 1,000 alerts (seconds, alerts opened)", "", "{}"),
]


def table(columns: dict[str, Figures]) -> str:
    bare = columns.get("bare aiohttp")
    for rate, ratio in (("ingest_rate", "ingest_ratio"), ("wrk_rate", "wrk_ratio")):
        if bare and rate in bare.values:
            for figures in columns.values():
                if rate in figures.values:
                    figures.values[ratio] = float(figures.values[rate]) / float(bare.values[rate])
    width = max(len(label) for _, label, _, _ in ROWS) + 2
    head = f"{'figure':<{width}}{'goal':>10}" + "".join(f"{name:>16}" for name in columns)
    lines = [head, "-" * len(head)]
    for key, label, goal, fmt in ROWS:
        cells = []
        for figures in columns.values():
            value = figures.values.get(key)
            cells.append(f"{'—' if value is None else fmt.format(value):>16}")
        lines.append(f"{label:<{width}}{goal:>10}" + "".join(cells))
    return "\n".join(lines)


class DiskProbe:
    """Syncs of a small write to the run's disk every ``every`` seconds, timed, on a thread of the load's
    core. A 202 waits for its commit's sync, so a stall of the disk's syncs (a shared virtual disk has them)
    is a stall of the 202s at that moment: the run's summary line says whether the disk had any."""

    def __init__(self, directory: str, every: float = 0.1) -> None:
        self.path = Path(directory, "disk-probe")
        self.every = every
        self.syncs: list[tuple[float, float]] = []  # (when it began, seconds it took)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._probe, name="disk-probe", daemon=True)

    def __enter__(self) -> DiskProbe:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _probe(self) -> None:
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            block, n = b"\0" * 4096, 0
            while not self._stop.wait(self.every):
                os.pwrite(fd, block, (n % 256) * 4096)
                n += 1
                began, started = time.monotonic(), time.perf_counter()
                os.fdatasync(fd)
                self.syncs.append((began, time.perf_counter() - started))
        finally:
            os.close(fd)

    def summary(self, phases: list[tuple[float, str]]) -> str:
        """One line on the run's syncs, and the phases their stalls (over 10 ms) fell in."""
        if not self.syncs:
            return "disk: no sync timed"
        ms = [took * 1000 for _, took in self.syncs]
        stalls: dict[str, list[float]] = {}
        for began, took in self.syncs:
            if took > 0.01:
                phase = next((name for start, name in reversed(phases) if start <= began), "start-up")
                stalls.setdefault(phase, []).append(took * 1000)
        where = "; ".join(f"{phase}: {len(s)}, max {max(s):.0f} ms" for phase, s in stalls.items())
        return (
            f"disk during the run: a 4 KiB write's fdatasync every {self.every:g} s, {len(ms)} timed: "
            f"p50 {percentile(ms, 0.5):.2f} ms, p99 {percentile(ms, 0.99):.2f} ms, max {max(ms):.1f} ms, "
            f"{sum(len(s) for s in stalls.values())} over 10 ms. A 202 waits for its commit's sync: a stall "
            f"there is a stall here{' (by phase: ' + where + ')' if where else ''}"
        )


def run_drain(postgres: bool) -> str | None:
    drain = Path(__file__).resolve().parent / "drain.py"
    if not drain.exists():
        return None
    say("bench/drain.py (the delivery side)")
    command = [sys.executable, str(drain), *(["--postgres"] if postgres else [])]
    done = subprocess.run(command, capture_output=True, text=True, timeout=360, check=False)
    failed = f"\n(drain.py exited {done.returncode}: {done.stderr[-2000:]})" if done.returncode else ""
    return done.stdout + failed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--no-postgres", action="store_true", help="SQLite and bare aiohttp only")
    parser.add_argument("--quick", action="store_true", help="shorter runs (about 3 minutes)")
    args = parser.parse_args()
    started = time.monotonic()
    pin(LOAD_CORE)
    bench = Bench(args.quick)
    columns: dict[str, Figures] = {}
    with (
        tempfile.TemporaryDirectory() as tmp,
        child(serve_receiver, bench.receiver_port),
        DiskProbe(tmp) as disk,
    ):
        counter = iter(range(1_000_000))

        def sqlite_db() -> str:
            return f"sqlite+aiosqlite:///{tmp}/bench-{next(counter)}.db"

        columns["bare aiohttp"] = bench.run("bare aiohttp", None)
        columns["SQLite"] = bench.run("SQLite", sqlite_db)
        if not args.no_postgres:
            postgres = Postgres()
            try:
                columns["PostgreSQL"] = bench.run("PostgreSQL", postgres)
            finally:
                postgres.drop_all()
    print()
    print(table(columns))
    cores = os.cpu_count()
    print(
        f"\n{cores} cores; server on core {SERVER_CORE}, load generator and webhook receiver on core "
        f"{LOAD_CORE}; {'quick' if args.quick else 'full'} run in {time.monotonic() - started:.0f} s; "
        "Alertmanager not compared (not installed)"
    )
    print(disk.summary(PHASES))
    drain = run_drain(not args.no_postgres)
    if drain is not None:
        print("\nbench/drain.py:\n" + drain)


if __name__ == "__main__":
    main()
