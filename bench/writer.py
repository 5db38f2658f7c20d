"""The writer's transaction alone: CPU per event on one thread, for level updates and for openings.

    python bench/writer.py [--postgres] [--batch 33] [--repeats 3]

No HTTP and no other thread: validated events are applied (``bot.ingest.apply_events``) in transactions of
``--batch`` events on the writer's own connection (``storage/ingest_rows.open_writer_db``), on a fresh
database holding the bench catalog, as the group-commit writer applies them under load. Level updates are
run_all's closed-loop mix (1 in 20 at zero, SKUs already seen); openings are events at zero for products
with no alert. The figure is this process's CPU time per event, the lowest of ``--repeats`` after a
warm-up; ``--batch 1`` gives one transaction per event, as at 50 events/s. Deliveries are queued in the
outbox but not sent (no dispatcher runs).

This machine's speed drifts within minutes, so compare code by interleaving runs (old, new, old, new), not
one run against an earlier one. ``--instructions`` counts instead of timing: each kind runs under valgrind's
callgrind at ``--events`` and at twice as many, and the difference is divided by the extra events (start-up
and the catalog cancel out; the harness's own making and validating of each event stays in). Instruction
counts repeat to within a fraction of a percent whatever else the machine is doing; they leave out the time
the kernel spends on the WAL's writes and fsyncs.

``--floor`` (SQLite, level updates) writes the same rows a level update writes (its event, its audit row,
its level), made beforehand with stockbot's own converters, through ``sqlite3``'s ``executemany`` in
transactions of ``--batch``, with the writer's pragmas and a checkpoint as often as the checkpointer's: what
storing an event costs with no Python of stockbot's left, the floor any writer of these rows pays here.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from run_all import SERVER_CORE, Postgres, bench_config, event, pin, prepare

HOOK = "http://127.0.0.1:9/hook"  # never called: no dispatcher runs
PER_REPEAT = {"levels": 3300, "openings": 1000}


async def measure(url: str, kind: str, batch: int, repeats: int) -> list[float]:
    from stockbot.bot.alerts import AlertDesk
    from stockbot.bot.clock import SystemClock
    from stockbot.bot.ingest import InventoryEvent, apply_events
    from stockbot.storage.db import create_engine
    from stockbot.storage.ingest_rows import open_writer_db

    config = bench_config(url, HOOK)
    engine = create_engine(url)
    clock = SystemClock()
    desk = AlertDesk(config, engine, clock)
    db = open_writer_db(config.storage.url)
    context = {"now": clock.now(), "max_skew": config.alerts.max_clock_skew}
    count = PER_REPEAT[kind]
    # Openings: a product of its own each (20,000 on); levels: 10,000 products seen again and again.
    payloads = [
        event(20_000 + n, 0) if kind == "openings" else event(10_000 + n % 10_000, 0 if n % 20 == 0 else 200)
        for n in range(count * (repeats + 1))
    ]
    events: list[Any] = [InventoryEvent.model_validate(p, context=context) for p in payloads]
    figures = []
    try:
        for repeat in range(repeats + 1):  # the first is the warm-up
            part = events[repeat * count : (repeat + 1) * count]
            started = time.process_time()
            for first in range(0, len(part), batch):
                async with db.transaction() as rows:
                    with desk.collecting(rows.owner):
                        await apply_events(desk, rows, part[first : first + batch])
            figures.append((time.process_time() - started) / len(part) * 1e6)
    finally:
        await db.close()
        await engine.dispose()
    return figures[1:]


def floor(url: str, batch: int, repeats: int) -> list[float]:
    """CPU per event of a level update's rows through ``sqlite3`` alone (the docstring's ``--floor``)."""
    import sqlite3

    from stockbot.bot.clock import SystemClock
    from stockbot.bot.ingest import InventoryEvent, _event_row
    from stockbot.storage.audit import audit_row
    from stockbot.storage.db import sqlite_pragmas
    from stockbot.storage.ingest_rows import (
        CHECKPOINT_INTERVAL,
        SQLITE_AUDIT,
        SQLITE_EVENTS,
        placeholders,
        sqlite_time,
    )

    now = SystemClock().now()
    context = {"now": now, "max_skew": bench_config(url, HOOK).alerts.max_clock_skew}
    count = PER_REPEAT["levels"]
    stored: list[tuple[list[Any], list[Any], tuple[Any, ...]]] = []
    for n in range(count * (repeats + 1)):
        e = InventoryEvent.model_validate(event(10_000 + n % 10_000, 200 + n % 7), context=context)
        audit = audit_row(
            now, "event.applied", "source:erp", subject=f"{e.sku}@{e.location}", event_id=e.event_id
        )
        audit["detail"]["event"] = n + 1
        level = (e.on_hand, sqlite_time(e.occurred_at), e.source, e.sku, e.location)
        stored.append((SQLITE_EVENTS.values(_event_row(e, now)), SQLITE_AUDIT.values(audit), level))

    events_sql = (
        f"INSERT INTO events ({SQLITE_EVENTS.listed}) VALUES {placeholders(len(SQLITE_EVENTS.names), 1)} "
        "ON CONFLICT (source, event_id) DO NOTHING"
    )
    audit_sql = (
        f"INSERT INTO audit_events ({SQLITE_AUDIT.listed}) VALUES {placeholders(len(SQLITE_AUDIT.names), 1)}"
    )
    level_sql = (
        "UPDATE stock_levels SET on_hand = ?, last_event_at = ?, last_source = ? "
        "WHERE sku = ? AND location = ?"
    )
    connection = sqlite3.connect(url.split(":///", 1)[1], isolation_level=None)
    for pragma in sqlite_pragmas(5000):
        connection.execute(f"PRAGMA {pragma}")
    connection.execute("PRAGMA wal_autocheckpoint=0")
    figures = []
    last_checkpoint = time.monotonic()
    for repeat in range(repeats + 1):  # the first is the warm-up
        part = stored[repeat * count : (repeat + 1) * count]
        started = time.process_time()
        for first in range(0, len(part), batch):
            rows = part[first : first + batch]
            connection.execute("BEGIN IMMEDIATE")
            connection.executemany(events_sql, [r[0] for r in rows])
            connection.executemany(audit_sql, [r[1] for r in rows])
            connection.executemany(level_sql, [r[2] for r in rows])
            connection.execute("COMMIT")
            if time.monotonic() - last_checkpoint >= CHECKPOINT_INTERVAL:
                connection.execute("PRAGMA wal_checkpoint(PASSIVE)")
                last_checkpoint = time.monotonic()
        figures.append((time.process_time() - started) / len(part) * 1e6)
    connection.close()
    return figures[1:]


def instructions(args: argparse.Namespace, kind: str) -> float:
    """Instructions per event of ``kind``: this script under callgrind at ``--events`` and twice as many."""
    totals = []
    for events in (args.events, 2 * args.events):
        command = [
            *("valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null"),
            *(sys.executable, __file__, "--only", kind, "--events", str(events), "--repeats", "1"),
            *("--batch", str(args.batch), *(["--postgres"] if args.postgres else [])),
        ]
        done = subprocess.run(command, capture_output=True, text=True, check=True)
        found = re.search(r"I\s+refs:\s+([\d,]+)", done.stderr)
        if found is None:
            sys.exit(f"callgrind printed no count:\n{done.stderr[-2000:]}")
        totals.append(int(found.group(1).replace(",", "")))
    return (totals[1] - totals[0]) / (2 * args.events)  # a warm-up and one repeat of the extra events


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--postgres", action="store_true", help="a fresh PostgreSQL database, not SQLite")
    parser.add_argument("--batch", type=int, default=33, help="events per transaction (default 33)")
    parser.add_argument("--repeats", type=int, default=3, help="measured repeats after the warm-up")
    parser.add_argument("--only", choices=tuple(PER_REPEAT), help="one kind of event, not both")
    parser.add_argument(
        "--events", type=int, help="events per repeat (default: 3,300 levels, 1,000 openings)"
    )
    parser.add_argument(
        "--instructions", action="store_true", help="count instructions under callgrind, not CPU time"
    )
    parser.add_argument(
        "--floor",
        action="store_true",
        help="SQLite: a level update's rows through sqlite3 alone, for comparison",
    )
    args = parser.parse_args()
    kinds = (args.only,) if args.only else tuple(PER_REPEAT)
    if args.instructions:
        if shutil.which("valgrind") is None:
            sys.exit("--instructions needs valgrind: apt-get install valgrind")
        args.events = args.events or 100
        for kind in kinds:
            count = instructions(args, kind)
            print(f"{kind:9} {args.batch:3} per transaction: {count:9,.0f} instructions per event")
        return
    if args.events:
        PER_REPEAT.update(dict.fromkeys(kinds, args.events))
    logging.disable(logging.WARNING)
    if args.floor:
        with tempfile.TemporaryDirectory() as tmp:
            url = f"sqlite+aiosqlite:///{tmp}/bench.db"
            prepare(url, HOOK, 20_000)
            pin(SERVER_CORE)
            figures = floor(url, args.batch, args.repeats)
        listed = " / ".join(f"{f:.0f}" for f in figures)
        print(f"floor     {args.batch:3} per transaction: {min(figures):6.1f} µs CPU per event ({listed})")
        return
    postgres = Postgres()
    try:
        for kind in kinds:
            with tempfile.TemporaryDirectory() as tmp:
                url = postgres() if args.postgres else f"sqlite+aiosqlite:///{tmp}/bench.db"
                if url is None:
                    sys.exit("no PostgreSQL server answers on 127.0.0.1:5432")
                prepare(url, HOOK, 20_000 + PER_REPEAT["openings"] * (args.repeats + 1))
                pin(SERVER_CORE)
                figures = asyncio.run(measure(url, kind, args.batch, args.repeats))
            listed = " / ".join(f"{f:.0f}" for f in figures)
            print(f"{kind:9} {args.batch:3} per transaction: {min(figures):6.0f} µs CPU per event ({listed})")
    finally:
        postgres.drop_all()


if __name__ == "__main__":
    main()
