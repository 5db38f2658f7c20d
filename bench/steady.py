"""One fixed open-loop rate against one server, for profiling: the 202 and event → first delivery figures.

    python bench/steady.py [--rate 200] [--seconds 10] [--bare] [--postgres] [--profile prof.txt]
    python bench/steady.py --closed [--wrk] [--bare | --unstored] [--seconds 10]
    python bench/steady.py --opening [--single] [--postgres] [--seconds 10] [--profile prof.txt]

The servers, receiver and load are ``bench/run_all.py``'s (server pinned to core 0, load and receiver to
core 1). With ``--profile`` the server process is sampled by py-spy (if installed in this environment) for
the length of the load and its top functions are written there. Compare against ``--bare`` run
right after: on a shared machine only the ratio means much. ``--closed`` runs run_all's closed loop
instead (``--wrk``: driven by wrk, as run_all's signed-ingest ratio is) and prints the server's CPU per
request by thread: the writer's thread apart from the main one. ``--unstored`` serves stockbot with a
writer that stores nothing and answers at once: the front end's ceiling, for splitting a ratio goal between
the front end and storage (a measuring instrument: that server loses every event). At a fixed rate a thread
beside the load times a small write's ``fdatasync`` every 20 ms, and the last line counts the 202s over
10 ms that were in flight while one of those syncs stalled: a 202 waits for its commit's sync.
``--opening`` runs run_all's alert-opening figures (100 events a request over 8 connections, then one a
request over 50, while the first phase's deliveries drain) and prints each phase's rate and the server's CPU
per alert by thread; ``--profile`` samples the second phase; ``--single`` runs the second alone, with no
deliveries waiting.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import os
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from ingest import SECRET
from run_all import (
    LOAD_CORE,
    SERVER_CORE,
    Bench,
    DiskProbe,
    Postgres,
    bench_config,
    child,
    closed_loop,
    delivered,
    free_port,
    open_loop,
    opening_rate,
    percentile,
    pin,
    prepare,
    serve_bare,
    serve_receiver,
    serve_stockbot,
    wait_ready,
    wrk_closed_loop,
)


def serve_stockbot_unstored(port: int, database_url: str, hook_url: str) -> None:
    """``run_all.serve_stockbot`` with the writer answering every event ``applied`` at once, storing
    nothing: the ceiling of stockbot's HTTP, signature check and validation on their own, so a ratio
    goal can be split into what the front end leaves for storage and what storage costs. A measuring
    instrument only: such a server loses every event."""
    from stockbot.storage import writer as writer_module

    async def unstored(self: Any, items: list[Any]) -> list[str]:
        return ["applied"] * len(items)

    writer_module.GroupCommitter.submit = unstored  # type: ignore[method-assign]
    serve_stockbot(port, database_url, hook_url)


def serve_stockbot_stats(port: int, database_url: str, hook_url: str, stats: str) -> None:
    """``run_all.serve_stockbot``, writing a line of internal counts to ``stats`` every 0.5 s: the writer's
    transactions (with how many events and jobs, and their time), the dispatcher's queue in its lanes."""
    pin(SERVER_CORE)
    import logging
    import time

    from aiohttp import web

    from stockbot.bot.runtime import Runtime
    from stockbot.handlers.app import build_app
    from stockbot.storage import ingest_rows as ingest_rows_module
    from stockbot.storage import writer as writer_module

    counts = {"txn": 0, "items": 0, "jobs": 0, "busy": 0.0, "cpu": 0.0}
    commit = writer_module.GroupCommitter._commit

    async def counted(self: Any, db: Any, batch: list[Any]) -> None:
        started, cpu = time.perf_counter(), time.thread_time()
        try:
            await commit(self, db, batch)
        finally:
            counts["cpu"] += time.thread_time() - cpu
            counts["txn"] += 1
            counts["items"] += sum(len(e.items) for e in batch if hasattr(e, "items"))
            counts["jobs"] += sum(1 for e in batch if not hasattr(e, "items"))
            counts["busy"] += time.perf_counter() - started

    writer_module.GroupCommitter._commit = counted  # type: ignore[method-assign]
    submit = writer_module.GroupCommitter.submit
    waits: list[float] = []

    async def submitted(self: Any, items: list[Any]) -> Any:
        started = time.perf_counter()
        try:
            return await submit(self, items)
        finally:
            waits.append(time.perf_counter() - started)

    writer_module.GroupCommitter.submit = submitted  # type: ignore[method-assign]
    walls: list[float] = []
    transaction = ingest_rows_module.SqliteWriterDb.transaction

    @asynccontextmanager
    async def timed_transaction(self: Any) -> Any:
        started = time.perf_counter()
        async with transaction(self) as rows:
            yield rows
        walls.append(time.perf_counter() - started)

    ingest_rows_module.SqliteWriterDb.transaction = timed_transaction  # type: ignore[method-assign]
    engine_transaction = ingest_rows_module.EngineWriterDb.transaction

    @asynccontextmanager
    async def timed_engine_transaction(self: Any) -> Any:  # PostgreSQL's writer
        started = time.perf_counter()
        async with engine_transaction(self) as rows:
            yield rows
        walls.append(time.perf_counter() - started)

    ingest_rows_module.EngineWriterDb.transaction = timed_engine_transaction  # type: ignore[method-assign]
    timed: dict[str, list[float]] = {}

    def timing(owner: Any, name: str) -> None:
        original = getattr(owner, name)

        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            started = time.thread_time()
            try:
                return await original(*args, **kwargs)
            finally:
                entry = timed.setdefault(name, [0, 0.0])
                entry[0] += 1
                entry[1] += time.thread_time() - started

        setattr(owner, name, wrapper)

    from stockbot.bot import alerts, relay
    from stockbot.storage import deliveries, ingest_rows

    timing(alerts, "sales_of")
    for rows_class in (ingest_rows.SqliteRows, ingest_rows.CoreRows):  # the database in use counts
        for name in ("insert_events", "lock_levels", "spellings", "append_audit", "write_levels"):
            timing(rows_class, name)
        for name in ("alerts_of", "insert_alerts", "track_stockouts", "insert_deliveries"):
            timing(rows_class, name)
    timing(relay.Dispatcher, "claim_committed")
    timing(deliveries, "record")
    timing(deliveries, "claim_successors")
    timing(alerts.AlertDesk, "apply_signals")

    async def make() -> web.Application:
        config = bench_config(database_url, hook_url)
        if os.environ.get("CONCURRENCY"):  # the hook's requests in flight ([channels.hook] concurrency)
            from stockbot.bot.config import parse_config

            config = parse_config(
                {
                    "storage": {"url": database_url},
                    "sources": {"erp": {"secret": SECRET}},
                    "channels": {
                        "hook": {
                            "adapter": "webhook",
                            "address": hook_url,
                            "concurrency": int(os.environ["CONCURRENCY"]),
                        }
                    },
                    "logging": {"level": "error"},
                },
                env={},
            )
        runtime = await Runtime.create(config)
        app = build_app(runtime)

        async def report() -> None:
            with Path(stats).open("w") as out:  # noqa: ASYNC230 (a bench's own log)
                while True:
                    await asyncio.sleep(0.5)
                    lanes = runtime.dispatcher.lanes.values()
                    queued = sum(len(lane.entries) for lane in lanes)
                    flight = sum(lane.in_flight for lane in lanes)
                    out.write(
                        f"{time.time():.1f} txn {counts['txn']} events {counts['items']} "
                        f"jobs {counts['jobs']} busy {counts['busy']:.2f}s lanes {queued} in flight {flight} "
                        f"handed {len(runtime.dispatcher._handed)} marks {len(runtime.dispatcher._marks)} "
                        f"inbox {len(runtime.writer._inbox)}\n"
                    )
                    cpu = {k: f"{v[0]}x{v[1] / max(v[0], 1) * 1e6:.0f}µs" for k, v in timed.items()}
                    out.write(f"  thread CPU per call: {cpu}\n")
                    if waits and walls:
                        ordered, txns = sorted(waits), sorted(walls)
                        out.write(
                            f"  submit wall p50 {ordered[len(ordered) // 2] * 1e3:.1f} ms, "
                            f"p90 {ordered[len(ordered) * 9 // 10] * 1e3:.1f} ms; transaction wall "
                            f"p50 {txns[len(txns) // 2] * 1e3:.1f} ms "
                            f"p90 {txns[len(txns) * 9 // 10] * 1e3:.1f} ms\n"
                        )
                    out.flush()

        async def lifecycle(_: web.Application) -> Any:
            task = asyncio.create_task(report())
            yield
            task.cancel()

        app.cleanup_ctx.append(lifecycle)
        return app

    from stockbot.bot.eventloop import use_fast_event_loop

    logging.disable(logging.WARNING)
    use_fast_event_loop()
    web.run_app(make(), host="127.0.0.1", port=port, print=None, access_log=None)


