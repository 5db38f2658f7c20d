"""A person's own list of alerts (bot/inbox.py), on both databases: what Teams' `alerts` and Slack's App Home
show."""

from __future__ import annotations

from stockbot.bot.inbox import location_named, open_alerts_for
from stockbot.bot.permissions import Actor, alert_actions_of
from tests.conftest import HarnessFactory
from tests.helpers import event

ROLES = {"rep": ["aad-rep"], "manager": ["aad-manager"], "warehouse": ["aad-warehouse"]}
REP = Actor(id="aad-rep", via="teams", name="Rita Rep")
MANAGER = Actor(id="aad-manager", via="teams")
WAREHOUSE = Actor(id="aad-warehouse", via="teams")
STRANGER = Actor(id="aad-stranger", via="teams")


async def test_every_unresolved_alert_most_urgent_first_for_anyone_with_a_role(
    stockbot: HarnessFactory,
) -> None:
    harness = await stockbot(roles=ROLES, server={"public_url": "https://stockbot.example.com"})
    assert harness.runtime is not None
    await harness.send(event("CAB-DK-JR", 1))  # low
    await harness.send(event("CAB-MK-LEGACY", 0))  # out
    await harness.send(event("CAB-PACMAN-UP", 0, location="Las Vegas Showroom"))  # a key product: critical
    await harness.send(event("CAB-CENTIPEDE", 0))
    await harness.send(event("CAB-CENTIPEDE", 6, at=harness.later(minutes=5)))  # back in stock: not listed
    engine, config = harness.runtime.engine, harness.runtime.config

    found = await open_alerts_for(engine, config, REP)
    assert [(m.sku, m.location, m.severity) for m in found] == [
        ("CAB-PACMAN-UP", "Las Vegas Showroom", "critical"),
        ("CAB-MK-LEGACY", "Chicago DC", "out"),
        ("CAB-DK-JR", "Chicago DC", "low"),
    ]
    pacman = found[0]
    assert pacman.product_name == "Pac-Man upright cabinet" and pacman.key_product
    assert pacman.state == "open" and pacman.on_hand == 0 and pacman.minimum == 1
    assert pacman.link == f"https://stockbot.example.com/alerts/{pacman.alert_id}"
    assert all(m.event == "updated" and not m.is_resolved for m in found)

    chicago = await open_alerts_for(engine, config, MANAGER, location="chicago dc")
    assert [m.sku for m in chicago] == ["CAB-MK-LEGACY", "CAB-DK-JR"]
    assert await open_alerts_for(engine, config, MANAGER, limit=1) == found[:1]
    # Warehouse staff flag and clear, but press no button on an alert (Resolve is the managers'):
    assert await open_alerts_for(engine, config, WAREHOUSE) == []
    assert await open_alerts_for(engine, config, REP, location="Atlantis") == []
    # No role, no button to press: nothing to list. The CLI is trusted like everywhere else.
    assert await open_alerts_for(engine, config, STRANGER) == []
    assert await open_alerts_for(engine, config, Actor(id="alice", via="cli")) == found


async def test_actions_and_locations(stockbot: HarnessFactory) -> None:
    harness = await stockbot(roles=ROLES)
    assert harness.runtime is not None
    roles = harness.runtime.config.roles
    assert alert_actions_of(roles, REP) == ("acknowledge", "snooze")
    assert alert_actions_of(roles, MANAGER) == ("acknowledge", "escalate", "snooze", "resolve")
    assert alert_actions_of(roles, WAREHOUSE) == ()  # they flag and clear; Resolve is the managers'
    assert alert_actions_of(roles, STRANGER) == ()
    engine = harness.runtime.engine
    assert await location_named(engine, "las  vegas showroom") == "Las Vegas Showroom"
    assert await location_named(engine, "Atlantis") is None
