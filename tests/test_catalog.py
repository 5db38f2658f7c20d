"""Catalog CSV import and export: all or nothing, every bad cell named by row and column."""

from __future__ import annotations

import csv
import io

import pytest

from stockbot.storage.catalog import DEMO_CATALOG, CatalogError, export_csv, import_rows, parse_csv
from stockbot.storage.db import create_engine, upgrade


def test_the_demo_catalog_has_about_fifty_arcade_products_in_two_locations() -> None:
    rows = parse_csv(DEMO_CATALOG.read_text())
    assert 45 <= len({r.sku for r in rows}) <= 60
    assert {r.location for r in rows} == {"Chicago DC", "Las Vegas Showroom"}
    assert {r.category for r in rows} >= {"cabinet", "pinball", "claw", "part"}


def test_every_bad_cell_is_named_by_row_and_column() -> None:
    text = (
        "sku,name,category,key_product,location,minimum,critical_level,on_hand\n"
        "A-1,Alpha,part,yes,Chicago DC,2,,5\n"
        "A-2,,part,maybe,Chicago DC,two,,\n"
        "A-3,Gamma,part,no,Chicago DC,1,3,-4\n"
        "A-1,Alpha,part,yes,Chicago DC,2,,5\n"
    )
    with pytest.raises(CatalogError) as raised:
        parse_csv(text, source="stock.csv")
    problems = "\n".join(raised.value.problems)
    for expected in [
        "stock.csv row 3, column name: required",
        "stock.csv row 3, column key_product: 'maybe' is not yes/no",
        "stock.csv row 3, column minimum: 'two' is not a whole number",
        "stock.csv row 4, column critical_level: 3 is above minimum 1",
        "stock.csv row 4, column on_hand: -4 is negative",
        "stock.csv row 5: A-1 at Chicago DC appears twice",
    ]:
        assert expected in problems


def test_a_header_without_required_columns_is_refused() -> None:
    with pytest.raises(CatalogError, match="header lacks column"):
        parse_csv("sku,name\nA,B\n")


async def test_import_then_export_round_trips(db_url: str) -> None:
    engine = create_engine(db_url)
    try:
        await upgrade(engine)
        rows = parse_csv(DEMO_CATALOG.read_text())
        async with engine.begin() as conn:
            assert await import_rows(conn, rows, seed_levels=True) == (50, 100)
        exported = await export_csv(engine)
        again = parse_csv(exported)
        assert sorted(again, key=lambda r: (r.sku, r.location)) == sorted(
            rows, key=lambda r: (r.sku, r.location)
        )
        # re-importing without on_hand keeps the levels already known
        no_levels = io.StringIO()
        writer = csv.writer(no_levels)
        writer.writerow(["sku", "name", "location", "minimum"])
        writer.writerow(["CAB-PACMAN-UP", "Pac-Man upright cabinet", "Chicago DC", 3])
        async with engine.begin() as conn:
            await import_rows(conn, parse_csv(no_levels.getvalue()))
        assert "CAB-PACMAN-UP,Pac-Man upright cabinet,,no,Chicago DC,3,,7" in await export_csv(engine)
    finally:
        await engine.dispose()


async def test_lead_times_import_export_and_survive_a_file_without_them(db_url: str) -> None:
    engine = create_engine(db_url)
    try:
        await upgrade(engine)
        text = (
            "sku,name,category,key_product,location,minimum,critical_level,on_hand,lead_time_days\n"
            "A-1,Alpha,part,no,Chicago DC,2,,5,12\n"
            "A-1,Alpha,part,no,Reno,2,,5,\n"
        )
        async with engine.begin() as conn:
            await import_rows(conn, parse_csv(text), seed_levels=True)
        exported = await export_csv(engine)
        assert exported.splitlines()[0].endswith(",on_hand,lead_time_days")
        assert "A-1,Alpha,part,no,Chicago DC,2,,5,12" in exported
        assert "A-1,Alpha,part,no,Reno,2,,5,\r" in exported  # empty: [reorder] lead_time_days applies
        # a file without the column keeps the lead times; with it, an empty cell clears one
        async with engine.begin() as conn:
            await import_rows(conn, parse_csv("sku,name,location,minimum\nA-1,Alpha,Chicago DC,3\n"))
        assert "A-1,Alpha,,no,Chicago DC,3,,5,12" in await export_csv(engine)
        async with engine.begin() as conn:
            await import_rows(
                conn, parse_csv("sku,name,location,minimum,lead_time_days\nA-1,Alpha,Chicago DC,3,\n")
            )
        assert "A-1,Alpha,,no,Chicago DC,3,,5,\r" in await export_csv(engine)
    finally:
        await engine.dispose()


