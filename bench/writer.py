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
one run against an earlier one.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--postgres", action="store_true", help="a fresh PostgreSQL database, not SQLite")
    parser.add_argument("--batch", type=int, default=33, help="events per transaction (default 33)")
    parser.add_argument("--repeats", type=int, default=3, help="measured repeats after the warm-up")
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    postgres = Postgres()
    try:
        for kind in ("levels", "openings"):
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
