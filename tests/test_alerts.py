"""Alert lifecycle through the real HTTP path and the AlertDesk: open, update, resolve with a buffer,
reopen in the cool-down, escalate (timer in the database), acknowledge, snooze, permissions, audit."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event as sa_event
from sqlalchemy import func, select, text, update
from sqlalchemy.exc import DBAPIError

from stockbot.bot.alerts import NotFound
from stockbot.bot.permissions import Actor, PermissionDenied
from stockbot.bot.runtime import Runtime
from stockbot.bot.transitions import InvalidTransition
from stockbot.storage.tables import alerts, audit_events, deliveries, stock_levels
from tests.conftest import HarnessFactory
from tests.helpers import T0, StockbotHarness, event

REP = Actor(id="U_REP", via="slack", name="Dana")
MANAGER = Actor(id="U_MGR", via="slack", name="Morgan")
WAREHOUSE = Actor(id="U_WH", via="slack", name="Sam")
GROUP_MANAGER = Actor(id="U_OTHER", via="slack", groups=("S_MANAGERS",))
ROLES = {"rep": ["U_REP"], "manager": ["U_MGR", "S_MANAGERS"], "warehouse": ["U_WH"]}
ESCALATING = {
    "channels": {
        "sales": {"adapter": "console", "address": "#sales"},
        "managers": {"adapter": "console", "address": "#managers"},
    },
    "routes": [{"channels": ["sales"], "escalate_to": ["managers"], "escalate_after": "15m"}],
    "roles": ROLES,
}


async def rows(harness: StockbotHarness, query: Any) -> list[dict[str, Any]]:
    assert harness.runtime is not None
    async with harness.runtime.engine.connect() as conn:
        return [dict(r) for r in (await conn.execute(query)).mappings().all()]


async def the_alert(harness: StockbotHarness) -> dict[str, Any]:
    (alert,) = await rows(harness, select(alerts))
    return alert


async def queued(harness: StockbotHarness) -> list[tuple[str, str]]:
    found = await rows(harness, select(deliveries.c.channel, deliveries.c.event).order_by(deliveries.c.id))
    return [(r["channel"], r["event"]) for r in found]


async def test_low_opens_updates_and_resolves_only_above_minimum_plus_buffer(
    stockbot: HarnessFactory,
) -> None:
    harness = await stockbot(alerts={"resolve_buffer": 2})
    await harness.send(event("CAB-PACMAN-UP", 2, at=harness.later(minutes=1)))  # minimum is 2: low
    alert = await the_alert(harness)
    assert (alert["state"], alert["severity"], alert["trigger"]) == ("open", "low", "low_stock")
    await harness.send(event("CAB-PACMAN-UP", 1, at=harness.later(minutes=1)))
    assert (await the_alert(harness))["on_hand"] == 1
    await harness.send(event("CAB-PACMAN-UP", 4, at=harness.later(minutes=1)))  # above minimum, within buffer
    assert (await the_alert(harness))["state"] == "open"
    await harness.send(event("CAB-PACMAN-UP", 5, at=harness.later(minutes=1)))  # above 2 + 2
    alert = await the_alert(harness)
    assert (alert["state"], alert["resolved_by"]) == ("resolved", "erp")
    assert await queued(harness) == [
        ("ops", "opened"),
        ("ops", "updated"),
        ("ops", "updated"),
        ("ops", "resolved"),
    ]
    kinds = [
        r["kind"]
        for r in await rows(
            harness,
            select(audit_events.c.kind)
            .where(audit_events.c.kind.like("alert.%"))
            .order_by(audit_events.c.id),
        )
    ]
    assert kinds == ["alert.opened", "alert.updated", "alert.updated", "alert.resolved"]


async def test_a_new_shortage_within_the_cool_down_reopens_the_same_alert(stockbot: HarnessFactory) -> None:
    harness = await stockbot(alerts={"reopen_cooldown": "30m"})
    await harness.send(event("CAB-PACMAN-UP", 1, at=harness.later(minutes=1)))
    await harness.send(event("CAB-PACMAN-UP", 9, at=harness.later(minutes=1)))
    await harness.send(event("CAB-PACMAN-UP", 0, at=harness.later(minutes=10)))
    alert = await the_alert(harness)  # still one alert
    assert (alert["state"], alert["severity"]) == ("open", "critical")  # key product at zero
    assert ("ops", "reopened") in await queued(harness)
    await harness.send(event("CAB-PACMAN-UP", 9, at=harness.later(minutes=1)))
    await harness.send(
        event("CAB-PACMAN-UP", 1, at=harness.later(hours=2))
    )  # past the cool-down: a new alert
    assert len(await rows(harness, select(alerts))) == 2


async def test_critical_escalates_at_once_to_the_routes_escalate_to(stockbot: HarnessFactory) -> None:
    harness = await stockbot(**ESCALATING)
    await harness.send(event("PIN-GODZ-PRO", 0))  # key product out
    alert = await the_alert(harness)
    assert (alert["state"], alert["severity"], alert["escalation_step"]) == ("escalated", "critical", 1)
    assert await queued(harness) == [("sales", "opened"), ("sales", "escalated"), ("managers", "escalated")]
    assert await harness.deliver() == 3


async def test_unacknowledged_alerts_escalate_after_the_wait_and_the_timer_survives_a_restart(
    stockbot: HarnessFactory, db_url: str
) -> None:
    harness = await stockbot(**ESCALATING)
    await harness.send(event("CAB-MK-LEGACY", 1))
    assert (await the_alert(harness))["next_step_due_at"] == harness.clock.now() + timedelta(minutes=15)
    harness.later(minutes=14)
    assert await harness.desk.escalate_due() == 0
    # a restart: a brand-new runtime on the same database sees the same timer
    restarted = await Runtime.create(harness.config, clock=harness.clock)
    try:
        harness.later(minutes=2)
        assert await restarted.desk.escalate_due() == 1
        assert await restarted.desk.escalate_due() == 0  # idempotent: the step is taken once
    finally:
        await restarted.stop()
    alert = await the_alert(harness)
    assert (alert["state"], alert["escalated_by"], alert["escalation_note"]) == (
        "escalated",
        "stockbot",
        "step 2: managers, 15 min unacknowledged",
    )
    assert ("managers", "escalated") in await queued(harness)


async def test_acknowledge_stops_the_clock(stockbot: HarnessFactory) -> None:
    harness = await stockbot(**ESCALATING)
    await harness.send(event("CAB-MK-LEGACY", 1))
    alert_id = (await the_alert(harness))["id"]
    outcome = await harness.desk.acknowledge(alert_id, REP)
    assert (outcome.alert.state, outcome.alert.acknowledged_by) == ("acknowledged", "Dana")
    assert outcome.message.acknowledged_by == "Dana"
    harness.later(hours=3)
    assert await harness.desk.escalate_due() == 0
    with pytest.raises(InvalidTransition, match="already acknowledged"):
        await harness.desk.acknowledge(alert_id, MANAGER)


async def test_snooze_pauses_the_clock_until_it_ends(stockbot: HarnessFactory) -> None:
    harness = await stockbot(**ESCALATING)
    await harness.send(event("CAB-MK-LEGACY", 1))
    alert_id = (await the_alert(harness))["id"]
    await harness.desk.snooze(alert_id, REP, "1h")
    harness.later(minutes=30)
    assert await harness.desk.escalate_due() == 0
    harness.later(minutes=31)
    assert await harness.desk.escalate_due() == 1


async def test_roles_decide_who_may_do_what_and_refusals_are_audited(stockbot: HarnessFactory) -> None:
    harness = await stockbot(**ESCALATING)
    await harness.send(event("CAB-MK-LEGACY", 1))
    alert_id = (await the_alert(harness))["id"]
    with pytest.raises(PermissionDenied, match="manager"):
        await harness.desk.escalate(alert_id, REP)
    with pytest.raises(PermissionDenied):
        await harness.desk.acknowledge(alert_id, Actor(id="U_STRANGER", via="slack"))
    with pytest.raises(PermissionDenied):
        await harness.desk.flag("CAB-DK-JR", "Chicago DC", REP, "broken")
    refused = await rows(
        harness,
        select(audit_events).where(audit_events.c.kind == "action.refused").order_by(audit_events.c.id),
    )
    assert [(r["actor"], r["detail"]["action"]) for r in refused] == [
        ("slack:U_REP", "escalate"),
        ("slack:U_STRANGER", "acknowledge"),
        ("slack:U_REP", "flag"),
    ]
    outcome = await harness.desk.escalate(alert_id, GROUP_MANAGER)  # a manager through a user group
    assert (outcome.alert.state, outcome.alert.escalation_step) == ("escalated", 1)
    assert (await the_alert(harness))["state"] == "escalated"


async def test_manual_flag_opens_an_out_alert_with_the_reason(stockbot: HarnessFactory) -> None:
    harness = await stockbot(roles=ROLES)
    with pytest.raises(NotFound, match="say which location"):
        await harness.desk.flag("CAB-DK-JR", None, WAREHOUSE, "cracked glass")
    with pytest.raises(NotFound, match="no product"):
        await harness.desk.flag("NOPE", None, WAREHOUSE, None)
    outcome = await harness.desk.flag("CAB-DK-JR", "chicago dc", WAREHOUSE, "cracked glass")
    assert (outcome.event, outcome.alert.severity, outcome.alert.trigger) == ("opened", "out", "manual")
    assert (outcome.alert.location, outcome.alert.reason) == ("Chicago DC", "cracked glass")


async def test_resolve_by_hand_and_nothing_after_resolved(stockbot: HarnessFactory) -> None:
    harness = await stockbot(roles=ROLES)
    await harness.send(event("CAB-MK-LEGACY", 0))
    alert_id = (await the_alert(harness))["id"]
    await harness.desk.resolve(alert_id, MANAGER, "found two in the back room")
    for action in (harness.desk.acknowledge, harness.desk.escalate):
        with pytest.raises(InvalidTransition, match="already resolved"):
            await action(alert_id, MANAGER)
    level = await rows(
        harness,
        select(stock_levels.c.open_alert_id).where(
            stock_levels.c.sku == "CAB-MK-LEGACY", stock_levels.c.location == "Chicago DC"
        ),
    )
    assert level == [{"open_alert_id": None}]


async def test_the_batch_check_catches_shortages_whose_events_were_missed(stockbot: HarnessFactory) -> None:
    harness = await stockbot()
    assert harness.runtime is not None
    async with harness.runtime.engine.begin() as conn:
        await conn.execute(
            update(stock_levels)
            .where(
                stock_levels.c.sku.in_(["CAB-DK-JR", "PART-SPEAKER-8"]),
                stock_levels.c.location == "Chicago DC",
            )
            .values(on_hand=0)
        )
    assert await harness.desk.batch_check() == 2
    assert await harness.desk.batch_check() == 0  # idempotent
    triggers = {r["trigger"] for r in await rows(harness, select(alerts.c.trigger))}
    assert triggers == {"batch_check"}


async def test_the_batch_check_opens_alerts_in_groups_one_transaction_each(stockbot: HarnessFactory) -> None:
    harness = await stockbot()
    assert harness.runtime is not None
    engine = harness.runtime.engine
    async with engine.begin() as conn:
        await conn.execute(
            update(stock_levels).where(stock_levels.c.location == "Chicago DC").values(on_hand=0)
        )
        short = (
            await conn.execute(
                select(func.count()).select_from(stock_levels).where(stock_levels.c.on_hand == 0)
            )
        ).scalar_one()
    commits: list[object] = []

    def committed(conn: object) -> None:
        commits.append(conn)

    sa_event.listen(engine.sync_engine, "commit", committed)
    try:
        assert await harness.desk.batch_check(group=4) == short
    finally:
        sa_event.remove(engine.sync_engine, "commit", committed)
    assert len(commits) == -(-short // 4)  # one transaction per group of four, not one per alert
    opened = await rows(harness, select(alerts.c.id, alerts.c.sku, alerts.c.location))
    assert len(opened) == short
    pointers = await rows(
        harness, select(stock_levels.c.open_alert_id).where(stock_levels.c.location == "Chicago DC")
    )
    assert sorted(p["open_alert_id"] for p in pointers) == sorted(a["id"] for a in opened)


async def test_the_batch_check_reads_the_partial_index_not_the_table(
    stockbot: HarnessFactory, db_url: str
) -> None:
    harness = await stockbot()
    assert harness.runtime is not None
    where = "WHERE on_hand <= minimum AND open_alert_id IS NULL"
    async with harness.runtime.engine.connect() as conn:
        if db_url.startswith("sqlite"):
            plan = (
                await conn.execute(text(f"EXPLAIN QUERY PLAN SELECT sku, location FROM stock_levels {where}"))
            ).all()
            detail = " ".join(str(r[-1]) for r in plan)
            assert "ix_stock_levels_short" in detail, detail
        else:
            await conn.execute(text("SET enable_seqscan = off"))  # a 100-row table would be scanned otherwise
            plan = (await conn.execute(text(f"EXPLAIN SELECT sku, location FROM stock_levels {where}"))).all()
            detail = " ".join(r[0] for r in plan)
            assert "ix_stock_levels_short" in detail, detail


async def test_the_audit_log_is_append_only_in_the_database(stockbot: HarnessFactory) -> None:
    harness = await stockbot()
    await harness.send(event("CAB-MK-LEGACY", 0))
    assert harness.runtime is not None
    for statement in ("UPDATE audit_events SET actor = 'someone else'", "DELETE FROM audit_events"):
        with pytest.raises(DBAPIError, match="append-only"):
            async with harness.runtime.engine.begin() as conn:
                await conn.execute(text(statement))


async def test_open_alert_ids_and_the_partial_unique_index_agree(stockbot: HarnessFactory) -> None:
    harness = await stockbot()
    await harness.send(event("CAB-MK-LEGACY", 0))
    assert harness.runtime is not None
    with pytest.raises(DBAPIError):  # a second unresolved alert for the same SKU and location is impossible
        async with harness.runtime.engine.begin() as conn:
            await conn.execute(
                alerts.insert().values(
                    sku="CAB-MK-LEGACY",
                    location="Chicago DC",
                    state="open",
                    severity="low",
                    trigger="manual",
                    minimum=1,
                    blocked_orders=[],
                    opened_at=T0,
                    updated_at=T0,
                )
            )
