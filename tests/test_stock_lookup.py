"""The shared stock lookup (Slack `/stock`, Teams `stock`) on both databases, and `/oos` parsing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from stockbot.bot.permissions import Actor
from stockbot.bot.stock import FlagRequest, escalated_to, lookup, parse_flag, resolve_sku
from tests.conftest import HarnessFactory
from tests.helpers import T0, StockbotHarness, event

LOCATIONS = ["Chicago DC", "Las Vegas Showroom", "Las Vegas"]
CLI = Actor(id="alice", via="cli")


def engine_of(harness: StockbotHarness) -> AsyncEngine:
    assert harness.runtime is not None
    return harness.runtime.engine


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("CAB-MK-LEGACY", FlagRequest("CAB-MK-LEGACY", None, None)),
        ("CAB-MK-LEGACY Chicago DC", FlagRequest("CAB-MK-LEGACY", "Chicago DC", None)),
        ("CAB-MK-LEGACY chicago  dc   fell off", FlagRequest("CAB-MK-LEGACY", "Chicago DC", "fell off")),
        ("CAB-MK-LEGACY las vegas showroom wet", FlagRequest("CAB-MK-LEGACY", "Las Vegas Showroom", "wet")),
        ("CAB-MK-LEGACY Las Vegas wet", FlagRequest("CAB-MK-LEGACY", "Las Vegas", "wet")),
        ("CAB-MK-LEGACY Chicago DCX", FlagRequest("CAB-MK-LEGACY", None, "Chicago DCX")),
        ("CAB-MK-LEGACY damaged in transit", FlagRequest("CAB-MK-LEGACY", None, "damaged in transit")),
    ],
)
def test_parse_flag_takes_the_longest_known_location(text: str, expected: FlagRequest) -> None:
    assert parse_flag(text, LOCATIONS) == expected


async def test_exact_sku_ignoring_case(stockbot: HarnessFactory) -> None:
    harness = await stockbot()
    (product,) = await lookup(engine_of(harness), "  cab-pacman-up ")
    assert (product.sku, product.name, product.category, product.key_product) == (
        "CAB-PACMAN-UP",
        "Pac-Man upright cabinet",
        "cabinet",
        True,
    )
    chicago, vegas = product.locations
    assert (chicago.location, chicago.on_hand, chicago.minimum, chicago.critical_level) == (
        "Chicago DC",
        7,
        2,
        0,
    )
    assert chicago.severity is None and chicago.alert is None and chicago.last_event_at is None
    assert vegas.location == "Las Vegas Showroom"
    assert await resolve_sku(engine_of(harness), "cab-pacman-up") == (
        "CAB-PACMAN-UP",
        ["Chicago DC", "Las Vegas Showroom"],
    )
    assert await resolve_sku(engine_of(harness), "PACMAN") is None  # a fragment is not a SKU


async def test_words_match_name_or_sku_up_to_the_limit(stockbot: HarnessFactory) -> None:
    engine = engine_of(await stockbot())
    assert [p.sku for p in await lookup(engine, "GODZILLA table")] == ["PIN-GODZ-PREM", "PIN-GODZ-PRO"]
    assert [p.sku for p in await lookup(engine, "pacman")] == ["CAB-PACMAN-UP"]  # in the SKU only
    assert len(await lookup(engine, "pinball")) == 5
    assert len(await lookup(engine, "pinball", limit=6)) == 6
    assert await lookup(engine, "godzilla zaxxon") == []  # every word must match
    assert await lookup(engine, "%") == [] and await lookup(engine, "_") == []  # LIKE wildcards are text
    assert await lookup(engine, "   ") == []


async def test_open_alert_severity_and_last_change(stockbot: HarnessFactory) -> None:
    harness = await stockbot(
        channels={"managers": {"adapter": "console", "address": "managers"}},
        routes=[{"channels": ["ops"], "escalate_to": ["managers"], "escalate_after": "15m"}],
    )
    await harness.send(event("CAB-MK-LEGACY", 1, at=T0 + timedelta(minutes=1)))
    (product,) = await lookup(engine_of(harness), "CAB-MK-LEGACY")
    chicago = product.locations[0]
    assert (chicago.on_hand, chicago.severity, chicago.last_source) == (1, "low", "erp")
    assert chicago.last_event_at == T0 + timedelta(minutes=1)
    assert chicago.alert is not None and chicago.alert.state == "open" and chicago.alert.severity == "low"
    assert escalated_to(harness.config, product, chicago) == ()

    await harness.desk.escalate(chicago.alert.id, CLI)
    (product,) = await lookup(engine_of(harness), "CAB-MK-LEGACY")
    chicago = product.locations[0]
    assert chicago.alert is not None and chicago.alert.state == "escalated"
    assert chicago.alert.escalation_step == 1
    assert escalated_to(harness.config, product, chicago) == ("managers",)

    await harness.send(event("CAB-MK-LEGACY", 9, at=T0 + timedelta(minutes=2)))
    (product,) = await lookup(engine_of(harness), "CAB-MK-LEGACY")
    assert product.locations[0].alert is None and product.locations[0].severity is None
