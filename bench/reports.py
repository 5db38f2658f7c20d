"""History at scale: the 30-day report and GET /api/v1/alerts pages over a million events.

    python bench/reports.py [--events 1000000] [--alerts 100000] [--sqlite] [--postgres]

Seeds a fresh database (a SQLite file, and/or a PostgreSQL database of its own on 127.0.0.1) by bulk insert
(sqlite3 executemany, PostgreSQL COPY), through the schema the migrations build, with every index in place:
5,000 product-locations, the events spread over 90 days (with their audit rows), and the alerts with their
stock-out rows and audit rows (changes and deliveries). Then it times:

- the first roll-up of all those events into daily totals (what `stockbot serve` does once after upgrading;
  afterwards each 5-minute roll-up reads only the new events);
- the 30-day report (with the 30 days before it, all cuts off) and the 7-day one, 5 runs each;
- GET /api/v1/alerts through the real app over HTTP with an API token: the first page, 200 pages deep with
  the cursor, and filtered by state, location, SKU, severity and since a day ago.

The aim is a report within 1 s and alert pages within 50 ms at p99. Nothing is asserted: figures are printed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aiohttp

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
NOW = datetime.now(UTC).replace(microsecond=0)
DAYS = 90
PRODUCTS, LOCATIONS = 2500, ("Chicago DC", "Las Vegas Showroom")
TOKEN = "sbt_bench_token_0123456789abcdef"
CATEGORIES = ("cabinet", "pinball", "claw", "part", "token")


# --- what gets seeded ---------------------------------------------------------------------------------


def pairs() -> list[tuple[str, str]]:
    return [(f"SKU-{n:05d}", loc) for n in range(PRODUCTS) for loc in LOCATIONS]


def event_rows(count: int, rng: random.Random) -> tuple[list[tuple[Any, ...]], dict[tuple[str, str], int]]:
    """Per product-location a level walking down with sales and up with restocks, over 90 days, in arrival
    order (so ids follow time, as in life). Returns the rows and each pair's last level."""
    every = pairs()
    per_pair = count // len(every)
    start = NOW - timedelta(days=DAYS)
    rows: list[tuple[Any, ...]] = []
    last: dict[tuple[str, str], int] = {}
    for sku, location in every:
        level = rng.randint(20, 120)
        offsets = sorted(rng.uniform(0, DAYS * 86400) for _ in range(per_pair))
        for offset in offsets:
            level = (
                level + rng.randint(40, 120)
                if rng.random() < 0.08 or level < 3
                else level - rng.randint(0, 4)
            )
            level = max(level, 0)
            at = start + timedelta(seconds=offset)
            rows.append((sku, location, level, at))
        last[(sku, location)] = level
    rows.sort(key=lambda r: r[3])
    return rows, last