CSV_HEAD = "sku,name,category,key_product,location,minimum,critical_level,on_hand\n"


async def test_an_import_sets_products_and_minimums_never_levels(db_url: str) -> None:
    engine = create_engine(db_url)
    try:
        await upgrade(engine)
        async with engine.begin() as conn:
            await import_rows(conn, parse_csv(CSV_HEAD + "A-1,Alpha,part,no,Chicago DC,2,,5\n"))
        exported = await export_csv(engine)
        assert "A-1,Alpha,part,no,Chicago DC,2,," in exported and ",5" not in exported  # unknown: no count
        async with engine.begin() as conn:
            await import_rows(
                conn, parse_csv(CSV_HEAD + "A-1,Alpha,part,no,Chicago DC,3,,5\n"), seed_levels=True
            )
            await import_rows(conn, parse_csv(CSV_HEAD + "A-1,Alpha,part,no,Chicago DC,4,,9\n"))
            # seeding fills a level nobody knows yet, and only that
            await import_rows(
                conn, parse_csv(CSV_HEAD + "A-1,Alpha,part,no,Chicago DC,4,,8\n"), seed_levels=True
            )
        assert "A-1,Alpha,part,no,Chicago DC,4,,5" in await export_csv(engine)
    finally:
        await engine.dispose()


def test_a_bad_lead_time_is_named() -> None:
    with pytest.raises(CatalogError, match="row 2, column lead_time_days: 'soon' is not a whole number"):
        parse_csv("sku,name,location,minimum,lead_time_days\nA,B,C,1,soon\n")


async def test_import_levels_sets_counts_older_than_the_last_event_and_audits_each(db_url: str) -> None:
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import select, update

    from stockbot.storage.catalog import import_levels
    from stockbot.storage.tables import audit_events, stock_levels

    counted = datetime(2026, 11, 30, 7, 0, tzinfo=UTC)
    engine = create_engine(db_url)
    try:
        await upgrade(engine)
        text = CSV_HEAD + "A-1,Alpha,part,no,Chicago DC,2,,5\nA-1,Alpha,part,no,Las Vegas,2,,0\n"
        rows = parse_csv(text)
        async with engine.begin() as conn:
            await import_rows(conn, rows, seed_levels=True)
            await conn.execute(  # an event after the count moved Chicago to 1
                update(stock_levels)
                .where(stock_levels.c.location == "Chicago DC")
                .values(on_hand=1, last_event_at=counted + timedelta(minutes=5), last_source="erp")
            )
        recount = parse_csv(
            CSV_HEAD + "a-1,Alpha,part,no,chicago dc,2,,7\na-1,Alpha,part,no,Las Vegas,2,,4\n"
        )
        async with engine.begin() as conn:
            changes = await import_levels(
                conn,
                recount,
                as_of=counted,
                actor="cli:alice",
                now=counted,
                file="count.csv",
                reason="stocktake",
            )
        assert [(c.sku, c.location, c.before, c.after, c.applied) for c in changes] == [
            ("A-1", "Chicago DC", 1, 7, False),
            ("A-1", "Las Vegas", 0, 4, True),
        ]
        async with engine.connect() as conn:
            levels = dict((await conn.execute(select(stock_levels.c.location, stock_levels.c.on_hand))).all())
            audit = (await conn.execute(select(audit_events).order_by(audit_events.c.id))).mappings().all()
        assert levels == {"Chicago DC": 1, "Las Vegas": 4}
        assert [(r["kind"], r["actor"], r["subject"]) for r in audit] == [
            ("level.import_kept", "cli:alice", "A-1@Chicago DC"),
            ("level.imported", "cli:alice", "A-1@Las Vegas"),
        ]
        assert audit[0]["detail"]["newer_source"] == "erp" and audit[0]["detail"]["counted"] == 7
        assert audit[1]["detail"]["from"] == 0 and audit[1]["detail"]["to"] == 4
        assert audit[1]["detail"]["reason"] == "stocktake"
    finally:
        await engine.dispose()


async def test_a_catalog_larger_than_the_bound_parameter_limit_imports(db_url: str) -> None:
    """33,000 SKUs: more than either driver binds in one statement (asyncpg 32,767, SQLite 32,766)."""
    rows = "".join(f"B-{n:05d},Part {n},Chicago DC,1\n" for n in range(33_000))
    text = "sku,name,location,minimum\n" + rows
    engine = create_engine(db_url)
    try:
        await upgrade(engine)
        async with engine.begin() as conn:
            assert await import_rows(conn, parse_csv(text)) == (33_000, 33_000)
        assert (await export_csv(engine)).count("\nB-") == 33_000
    finally:
        await engine.dispose()
