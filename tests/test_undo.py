"""Undoing a mistake, at the alert desk (what Slack, Teams and the CLI call): warehouse staff clear their
flag, managers resolve any alert by hand. Each is audited with the actor and the reason, and each card then
says who closed it and why, never "back in stock"."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from stockbot.adapters.render import slack, text
from stockbot.bot.alerts import NotFound
from stockbot.bot.permissions import Actor, PermissionDenied
from stockbot.bot.transitions import InvalidTransition
from stockbot.storage.tables import alerts, audit_events
from tests.conftest import HarnessFactory
from tests.helpers import StockbotHarness, event

REP = Actor(id="U_REP", via="slack", name="Dana")
MANAGER = Actor(id="U_MGR", via="slack", name="Morgan")
WAREHOUSE = Actor(id="U_WH", via="slack", name="Sam")
ROLES = {"rep": ["U_REP"], "manager": ["U_MGR"], "warehouse": ["U_WH"]}
SKU = "CAB-MK-LEGACY"  # minimum 1; 3 on hand in Chicago DC


async def audit(harness: StockbotHarness, kind: str) -> list[dict[str, Any]]:
    assert harness.runtime is not None
    async with harness.runtime.engine.connect() as conn:
        query = select(audit_events).where(audit_events.c.kind == kind).order_by(audit_events.c.id)
        return [dict(r) for r in (await conn.execute(query)).mappings().all()]


async def the_alert(harness: StockbotHarness) -> dict[str, Any]:
    assert harness.runtime is not None
    async with harness.runtime.engine.connect() as conn:
        return dict((await conn.execute(select(alerts))).mappings().one())


async def test_clearing_a_mistaken_flag_resolves_it_when_the_level_is_fine(stockbot: HarnessFactory) -> None:
    harness = await stockbot(roles=ROLES)
    await harness.desk.flag(SKU, "Chicago DC", WAREHOUSE, "looked empty")
    outcome = await harness.desk.clear("cab-mk-legacy", "chicago dc", WAREHOUSE, "they were behind the door")
    assert (outcome.event, outcome.alert.state, outcome.alert.flagged_by) == ("resolved", "resolved", None)
    (row,) = await audit(harness, "alert.flag_cleared")
    assert (row["actor"], row["detail"]["reason"], row["detail"]["state"]) == (
        "slack:U_WH",
        "they were behind the door",
        "resolved",
    )
    message = outcome.message
    assert text.headline(message).startswith("Resolved by hand: Mortal Kombat")
    assert "Back in stock" not in str(slack.alert_blocks(message))
    assert slack.thread_text(message) == "Resolved by Sam: flag cleared: they were behind the door"


async def test_clearing_a_flag_on_a_short_level_leaves_what_the_level_says(stockbot: HarnessFactory) -> None:
    harness = await stockbot(roles=ROLES)
    await harness.send(event(SKU, 1))  # low
    await harness.desk.flag(SKU, "Chicago DC", WAREHOUSE, "all broken")  # out, by hand
    outcome = await harness.desk.clear(SKU, "Chicago DC", WAREHOUSE, None)
    alert = outcome.alert
    assert (alert.state, alert.severity, alert.trigger, alert.flagged_by, alert.reason) == (
        "open",
        "low",
        "low_stock",
        None,
        None,
    )
    (row,) = await audit(harness, "alert.flag_cleared")
    assert row["detail"]["reason"] == "flag cleared"


async def test_only_a_flag_can_be_cleared_and_only_by_warehouse_staff(stockbot: HarnessFactory) -> None:
    harness = await stockbot(roles=ROLES)
    with pytest.raises(NotFound, match="no open alert"):
        await harness.desk.clear(SKU, "Chicago DC", WAREHOUSE, None)
    await harness.send(event(SKU, 0))
    with pytest.raises(InvalidTransition, match=r"was not flagged by hand.*a manager can Resolve it"):
        await harness.desk.clear(SKU, "Chicago DC", WAREHOUSE, None)
    for someone in (REP, MANAGER):
        with pytest.raises(PermissionDenied, match="only warehouse roles may clear"):
            await harness.desk.clear(SKU, "Chicago DC", someone, None)
    refused = await audit(harness, "action.refused")
    assert [(r["actor"], r["detail"]["action"]) for r in refused] == [
        ("slack:U_WH", "clear"),
        ("slack:U_WH", "clear"),
        ("slack:U_REP", "clear"),
        ("slack:U_MGR", "clear"),
    ]
    assert refused[1]["alert_id"] == (await the_alert(harness))["id"]


async def test_managers_resolve_any_alert_by_hand_with_a_reason(stockbot: HarnessFactory) -> None:
    harness = await stockbot(roles=ROLES)
    await harness.send(event(SKU, 0))
    alert_id = (await the_alert(harness))["id"]
    for someone in (REP, WAREHOUSE):
        with pytest.raises(PermissionDenied, match="only manager roles may resolve"):
            await harness.desk.resolve(alert_id, someone, "nope")
    outcome = await harness.desk.resolve(alert_id, MANAGER, "counted wrong at the ERP")
    assert (outcome.alert.state, outcome.alert.resolved_by) == ("resolved", "Morgan")
    (row,) = await audit(harness, "alert.resolved")
    assert (row["actor"], row["detail"]["reason"]) == ("slack:U_MGR", "counted wrong at the ERP")
    assert text.status_line(outcome.message).startswith("Resolved by Morgan after ")
    assert text.status_line(outcome.message).endswith(": counted wrong at the ERP")
    assert text.sms(outcome.message).startswith("RESOLVED CAB-MK-LEGACY")
    # A reopened alert starts afresh: no note from its last life.
    await harness.send(event(SKU, 1, at=harness.later(minutes=2)))
    await harness.send(event(SKU, 0, at=harness.later(minutes=2)))
    alert = await the_alert(harness)
    assert (alert["state"], alert["resolved_note"]) == ("open", None)