def alert_rows(count: int, rng: random.Random) -> list[dict[str, Any]]:
    """Alerts over 90 days, oldest first: 2% still open (each on its own product-location, as the database
    insists), the rest resolved after minutes to days; 80% acknowledged."""
    every = pairs()
    open_pairs = rng.sample(every, count // 50)
    found = []
    for index in range(count):
        still_open = index < len(open_pairs)
        sku, location = open_pairs[index] if still_open else rng.choice(every)
        opened = NOW - timedelta(seconds=rng.uniform(0, (7 if still_open else DAYS) * 86400))
        severity = rng.choices(("low", "out", "critical"), (6, 3, 1))[0]
        acked = opened + timedelta(seconds=rng.expovariate(1 / 1800)) if rng.random() < 0.8 else None
        resolved = None if still_open else opened + timedelta(seconds=rng.expovariate(1 / 21600))
        if acked and resolved and acked > resolved:
            acked = None
        found.append(
            {
                "sku": sku,
                "location": location,
                "state": "open" if still_open and not acked else "acknowledged" if still_open else "resolved",
                "severity": severity,
                "trigger": {"low": "low_stock", "out": "out_of_stock", "critical": "fulfillment_failed"}[
                    severity
                ],
                "opened_at": opened,
                "acknowledged_at": acked,
                "resolved_at": resolved,
            }
        )
    found.sort(key=lambda a: a["opened_at"])
    return found


def audit_of_alert(
    alert_id: int, alert: dict[str, Any]
) -> Iterator[tuple[datetime, str, str, int, str, str]]:
    subject = f"{alert['sku']}@{alert['location']}"
    changes = [("opened", alert["opened_at"]), ("acknowledged", alert["acknowledged_at"])]
    changes.append(("resolved", alert["resolved_at"]))
    for event, at in changes:
        if at is None:
            continue
        yield (
            at,
            f"alert.{event}",
            "system:stockbot",
            alert_id,
            subject,
            json.dumps({"state": alert["state"]}),
        )
        detail = json.dumps({"delivery": alert_id, "adapter": "slack", "event": event, "attempt": 1})
        yield at, "delivery.sent", "system:bench", alert_id, "sales-slack", detail


# --- bulk insert: SQLite --------------------------------------------------------------------------------


def sqlite_time(value: datetime | None) -> str | None:
    return (
        None if value is None else value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")
    )


def seed_sqlite(
    path: str, events: list[tuple[Any, ...]], last: dict[Any, int], found: list[dict[str, Any]]
) -> None:
    db = sqlite3.connect(path)
    db.execute("PRAGMA synchronous=OFF")  # seeding only; stockbot itself runs synchronous=FULL
    _catalog(db.executemany, "?", last)
    db.executemany(
        "INSERT INTO events (source, event_id, kind, sku, location, on_hand, status, occurred_at, "
        "received_at, outcome, payload) VALUES ('erp', ?, 'inventory', ?, ?, ?, NULL, ?, ?, 'applied', ?)",
        (
            (
                f"e{n}",
                sku,
                loc,
                level,
                sqlite_time(at),
                sqlite_time(at + timedelta(seconds=1)),
                '{"bench": 1}',
            )
            for n, (sku, loc, level, at) in enumerate(events)
        ),
    )
    db.executemany(
        "INSERT INTO audit_events (at, kind, actor, alert_id, subject, detail) "
        "VALUES (?, 'event.applied', 'source:erp', NULL, ?, ?)",
        (
            (sqlite_time(at), f"{sku}@{loc}", f'{{"event": {n + 1}}}')
            for n, (sku, loc, _, at) in enumerate(events)
        ),
    )
    _alerts(db, found, "?", sqlite_time)
    db.commit()
    db.close()


# --- bulk insert: PostgreSQL ------------------------------------------------------------------------------


async def seed_postgres(
    url: str, events: list[tuple[Any, ...]], last: dict[Any, int], found: list[dict[str, Any]]
) -> None:
    import asyncpg

    db = await asyncpg.connect(url)
    try:
        async with db.transaction():
            product_rows, level_rows = _catalog_rows(last)
            await db.copy_records_to_table(
                "products", records=product_rows, columns=["sku", "name", "category", "key_product"]
            )
            await db.copy_records_to_table(
                "stock_levels",
                records=level_rows,
                columns=[
                    "sku",
                    "location",
                    "minimum",
                    "critical_level",
                    "on_hand",
                    "last_event_at",
                    "last_source",
                ],
            )
            await db.copy_records_to_table(
                "events",
                records=(
                    (
                        "erp",
                        f"e{n}",
                        "inventory",
                        sku,
                        loc,
                        level,
                        None,
                        at,
                        at + timedelta(seconds=1),
                        "applied",
                        '{"bench": 1}',
                    )
                    for n, (sku, loc, level, at) in enumerate(events)
                ),
                columns=[
                    "source",
                    "event_id",
                    "kind",
                    "sku",
                    "location",
                    "on_hand",
                    "status",
                    "occurred_at",
                    "received_at",
                    "outcome",
                    "payload",
                ],
            )
            await db.copy_records_to_table(
                "audit_events",
                records=(
                    (at, "event.applied", "source:erp", None, f"{sku}@{loc}", f'{{"event": {n + 1}}}')
                    for n, (sku, loc, _, at) in enumerate(events)
                ),
                columns=["at", "kind", "actor", "alert_id", "subject", "detail"],
            )
            await _alerts_pg(db, found)
        await db.execute("ANALYZE")
    finally:
        await db.close()


def _catalog_rows(last: dict[tuple[str, str], int]) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    products = [
        (f"SKU-{n:05d}", f"Bench product {n}", CATEGORIES[n % len(CATEGORIES)], n % 10 == 0)
        for n in range(PRODUCTS)
    ]
    levels = [
        (sku, loc, 10, None, level, NOW - timedelta(hours=1), "erp") for (sku, loc), level in last.items()
    ]
    return products, levels


def _catalog(executemany: Callable[..., Any], mark: str, last: dict[tuple[str, str], int]) -> None:
    products, levels = _catalog_rows(last)
    executemany(
        f"INSERT INTO products (sku, name, category, key_product) VALUES ({', '.join([mark] * 4)})", products
    )
    executemany(
        "INSERT INTO stock_levels (sku, location, minimum, critical_level, on_hand, last_event_at, "
        f"last_source) VALUES ({', '.join([mark] * 7)})",
        [(*row[:5], sqlite_time(row[5]), row[6]) for row in levels],
    )


ALERT_COLUMNS = [
    "sku",
    "location",
    "state",
    "severity",
    "trigger",
    "on_hand",
    "minimum",
    "blocked_orders",
    "opened_at",
    "updated_at",
    "acknowledged_by",
    "acknowledged_at",
    "escalation_step",
    "resolved_at",
    "resolved_by",
    "version",
]


def _alert_values(alert: dict[str, Any], when: Callable[[datetime | None], Any]) -> tuple[Any, ...]:
    updated = alert["resolved_at"] or alert["acknowledged_at"] or alert["opened_at"]
    return (
        alert["sku"],
        alert["location"],
        alert["state"],
        alert["severity"],
        alert["trigger"],
        0,
        10,
        "[]",
        when(alert["opened_at"]),
        when(updated),
        "bench" if alert["acknowledged_at"] else None,
        when(alert["acknowledged_at"]),
        0,
        when(alert["resolved_at"]),
        "erp" if alert["resolved_at"] else None,
        1,
    )


def _stockout_values(
    alert_id: int, alert: dict[str, Any], when: Callable[[datetime | None], Any]
) -> tuple[Any, ...]:
    return (
        alert_id,
        alert["sku"],
        alert["location"],
        alert["trigger"],
        alert["severity"],
        when(alert["opened_at"]),
        when(alert["acknowledged_at"]),
        0,
        when(alert["resolved_at"]),
        0,
        0,
    )


STOCKOUT_COLUMNS = [
    "alert_id",
    "sku",
    "location",
    "trigger",
    "severity",
    "opened_at",
    "acknowledged_at",
    "escalations",
    "resolved_at",
    "blocked_orders",
    "blocked_quantity",
]


def _alerts(
    db: sqlite3.Connection, found: list[dict[str, Any]], mark: str, when: Callable[[datetime | None], Any]
) -> None:
    db.executemany(
        f"INSERT INTO alerts ({', '.join(ALERT_COLUMNS)}) VALUES ({', '.join([mark] * len(ALERT_COLUMNS))})",
        (_alert_values(a, when) for a in found),
    )
    db.executemany(
        f"INSERT INTO stockouts ({', '.join(STOCKOUT_COLUMNS)}) "
        f"VALUES ({', '.join([mark] * len(STOCKOUT_COLUMNS))})",
        (_stockout_values(n + 1, a, when) for n, a in enumerate(found)),
    )
    db.executemany(
        "INSERT INTO audit_events (at, kind, actor, alert_id, subject, detail) VALUES (?, ?, ?, ?, ?, ?)",
        ((when(row[0]), *row[1:]) for n, a in enumerate(found) for row in audit_of_alert(n + 1, a)),
    )
    db.executemany(
        "UPDATE stock_levels SET open_alert_id = ? WHERE sku = ? AND location = ?",
        ((n + 1, a["sku"], a["location"]) for n, a in enumerate(found) if a["state"] != "resolved"),
    )


async def _alerts_pg(db: Any, found: list[dict[str, Any]]) -> None:
    same = lambda v: v  # noqa: E731 - asyncpg takes aware datetimes as they are
    await db.copy_records_to_table(
        "alerts", records=(_alert_values(a, same) for a in found), columns=ALERT_COLUMNS
    )
    await db.copy_records_to_table(
        "stockouts",
        records=(_stockout_values(n + 1, a, same) for n, a in enumerate(found)),
        columns=STOCKOUT_COLUMNS,
    )
    await db.copy_records_to_table(
        "audit_events",
        records=(row for n, a in enumerate(found) for row in audit_of_alert(n + 1, a)),
        columns=["at", "kind", "actor", "alert_id", "subject", "detail"],
    )
    await db.executemany(
        "UPDATE stock_levels SET open_alert_id = $1 WHERE sku = $2 AND location = $3",
        [(n + 1, a["sku"], a["location"]) for n, a in enumerate(found) if a["state"] != "resolved"],
    )


# --- timing ---------------------------------------------------------------------------------------------


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[max(math.ceil(p * len(ordered) / 100) - 1, 0)] if ordered else float("nan")  # nearest rank


async def timed(fn: Callable[[], Awaitable[Any]]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = await fn()
    return time.perf_counter() - start, result


async def timed_cpu(fn: Callable[[], Awaitable[Any]]) -> tuple[float, float, Any]:
    """Wall time, and this process's CPU time (SQLite works in a thread of this process; PostgreSQL's own
    work is not in it): on a shared machine the CPU time is the steadier figure."""
    cpu = time.process_time()
    wall, result = await timed(fn)
    return wall, time.process_time() - cpu, result


async def measure(url: str, label: str) -> dict[str, Any]:
    from aiohttp.test_utils import TestServer

    from stockbot.adapters.report_data import Period
    from stockbot.bot.access import api_token_hash
    from stockbot.bot.clock import SystemClock
    from stockbot.bot.config import parse_config
    from stockbot.bot.history import roll_up_events
    from stockbot.bot.reports import report
    from stockbot.bot.runtime import Runtime
    from stockbot.handlers.app import build_app

    config = parse_config(
        {
            "storage": {"url": url},
            "api": {"tokens": [{"name": "bench", "hash": api_token_hash(TOKEN), "roles": ["manager"]}]},
        },
        env={},
    )
    runtime = await Runtime.create(config, clock=SystemClock())
    results: dict[str, Any] = {"database": label}
    served = False
    try:
        seconds, rolled = await timed(lambda: roll_up_events(runtime.engine, NOW + timedelta(minutes=5)))
        results["rollup"] = (rolled, seconds)
        print(
            f"  first roll-up: {rolled:,} events in {seconds:.1f} s ({rolled / seconds:,.0f}/s)", flush=True
        )
        for days in (30, 7):
            times, cpus = [], []
            for _ in range(5):
                seconds, cpu, found = await timed_cpu(
                    lambda d=days: report(runtime.engine, config, Period.last(d, NOW))
                )
                times.append(seconds)
                cpus.append(cpu)
            results[f"report_{days}d"] = times
            print(
                f"  {days}-day report: median {statistics.median(times) * 1000:.0f} ms "
                f"(best {min(times) * 1000:.0f}, worst {max(times) * 1000:.0f}; "
                f"CPU in this process {statistics.median(cpus) * 1000:.0f} ms); "
                f"{found.current.stockouts.opened:,} stock-outs opened, {len(found.products):,} product rows",
                flush=True,
            )
        server = TestServer(build_app(runtime, start=False), host="127.0.0.1")
        await server.start_server()
        served = True
        try:
            results["pages"] = await _pages(str(server.make_url("")).rstrip("/"))
        finally:
            await server.close()  # the app's cleanup stops the runtime
    finally:
        if not served:
            await runtime.stop()
    return results


async def _pages(base: str) -> dict[str, list[float]]:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    since = (NOW - timedelta(days=1)).isoformat().replace("+00:00", "Z")
    kinds = {
        "first page": "/api/v1/alerts",
        "state=open": "/api/v1/alerts?state=open",
        "location": "/api/v1/alerts?location=Chicago%20DC",
        "sku": "/api/v1/alerts?sku=SKU-00042",
        "severity+state": "/api/v1/alerts?severity=critical&state=resolved",
        "since 1 day": f"/api/v1/alerts?since={since}",
    }
    found: dict[str, list[float]] = {}
    async with aiohttp.ClientSession(headers=headers) as http:
        for _ in range(3):  # warm up connections and caches
            await http.get(base + "/api/v1/alerts")
        for name, path in kinds.items():
            found[name] = [await _get(http, base + path) for _ in range(100)]
        # deep paging: 200 pages of 50 with the cursor, each timed
        deep, cursor = [], None
        for _ in range(200):
            start = time.perf_counter()
            async with http.get(
                base + "/api/v1/alerts" + (f"?cursor={cursor}" if cursor else "")
            ) as response:
                body = await response.json()
            deep.append(time.perf_counter() - start)
            cursor = body["next_cursor"]
            if cursor is None:
                break
        found["200 pages deep (cursor)"] = deep
        # "since" paged all the way down, with the cursor
        walk, cursor = [], None
        while True:
            start = time.perf_counter()
            async with http.get(
                base + kinds["since 1 day"] + (f"&cursor={cursor}" if cursor else "")
            ) as response:
                body = await response.json()
            walk.append(time.perf_counter() - start)
            cursor = body["next_cursor"]
            if cursor is None:
                break
        found["since 1 day, every page"] = walk
    all_pages = [t for times in found.values() for t in times]
    for name, times in [*found.items(), ("all pages", all_pages)]:
        print(
            f"  GET alerts {name:<26} n={len(times):>4}  p50 {percentile(times, 50) * 1000:6.1f} ms  "
            f"p99 {percentile(times, 99) * 1000:6.1f} ms",
            flush=True,
        )
    return found


async def _get(http: aiohttp.ClientSession, url: str) -> float:
    start = time.perf_counter()
    async with http.get(url) as response:
        await response.read()
        assert response.status == 200, response.status
    return time.perf_counter() - start


# --- the runs -------------------------------------------------------------------------------------------


async def run_sqlite(events: list[Any], last: dict[Any, int], found: list[dict[str, Any]]) -> None:
    from stockbot.storage.db import create_engine, upgrade

    with tempfile.TemporaryDirectory(prefix="stockbot-bench-") as folder:  # about 700 MB: gone afterwards
        path = os.path.join(folder, "bench.db")
        url = f"sqlite+aiosqlite:///{path}"
        engine = create_engine(url)
        await upgrade(engine)
        await engine.dispose()
        start = time.perf_counter()
        seed_sqlite(path, events, last, found)
        size = Path(path).stat().st_size / 1e6  # noqa: ASYNC240 - the bench's own file, once
        print(
            f"SQLite {sqlite3.sqlite_version}: seeded in {time.perf_counter() - start:.1f} s "
            f"({size:,.0f} MB)",
            flush=True,
        )
        await measure(url, "sqlite")


async def run_postgres(events: list[Any], last: dict[Any, int], found: list[dict[str, Any]]) -> None:
    import asyncpg

    from stockbot.storage.db import create_engine, upgrade

    name = f"stockbot_bench_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(PG_ADMIN)
    version = await admin.fetchval("SHOW server_version")
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
    try:
        engine = create_engine(url)
        await upgrade(engine)
        await engine.dispose()
        start = time.perf_counter()
        await seed_postgres(f"postgresql://postgres@127.0.0.1:5432/{name}", events, last, found)
        print(f"PostgreSQL {version}: seeded in {time.perf_counter() - start:.1f} s", flush=True)
        await measure(url, "postgres")
    finally:
        admin = await asyncpg.connect(PG_ADMIN)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--alerts", type=int, default=100_000)
    parser.add_argument("--sqlite", action="store_true", help="only SQLite (default: both)")
    parser.add_argument("--postgres", action="store_true", help="only PostgreSQL (default: both)")
    args = parser.parse_args()
    both = not (args.sqlite or args.postgres)
    rng = random.Random(12)
    start = time.perf_counter()
    events, last = event_rows(args.events, rng)
    found = alert_rows(args.alerts, rng)
    print(
        f"{len(events):,} events over {DAYS} days, {len(found):,} alerts, {len(last):,} product-locations "
        f"(generated in {time.perf_counter() - start:.1f} s; {os.cpu_count()} cores)",
        flush=True,
    )
    if args.sqlite or both:
        await run_sqlite(events, last, found)
    if args.postgres or both:
        await run_postgres(events, last, found)


if __name__ == "__main__":
    asyncio.run(main())
