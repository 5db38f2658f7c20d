"""The catalog: products and their per-location minimums, imported and exported as CSV.

One CSV row per product and location:
``sku,name,category,key_product,location,minimum,critical_level,on_hand,lead_time_days`` (``critical_level``,
``on_hand`` and ``lead_time_days`` may be empty; ``lead_time_days`` may be left out altogether, and then an
import keeps the lead times already stored). An empty lead time means ``[reorder] lead_time_days``
(7 days unless configured). An import is all or nothing: every bad cell is reported by row and column, and
nothing is written until the whole file is good.

An import sets products, minimums, critical levels and lead times. It writes stock levels (``on_hand``) only
when asked (:func:`import_levels`, ``stockbot catalog import --set-levels``): each level it sets is audited,
and a level changed by an event newer than the count is kept. ``seed_levels`` fills in starting levels of a
fresh catalog (the demo, tests) where no level is known yet, and nothing else.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import and_, bindparam, func, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from stockbot.storage.audit import append, audit_row
from stockbot.storage.folding import fold, folded
from stockbot.storage.tables import products, stock_levels

COLUMNS = [
    "sku",
    "name",
    "category",
    "key_product",
    "location",
    "minimum",
    "critical_level",
    "on_hand",
    "lead_time_days",
]
REQUIRED = ["sku", "name", "location", "minimum"]
DEMO_CATALOG = Path(__file__).resolve().parent / "demo" / "catalog.csv"
TRUE = {"true", "yes", "y", "1", "key"}
FALSE = {"false", "no", "n", "0", ""}
# PostgreSQL: an import of at least this many rows refreshes the planner's statistics of the catalog's tables.
ANALYZE_AFTER = 1000


class CatalogError(ValueError):
    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


@dataclass(frozen=True)
class CatalogRow:
    sku: str
    name: str
    category: str
    key_product: bool
    location: str
    minimum: int
    critical_level: int | None
    on_hand: int | None
    lead_time_days: int | None = None
    # whether the file had a lead_time_days column: without one, an import keeps the stored lead times
    lead_time_given: bool = field(default=False, compare=False)


def _integer(value: str, where: str, problems: list[str], *, optional: bool) -> int | None:
    value = value.strip()
    if not value and optional:
        return None
    try:
        number = int(value)
    except ValueError:
        problems.append(f"{where}: {value!r} is not a whole number")
        return None
    if number < 0:
        problems.append(f"{where}: {number} is negative; use 0 or more")
    return number


def parse_csv(text: str, source: str = "catalog") -> list[CatalogRow]:
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip() for h in reader.fieldnames or []]
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise CatalogError(
            [f"{source}: header lacks column(s) {', '.join(missing)}; expected {','.join(COLUMNS)}"]
        )
    unknown = [c for c in header if c not in COLUMNS]
    if unknown:
        raise CatalogError(
            [f"{source}: unknown column(s) {', '.join(unknown)}; expected {','.join(COLUMNS)}"]
        )
    rows: list[CatalogRow] = []
    problems: list[str] = []
    seen: dict[tuple[str, str], tuple[int, str, str]] = {}  # folded pair → row, SKU and location as written
    spelled: dict[str, tuple[int, str]] = {}  # folded SKU → first row and spelling
    for number, raw in enumerate(reader, start=2):  # row 1 is the header
        cells = {k.strip(): (v or "").strip() for k, v in raw.items() if k}
        where = f"{source} row {number}"
        for column in REQUIRED:
            if not cells.get(column):
                problems.append(f"{where}, column {column}: required")
        key = cells.get("key_product", "").lower()
        if key not in TRUE | FALSE:
            problems.append(f"{where}, column key_product: {key!r} is not yes/no")
        minimum = _integer(cells.get("minimum", ""), f"{where}, column minimum", problems, optional=False)
        critical = _integer(
            cells.get("critical_level", ""), f"{where}, column critical_level", problems, optional=True
        )
        on_hand = _integer(cells.get("on_hand", ""), f"{where}, column on_hand", problems, optional=True)
        lead_time = _integer(
            cells.get("lead_time_days", ""), f"{where}, column lead_time_days", problems, optional=True
        )
        sku, location = cells.get("sku", ""), cells.get("location", "")
        problems += _spelling_problems(where, sku, location, number, seen, spelled)
        if minimum is not None and critical is not None and critical > minimum:
            problems.append(f"{where}, column critical_level: {critical} is above minimum {minimum}")
        rows.append(
            CatalogRow(
                sku,
                cells.get("name", ""),
                cells.get("category", ""),
                key in TRUE,
                location,
                minimum or 0,
                critical,
                on_hand,
                lead_time,
                "lead_time_days" in header,
            )
        )
    if problems:
        raise CatalogError(problems)
    return rows


def _spelling_problems(
    where: str,
    sku: str,
    location: str,
    number: int,
    seen: dict[tuple[str, str], tuple[int, str, str]],
    spelled: dict[str, tuple[int, str]],
) -> list[str]:
    """A pair given twice, or one SKU written two ways: SKUs and locations ignore ASCII case."""
    problems = []
    first = spelled.setdefault(fold(sku), (number, sku))
    if first[1] != sku:
        problems.append(
            f"{where}, column sku: {sku!r} is {first[1]!r} of row {first[0]} in other letter case; "
            "SKUs ignore case, so write one spelling"
        )
    pair = (fold(sku), fold(location))
    if pair in seen:
        row, sku_then, location_then = seen[pair]
        as_written = "" if (sku_then, location_then) == (sku, location) else f" (as {location_then!r})"
        problems.append(f"{where}: {sku} at {location} appears twice, first in row {row}{as_written}")
    seen.setdefault(pair, (number, sku, location))
    return problems


async def _in_catalog_spelling(conn: AsyncConnection, rows: list[CatalogRow]) -> list[CatalogRow]:
    """Rows naming a product or location the catalog already has in other letter case update that one."""
    found = await spellings(conn, {r.sku for r in rows})

    def respelled(row: CatalogRow) -> CatalogRow:
        sku = found.sku(row.sku) or row.sku
        location = found.location(sku, row.location) or row.location
        return replace(row, sku=sku, location=location)

    return [respelled(r) for r in rows]


async def import_rows(
    conn: AsyncConnection, rows: list[CatalogRow], *, seed_levels: bool = False
) -> tuple[int, int]:
    """Insert or update products, minimums and critical levels. Stock levels are left alone (new ones are
    unknown until an event or :func:`import_levels` says otherwise); with ``seed_levels``, a CSV's ``on_hand``
    fills in levels nobody knows yet (no value and no event), for a fresh catalog."""
    rows = await _in_catalog_spelling(conn, rows)
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    product_rows = {
        r.sku: {"sku": r.sku, "name": r.name, "category": r.category, "key_product": r.key_product}
        for r in rows
    }
    if product_rows:
        stmt = dialect.insert(products)
        stmt = stmt.on_conflict_do_update(
            index_elements=["sku"],
            set_={c: stmt.excluded[c] for c in ("name", "category", "key_product")},
        )
        await conn.execute(stmt, list(product_rows.values()))
    # A file without a lead_time_days column keeps the stored lead times; one with it sets them (empty: none).
    for with_lead_time in (True, False):
        minimums = [
            {
                "sku": r.sku,
                "location": r.location,
                "minimum": r.minimum,
                "critical_level": r.critical_level,
                **({"lead_time_days": r.lead_time_days} if with_lead_time else {}),
            }
            for r in rows
            if r.lead_time_given == with_lead_time
        ]
        if not minimums:
            continue
        stmt = dialect.insert(stock_levels)
        updated = ["minimum", "critical_level", *(["lead_time_days"] if with_lead_time else [])]
        stmt = stmt.on_conflict_do_update(
            index_elements=["sku", "location"], set_={c: stmt.excluded[c] for c in updated}
        )
        await conn.execute(stmt, minimums)
    if seed_levels:
        await _seed(conn, [r for r in rows if r.on_hand is not None])
    if conn.dialect.name == "postgresql" and len(rows) >= ANALYZE_AFTER:
        # Without statistics (a fresh catalog, and autovacuum off or not yet round) the planner guesses the
        # tables small and answers every event's catalog look-ups by reading all of stock_levels: ~5 ms per
        # batch at 30,000 rows on an idle machine, 10-140 ms under load, growing with the catalog. ANALYZE
        # takes no lock that stops writers and costs tens of milliseconds once.
        await conn.execute(text("ANALYZE products, stock_levels"))
    return len(product_rows), len(rows)


async def _seed(conn: AsyncConnection, rows: list[CatalogRow]) -> None:
    if not rows:
        return
    stmt = (
        update(stock_levels)
        .where(
            stock_levels.c.sku == bindparam("b_sku"),
            stock_levels.c.location == bindparam("b_location"),
            stock_levels.c.on_hand.is_(None),
            stock_levels.c.last_event_at.is_(None),
        )
        .values(on_hand=bindparam("b_on_hand"))
    )
    await conn.execute(
        stmt, [{"b_sku": r.sku, "b_location": r.location, "b_on_hand": r.on_hand} for r in rows]
    )


IMPORT_SOURCE = "catalog import"  # the level's last_source after a count was imported


@dataclass(frozen=True)
class LevelChange:
    """One CSV count against the level it would set: set (``applied``), or kept because an event is newer."""

    sku: str
    location: str
    before: int | None
    after: int
    applied: bool
    newer_event_at: datetime | None = None
    newer_source: str | None = None


async def import_levels(
    conn: AsyncConnection,
    rows: list[CatalogRow],
    *,
    as_of: datetime,
    actor: str,
    now: datetime,
    file: str,
    reason: str | None = None,
) -> list[LevelChange]:
    """Set each level the CSV counts (``on_hand``), as counted at ``as_of``, unless an event newer than that
    moved it: that event knows better. Each level set, and each kept, is an audit row in this transaction.
    A level equal to the count is left as it is. Call after :func:`import_rows`."""
    rows = await _in_catalog_spelling(conn, [r for r in rows if r.on_hand is not None])
    current = await _locked_levels(conn, {(r.sku, r.location) for r in rows})
    found = [_change(row, current[(row.sku, row.location)], as_of) for row in rows]
    changes = [c for c in found if c is not None]
    applied = [c for c in changes if c.applied]
    if applied:
        stmt = (
            update(stock_levels)
            .where(
                stock_levels.c.sku == bindparam("b_sku"), stock_levels.c.location == bindparam("b_location")
            )
            .values(on_hand=bindparam("b_on_hand"), last_event_at=as_of, last_source=IMPORT_SOURCE)
        )
        await conn.execute(
            stmt, [{"b_sku": c.sku, "b_location": c.location, "b_on_hand": c.after} for c in applied]
        )
    await append(conn, [_audit(c, as_of, actor, now, file, reason) for c in changes])
    return changes


async def _locked_levels(
    conn: AsyncConnection, pairs: set[tuple[str, str]]
) -> dict[tuple[str, str], tuple[int | None, datetime | None, str | None]]:
    found: dict[tuple[str, str], tuple[int | None, datetime | None, str | None]] = {}
    columns = (stock_levels.c.on_hand, stock_levels.c.last_event_at, stock_levels.c.last_source)
    for sku in sorted({sku for sku, _ in pairs}):  # one product at a time, in a fixed order: no deadlocks
        query = (
            select(stock_levels.c.location, *columns)
            .where(stock_levels.c.sku == sku)
            .order_by(stock_levels.c.location)
            .with_for_update()
        )
        for location, on_hand, last_event_at, last_source in (await conn.execute(query)).all():
            found[(sku, location)] = (on_hand, last_event_at, last_source)
    return found


def _change(
    row: CatalogRow, level: tuple[int | None, datetime | None, str | None], as_of: datetime
) -> LevelChange | None:
    on_hand, last_event_at, last_source = level
    assert row.on_hand is not None
    if last_event_at is not None and last_event_at > as_of:
        return LevelChange(row.sku, row.location, on_hand, row.on_hand, False, last_event_at, last_source)
    if on_hand == row.on_hand:
        return None
    return LevelChange(row.sku, row.location, on_hand, row.on_hand, True)


def _audit(
    change: LevelChange, as_of: datetime, actor: str, now: datetime, file: str, reason: str | None
) -> dict[str, object]:
    subject = f"{change.sku}@{change.location}"
    why: dict[str, Any] = {"reason": reason} if reason else {}
    if change.applied:
        return audit_row(
            now,
            "level.imported",
            actor,
            subject=subject,
            **{"from": change.before},
            to=change.after,
            as_of=as_of.isoformat(),
            file=file,
            **why,
        )
    return audit_row(
        now,
        "level.import_kept",
        actor,
        subject=subject,
        on_hand=change.before,
        counted=change.after,
        as_of=as_of.isoformat(),
        file=file,
        newer_event_at=change.newer_event_at.isoformat() if change.newer_event_at else None,
        newer_source=change.newer_source,
        **why,
    )


async def export_csv(engine: AsyncEngine) -> str:
    query = (
        select(
            products.c.sku,
            products.c.name,
            products.c.category,
            products.c.key_product,
            stock_levels.c.location,
            stock_levels.c.minimum,
            stock_levels.c.critical_level,
            stock_levels.c.on_hand,
            stock_levels.c.lead_time_days,
        )
        .join(stock_levels, stock_levels.c.sku == products.c.sku)
        # the feed watchdog's pseudo-products (SKU feed:<source>, bot/watchdog.py) are not stock
        .where(~and_(products.c.category == "feed", products.c.sku.startswith("feed:")))
        .order_by(products.c.sku, stock_levels.c.location)
    )
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(COLUMNS)
    async with engine.connect() as conn:
        for row in (await conn.execute(query)).all():
            values = list(row)
            values[3] = "yes" if values[3] else "no"
            writer.writerow(["" if v is None else v for v in values])
    return buffer.getvalue()


SPELLINGS_CHUNK = 5000


@dataclass(frozen=True)
class Spellings:
    """The catalog's spelling of some SKUs and of their locations, found ignoring ASCII case."""

    skus: dict[str, str] = field(default_factory=dict)  # fold(sku) → the catalog's SKU
    locations: dict[str, dict[str, str]] = field(default_factory=dict)  # SKU → fold(location) → location

    def sku(self, given: str) -> str | None:
        return self.skus.get(fold(given))

    def location(self, sku: str, given: str) -> str | None:
        return self.locations.get(sku, {}).get(fold(given))


