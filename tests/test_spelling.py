"""One rule for SKUs and locations, on both databases: ASCII letters ignore case, the catalog's spelling wins.

Events, fulfilment failures, `/stock`, `/oos` (and `stockbot flag`), routes and catalog import all follow it,
and the folded-spelling indexes both enforce it and serve it.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from stockbot.bot.config import parse_config
from stockbot.bot.permissions import Actor
from stockbot.bot.routing import route_for
from stockbot.bot.stock import lookup, resolve_sku
from stockbot.storage.catalog import CatalogError, import_rows, parse_csv
from stockbot.storage.db import create_engine, upgrade
from stockbot.storage.folding import fold
from stockbot.storage.tables import alerts, events, products, stock_levels
from tests.conftest import HarnessFactory
from tests.helpers import StockbotHarness, event
from tests.test_storage import upgrade_to

WAREHOUSE = Actor(id="U_WH", via="slack", name="Sam")


def engine_of(harness: StockbotHarness) -> AsyncEngine:
    assert harness.runtime is not None
    return harness.runtime.engine


async def rows(harness: StockbotHarness, query: Any) -> list[dict[str, Any]]:
    async with engine_of(harness).connect() as conn:
        return [dict(r) for r in (await conn.execute(query)).mappings().all()]


def test_fold_changes_ascii_letters_only() -> None:
    assert fold("Cab-DK-Jr Chicago DC") == "cab-dk-jr chicago dc"
    assert fold("DÜSSELDORF") == "dÜsseldorf"  # what SQLite's lower() and PostgreSQL's under "C" do
    every_ascii = "".join(map(chr, range(128)))
    assert fold(every_ascii) == "".join(c.lower() if "A" <= c <= "Z" else c for c in every_ascii)
    assert fold("İSTANBUL") == "İstanbul"  # not str.lower's "i̇stanbul"


async def test_events_in_any_case_move_the_catalogs_level(stockbot: HarnessFactory) -> None:
    harness = await stockbot()
    body = await harness.send(event("cab-dk-jr", 0, location="CHICAGO dc"))
    assert body["results"][0]["outcome"] == "applied"  # was unknown_sku
    (stored,) = await rows(harness, select(events))
    assert (stored["sku"], stored["location"], stored["outcome"]) == ("CAB-DK-JR", "Chicago DC", "applied")
    assert stored["payload"]["sent_as"] == {"sku": "cab-dk-jr", "location": "CHICAGO dc"}
    levels = await rows(harness, select(stock_levels).where(stock_levels.c.sku == "CAB-DK-JR"))
    assert {(r["location"], r["on_hand"]) for r in levels} == {("Chicago DC", 0), ("Las Vegas Showroom", 3)}
    (alert,) = await rows(harness, select(alerts))
    assert (alert["sku"], alert["location"], alert["severity"]) == ("CAB-DK-JR", "Chicago DC", "out")
    assert len(await rows(harness, select(products).where(products.c.sku.ilike("cab-dk-jr")))) == 1


async def test_a_fulfilment_failure_in_other_case_blocks_the_catalogs_product(
    stockbot: HarnessFactory,
) -> None:
    harness = await stockbot()
    failure = {**event("cab-mk-legacy", location="chicago DC"), "order_id": "SO-7", "requested": 2}
    status, body = await harness.post("/events/fulfillment-failed", {**failure, "available": 0})
    assert status == 202 and body["results"][0]["outcome"] == "applied", body
    (alert,) = await rows(harness, select(alerts))
    assert (alert["sku"], alert["location"], alert["severity"]) == ("CAB-MK-LEGACY", "Chicago DC", "critical")
    assert [o["order_id"] for o in alert["blocked_orders"]] == ["SO-7"]


async def test_unknown_stays_unknown_whatever_the_case(stockbot: HarnessFactory) -> None:
    harness = await stockbot()
    body = await harness.send(event("nope-1", 1), event("cab-dk-jr", 1, location="atlantis"))
    assert [r["outcome"] for r in body["results"]] == ["unknown_sku", "unknown_location"]
    stored = await rows(harness, select(events.c.sku, events.c.location).order_by(events.c.id))
    # Unknown SKUs are kept as sent; a known SKU at an unknown location takes the catalog's SKU spelling.
    assert [(r["sku"], r["location"]) for r in stored] == [
        ("nope-1", "Chicago DC"),
        ("CAB-DK-JR", "atlantis"),
    ]


async def test_stock_oos_and_the_cli_flag_find_any_case(stockbot: HarnessFactory) -> None:
    harness = await stockbot(roles={"warehouse": ["U_WH"]})
    engine = engine_of(harness)
    assert [p.sku for p in await lookup(engine, "cab-dk-jr")] == ["CAB-DK-JR"]
    assert [p.sku for p in await lookup(engine, "DONKEY kong JR")] == ["CAB-DK-JR"]
    assert await resolve_sku(engine, "Cab-Dk-Jr") == ("CAB-DK-JR", ["Chicago DC", "Las Vegas Showroom"])
    # desk.flag is what /oos (Slack, Teams) and `stockbot flag` call
    outcome = await harness.desk.flag("cab-dk-jr", "LAS VEGAS showroom", WAREHOUSE, "dropped")
    assert (outcome.alert.sku, outcome.alert.location) == ("CAB-DK-JR", "Las Vegas Showroom")


def test_routes_match_skus_and_locations_ignoring_case() -> None:
    config = parse_config(
        {
            "channels": {
                "a": {"adapter": "console", "address": "a"},
                "b": {"adapter": "console", "address": "b"},
            },
            "routes": [
                {"match": {"sku": ["cab-dk-jr"], "location": ["chicago dc"]}, "channels": ["a"]},
                {"channels": ["b"]},
            ],
        },
        env={},
    )
    route = route_for(config, "out", "cabinet", "Chicago DC", "CAB-DK-JR")
    assert route is not None and route.channels == ["a"]


async def test_catalog_import_updates_the_existing_spelling(db_url: str) -> None:
    engine = create_engine(db_url)
    try:
        await upgrade(engine)
        first = "sku,name,category,key_product,location,minimum\nCAB-X,Cabinet X,cabinet,no,Chicago DC,2\n"
        again = "sku,name,category,key_product,location,minimum\ncab-x,Cabinet X2,cabinet,no,CHICAGO DC,4\n"
        for text_ in (first, again):
            async with engine.begin() as conn:
                await import_rows(conn, parse_csv(text_))
        async with engine.connect() as conn:
            found = (await conn.execute(select(products.c.sku, products.c.name))).all()
            levels = (await conn.execute(select(stock_levels.c.location, stock_levels.c.minimum))).all()
        assert [tuple(r) for r in found] == [("CAB-X", "Cabinet X2")]
        assert [tuple(r) for r in levels] == [("Chicago DC", 4)]
    finally:
        await engine.dispose()


def test_a_csv_naming_one_product_two_ways_is_refused() -> None:
    text_ = (
        "sku,name,location,minimum\nA-1,Alpha,Chicago DC,2\na-1,Alpha,Las Vegas,2\nA-1,Alpha,chicago dc,3\n"
    )
    with pytest.raises(CatalogError) as raised:
        parse_csv(text_, source="c.csv")
    assert raised.value.problems == [
        "c.csv row 3, column sku: 'a-1' is 'A-1' of row 2 in other letter case; SKUs ignore case, "
        "so write one spelling",
        "c.csv row 4: A-1 at chicago dc appears twice, first in row 2 (as 'Chicago DC')",
    ]


async def test_the_folded_indexes_refuse_a_second_spelling_and_serve_lookups(
    stockbot: HarnessFactory, db_url: str
) -> None:
    harness = await stockbot()
    engine = engine_of(harness)
    for statement in (
        "INSERT INTO products (sku, name, category, key_product) VALUES ('cab-dk-jr', 'x', '', false)",
        "INSERT INTO stock_levels (sku, location, minimum) VALUES ('CAB-DK-JR', 'CHICAGO DC', 1)",
    ):
        with pytest.raises(Exception, match=r"(?i)unique"):
            async with engine.begin() as conn:
                await conn.execute(text(statement))
    async with engine.connect() as conn:
        if db_url.startswith("sqlite"):
            plan = await conn.execute(
                text("EXPLAIN QUERY PLAN SELECT sku FROM products WHERE lower(sku) = 'cab-dk-jr'")
            )
            detail = " ".join(str(r[-1]) for r in plan.all())
        else:
            await conn.execute(text("SET enable_seqscan = off"))
            plan = await conn.execute(
                text("""EXPLAIN SELECT sku FROM products WHERE lower(sku COLLATE "C") = 'cab-dk-jr'""")
            )
            detail = " ".join(r[0] for r in plan.all())
    assert "uq_products_sku_folded" in detail, detail


async def test_the_upgrade_names_entries_that_differ_only_by_case(db_url: str) -> None:
    engine = create_engine(db_url)
    try:
        await upgrade(engine)
        await upgrade_to(engine, "0002")
        async with engine.begin() as conn:
            for sku in ("CAB-X", "cab-x"):
                await conn.execute(products.insert().values(sku=sku, name=sku))
            for location in ("Chicago DC", "chicago dc"):
                await conn.execute(stock_levels.insert().values(sku="CAB-X", location=location, minimum=1))
        with pytest.raises(RuntimeError) as raised:
            await upgrade(engine)
        message = str(raised.value)
        assert "SKU CAB-X, cab-x" in message and "CAB-X at Chicago DC, chicago dc" in message
        assert "run `stockbot db upgrade` again" in message
    finally:
        await engine.dispose()
