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
            assert await import_rows(conn, rows) == (50, 100)
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
            await import_rows(conn, parse_csv(text))
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


def test_a_bad_lead_time_is_named() -> None:
    with pytest.raises(CatalogError, match="row 2, column lead_time_days: 'soon' is not a whole number"):
        parse_csv("sku,name,location,minimum,lead_time_days\nA,B,C,1,soon\n")