async def spellings(conn: AsyncConnection, skus: Iterable[str]) -> Spellings:
    """How the catalog spells ``skus`` and their locations: one query, served by the folded-SKU index."""
    keys = sorted({fold(sku) for sku in skus})
    found = Spellings()
    if not keys:
        return found
    joined = products.outerjoin(stock_levels, stock_levels.c.sku == products.c.sku)
    # In slices: a 40,000-row import would pass the bound-parameter limit (asyncpg 32,767, SQLite 32,766).
    for start in range(0, len(keys), SPELLINGS_CHUNK):
        chunk = keys[start : start + SPELLINGS_CHUNK]
        query = select(products.c.sku, stock_levels.c.location).select_from(joined)
        for sku, location in (await conn.execute(query.where(folded(products.c.sku).in_(chunk)))).all():
            found.skus[fold(sku)] = sku
            if location is not None:
                found.locations.setdefault(sku, {})[fold(location)] = location
    return found


async def catalog_sku(conn: AsyncConnection, sku: str) -> str | None:
    """The catalog's spelling of ``sku``, matched ignoring ASCII case; None when there is no such product."""
    query = select(products.c.sku).where(folded(products.c.sku) == fold(sku.strip()))
    return (await conn.execute(query)).scalars().first()


async def locations_of(conn: AsyncConnection, sku: str) -> list[str]:
    query = select(stock_levels.c.location).where(stock_levels.c.sku == sku).order_by(stock_levels.c.location)
    return list((await conn.execute(query)).scalars().all())


async def product_count(conn: AsyncConnection) -> int:
    return (await conn.execute(select(func.count()).select_from(products))).scalar_one()