def thread_cpu(pid: int) -> dict[str, float]:
    """CPU seconds so far by thread ("main", else its id: py-spy's names them)."""
    found: dict[str, float] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            name = "main" if task.name == str(pid) else task.name
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        tick = os.sysconf("SC_CLK_TCK")
        found[name] = found.get(name, 0.0) + (int(fields[11]) + int(fields[12])) / tick
        found[name + " sys"] = found.get(name + " sys", 0.0) + int(fields[12]) / tick
    return found


def cpu_seconds(pid: int) -> float:
    """The process's CPU time so far (every thread, user and system): what other load does not change."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


CpuMark = tuple[float, dict[str, float]]


def cpu_mark(pid: int) -> CpuMark:
    return cpu_seconds(pid), thread_cpu(pid)


def cpu_since(pid: int, mark: CpuMark, count: float) -> tuple[float, dict[str, int]]:
    """The server's CPU since ``mark`` in µs per one of ``count``: in all, and by thread (those of 1 µs or
    more, rounded)."""
    count = max(count, 1.0)
    before, threads_before = mark
    by_thread = {n: (s - threads_before.get(n, 0.0)) / count * 1e6 for n, s in thread_cpu(pid).items()}
    return (cpu_seconds(pid) - before) / count * 1e6, {n: round(v) for n, v in by_thread.items() if v >= 1}


async def measure(
    bench: Bench,
    base: str,
    pid: int,
    rate: float,
    seconds: float,
    profile: str | None,
    strace: str | None = None,
    closed: bool = False,
    use_wrk: bool = False,
    opening: bool = False,
    single: bool = False,
) -> None:
    async with await bench._session() as session:
        await wait_ready(session, base)
        await asyncio.sleep(3)
        url = base + "/events/inventory"
        if opening:
            await opening_phases(session, base, pid, seconds, profile, single)
            return
        if not closed:
            await open_loop(session, url, 50, 1.0, 0, on_hand=0)  # warm up
            async with session.post(bench.receiver + "/reset") as response:
                await response.read()
        spy = await py_spy(pid, profile, seconds) if profile else None
        trace = None
        if strace and shutil.which("strace"):
            calls = "trace=fsync,fdatasync,clock_nanosleep,nanosleep,pwrite64"
            trace = await asyncio.create_subprocess_exec(
                *["strace", "-f", "-c", "-e", calls, "-p", str(pid), "-o", strace],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            await asyncio.sleep(0.5)
        mark = cpu_mark(pid)
        if closed:
            started = time.perf_counter()
            if use_wrk:  # run_all's wrk figure: signed events made beforehand, the load in C
                run = functools.partial(
                    wrk_closed_loop, url, seconds, 50, 10_000, 10_000, int(seconds * 16_000)
                )
                rate = await asyncio.to_thread(run)
            else:
                rate = await closed_loop(session, url, seconds, 50, 10_000, 10_000)
            cpu, by_thread = cpu_since(pid, mark, rate * (time.perf_counter() - started))
            print("  µs CPU per request by thread:", by_thread)
            loop = "wrk" if use_wrk else "closed loop"
            print(f"{loop}, 50 connections: {rate:.0f} requests/s, server CPU {cpu:.0f} µs each")
            if spy is not None:
                await spy.wait()
            return
        with tempfile.TemporaryDirectory() as probe_dir, DiskProbe(probe_dir, every=0.02) as disk:
            run = await open_loop(session, url, rate, seconds, 50, on_hand=0)
        if trace is not None:
            trace.send_signal(2)
            await trace.wait()
        latencies, missing = await delivered(session, bench.receiver, run, 20)
        cpu, by_thread = cpu_since(pid, mark, len(run.sent))
        print("  µs CPU per event by thread:", by_thread)
        if spy is not None:
            await spy.wait()
        p = [percentile(run.latencies, q) * 1000 for q in (0.5, 0.99)]
        d = [percentile(latencies, q) * 1000 for q in (0.5, 0.99)]
        print(
            f"{rate:.0f}/s for {seconds:.0f} s: 202 p50 {p[0]:.1f} p99 {p[1]:.1f} ms; "
            f"delivery p50 {d[0]:.1f} p99 {d[1]:.1f} ms; {missing} undelivered, {run.errors} errors; "
            f"server CPU {cpu:.0f} µs per event",
            flush=True,
        )
        print(slow_202s(run.timed, disk.syncs))


async def opening_phases(
    session: Any, base: str, pid: int, seconds: float, profile: str | None, single: bool
) -> None:
    """run_all's two alert-opening figures, each with the server's CPU per alert opened, by thread."""
    phases = () if single else (("100 a request, 8 connections", 0, 30_000, 100, 8, seconds),)
    phases += (("1 a request, 50 connections", 30_000, 10_000, 1, 50, seconds * 0.6),)
    for index, (name, first, count, per_request, connections, length) in enumerate(phases):
        spy = None
        if profile and index == len(phases) - 1:
            spy = await py_spy(pid, profile, length)
        mark, started = cpu_mark(pid), time.perf_counter()
        rate = await opening_rate(session, base, first, count, per_request, connections, length)
        cpu, by_thread = cpu_since(pid, mark, rate * (time.perf_counter() - started))
        print(f"{name}: {rate:.0f} alerts opened/s, server CPU {cpu:.0f} µs each")
        print("  µs CPU per alert by thread:", by_thread)
        if spy is not None:
            await spy.wait()


async def py_spy(pid: int, profile: str, seconds: float) -> asyncio.subprocess.Process | None:
    """py-spy sampling the server for ``seconds`` (what holds the GIL: CPU, not waits), if installed."""
    if not shutil.which("py-spy", path=str(Path(sys.executable).parent)):
        return None
    return await asyncio.create_subprocess_exec(
        *[str(Path(sys.executable).parent / "py-spy"), "record", "--pid", str(pid)],
        *["--threads", "--gil"],
        *["--format", "raw", "-o", profile, "--duration", str(max(int(seconds), 1)), "--rate", "200"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def slow_202s(timed: list[tuple[float, float]], syncs: list[tuple[float, float]]) -> str:
    """The 202s over 10 ms, and how many were in flight while a sync of the disk (timed every 20 ms beside
    the load) stalled over 10 ms: a 202 is sent after its commit's sync, so such a stall holds it too."""
    to_epoch = time.time() - time.monotonic()
    stalls = [(began + to_epoch, took) for began, took in syncs if took > 0.01]
    slow = [(due, took) for due, took in timed if took > 0.01]
    held = sum(1 for due, took in slow if any(b < due + took and due < b + t for b, t in stalls))
    worst = ", ".join(f"{t * 1000:.0f}" for _, t in sorted(stalls, key=lambda s: -s[1])[:5])
    return (
        f"  202s over 10 ms: {len(slow)}, {held} of them in flight during a disk sync over 10 ms; "
        f"{len(syncs)} syncs timed beside the load, {len(stalls)} over 10 ms"
        + (f" ({worst} ms)" if worst else "")
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--bare", action="store_true")
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument("--profile")
    parser.add_argument("--closed", action="store_true", help="run_all's closed-loop ingest instead")
    parser.add_argument("--wrk", action="store_true", help="with --closed: driven by wrk, as run_all's ratio")
    parser.add_argument("--opening", action="store_true", help="run_all's alert-opening figures instead")
    parser.add_argument("--single", action="store_true", help="with --opening: one a request alone")
    parser.add_argument("--stats", help="the server's internal counts every 0.5 s, into this file")
    parser.add_argument("--strace", help="count the server's fsyncs and sleeps (strace -c) into this file")
    parser.add_argument(
        "--unstored",
        action="store_true",
        help="the writer answers at once and stores nothing: the front end's ceiling (loses every event)",
    )
    args = parser.parse_args()
    pin(LOAD_CORE)
    bench = Bench(quick=True)
    with tempfile.TemporaryDirectory() as tmp, child(serve_receiver, bench.receiver_port):
        port = free_port()
        postgres = Postgres() if args.postgres else None
        try:
            if args.bare:
                target: tuple = (serve_bare, port, bench.hook)
            else:
                url = postgres() if postgres else f"sqlite+aiosqlite:///{tmp}/steady.db"
                assert url
                # The closed loop's SKUs run from 10,000 to 19,999: every one in the catalog.
                products = int(args.rate * args.seconds) + 2000
                if args.opening:
                    products = 40_000  # as run_all's opening group
                elif args.closed or args.wrk:
                    products = max(products, 20_000)
                prepare(url, bench.hook, products)
                if args.stats:
                    target = (serve_stockbot_stats, port, url, bench.hook, args.stats)
                elif args.unstored:
                    target = (serve_stockbot_unstored, port, url, bench.hook)
                else:
                    target = (serve_stockbot, port, url, bench.hook)
            with child(*target) as process:
                asyncio.run(
                    measure(
                        bench,
                        f"http://127.0.0.1:{port}",
                        process.pid,
                        args.rate,
                        args.seconds,
                        args.profile,
                        args.strace,
                        args.closed or args.wrk,
                        args.wrk,
                        args.opening,
                        args.single,
                    )
                )
        finally:
            if postgres:
                postgres.drop_all()


if __name__ == "__main__":
    main()
