"""Escalation policies on a test clock: a two-hour timeline runs in a second."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from stockbot.bot.permissions import Actor
from stockbot.bot.runtime import Runtime
from stockbot.storage.tables import alerts, audit_events, deliveries
from tests.conftest import HarnessFactory
from tests.helpers import StockbotHarness, event

REP = Actor(id="U_REP", via="slack")
MANAGER = Actor(id="U_MGR", via="slack")
CHANNELS = {
    name: {"adapter": "console", "address": f"#{name}"} for name in ("sales", "managers", "sms", "director")
}


def policy(**extra: Any) -> dict[str, Any]:
    return {
        "channels": CHANNELS,
        "roles": {"rep": ["U_REP"], "manager": ["U_MGR"]},
        "policies": {
            "standard": {
                "steps": [
                    {"channels": ["sales"]},
                    {
                        "after": "15m",
                        "channels": ["managers", "sms"],
                        "name": "managers",
                        "mention": ["S_MANAGERS"],
                    },
                    {"after": "60m", "channels": ["director"], "name": "director"},
                ],
                **extra,
            }
        },
        "routes": [{"policy": "standard"}],
    }


async def sent(harness: StockbotHarness) -> list[tuple[str, str]]:
    assert harness.runtime is not None
    async with harness.runtime.engine.connect() as conn:
        rows = (
            await conn.execute(select(deliveries.c.channel, deliveries.c.event).order_by(deliveries.c.id))
        ).all()
    return [(r.channel, r.event) for r in rows]


async def alert_row(harness: StockbotHarness) -> dict[str, Any]:
    assert harness.runtime is not None
    async with harness.runtime.engine.connect() as conn:
        return dict((await conn.execute(select(alerts))).mappings().one())


async def audit(harness: StockbotHarness, prefix: str) -> list[dict[str, Any]]:
    assert harness.runtime is not None
    async with harness.runtime.engine.connect() as conn:
        query = select(audit_events).where(audit_events.c.kind.like(f"{prefix}%")).order_by(audit_events.c.id)
        return [dict(r) for r in (await conn.execute(query)).mappings().all()]


async def test_unacknowledged_alerts_take_each_step_at_its_time(stockbot: HarnessFactory) -> None:
    harness = await stockbot(**policy())
    await harness.send(event("CAB-MK-LEGACY", 1))
    assert await sent(harness) == [("sales", "opened")]
    harness.later(minutes=14, seconds=59)
    assert await harness.desk.escalate_due() == 0
    harness.later(seconds=1)
    assert await harness.desk.escalate_due() == 1
    alert = await alert_row(harness)
    assert alert["escalation_note"] == "step 2: managers, 15 min unacknowledged"
    harness.later(minutes=45)
    assert await harness.desk.escalate_due() == 1
    assert (await alert_row(harness))["escalation_note"] == "step 3: director, 1 h unacknowledged"
    harness.later(hours=5)
    assert await harness.desk.escalate_due() == 0  # no more steps, no repeat
    deliveries_made = await sent(harness)
    assert deliveries_made[0] == ("sales", "opened")
    assert sorted(deliveries_made[1:4]) == [
        ("managers", "escalated"),
        ("sales", "escalated"),
        ("sms", "escalated"),
    ]
    assert sorted(c for c, _ in deliveries_made[4:]) == ["director", "managers", "sales", "sms"]
    await harness.deliver()
    assert harness.runtime is not None
    async with harness.runtime.engine.connect() as conn:
        rows = (await conn.execute(select(deliveries.c.channel, deliveries.c.message))).all()
    mentions = {r.channel: tuple(r.message["mentions"]) for r in rows if r.message["escalation_level"] == 1}
    assert mentions["managers"] == ("S_MANAGERS",) and mentions["sales"] == ()


async def test_acknowledging_between_steps_cancels_the_rest(stockbot: HarnessFactory) -> None:
    harness = await stockbot(**policy())
    await harness.send(event("CAB-MK-LEGACY", 1))
    harness.later(minutes=16)
    await harness.desk.escalate_due()
    await harness.desk.acknowledge((await alert_row(harness))["id"], REP)
    harness.later(hours=3)
    assert await harness.desk.escalate_due() == 0
    assert ("director", "escalated") not in await sent(harness)
    (cancelled,) = await audit(harness, "escalation.cancelled")
    assert (cancelled["detail"]["step"], cancelled["detail"]["reason"]) == (3, "acknowledged")


async def test_snooze_pauses_and_the_timeline_resumes_after(stockbot: HarnessFactory) -> None:
    harness = await stockbot(**policy())
    await harness.send(event("CAB-MK-LEGACY", 1))
    harness.later(minutes=10)
    await harness.desk.snooze((await alert_row(harness))["id"], REP, "4h")
    assert [a["kind"] for a in await audit(harness, "escalation.")] == ["escalation.paused"]
    harness.later(hours=3, minutes=59)
    assert await harness.desk.escalate_due() == 0
    harness.later(minutes=2)
    assert await harness.desk.escalate_due() == 1  # step 2, four hours late but not lost


async def test_a_manual_escalate_jumps_to_the_next_step_now(stockbot: HarnessFactory) -> None:
    harness = await stockbot(**policy())
    await harness.send(event("CAB-MK-LEGACY", 1))
    outcome = await harness.desk.escalate((await alert_row(harness))["id"], MANAGER)
    assert outcome.alert.escalation_note == "step 2: managers, escalated by hand"
    assert outcome.alert.next_step_due_at == outcome.alert.opened_at + timedelta(hours=1)
    assert ("managers", "escalated") in await sent(harness)


async def test_critical_and_key_products_start_at_a_later_step(stockbot: HarnessFactory) -> None:
    harness = await stockbot(**policy(critical_starts_at=3, key_product_starts_at=2))
    await harness.send(event("PIN-GODZ-PRO", 1))  # a key product, low: starts at step 2
    assert (await alert_row(harness))["escalation_step"] == 1
    await harness.send(event("PIN-GODZ-PRO", 0, at=harness.later(minutes=1)))  # now critical: step 3
    alert = await alert_row(harness)
    assert (alert["escalation_step"], alert["escalation_note"]) == (
        2,
        "step 3: director, critical, escalated at once",
    )
    assert ("director", "escalated") in await sent(harness)


async def test_critical_skipping_a_step_audits_the_skip(stockbot: HarnessFactory) -> None:
    harness = await stockbot(**policy(critical_starts_at=3))
    await harness.send(event("CAB-MK-LEGACY", 0, status="out_of_stock", event_id="x"))  # out, not critical
    await harness.send(event("CAB-SF2-CE", 0))  # key product out: critical
    skipped = await audit(harness, "escalation.skipped")
    assert [(s["subject"], s["detail"]["step"]) for s in skipped] == [("CAB-SF2-CE@Chicago DC", 2)]
    channels = {c for c, e in await sent(harness) if e == "escalated"}
    assert channels == {"sales", "managers", "sms", "director"}  # everyone on the way is told


async def test_repeat_re_notifies_the_last_step_while_unacknowledged(stockbot: HarnessFactory) -> None:
    harness = await stockbot(**policy(repeat="30m"))
    await harness.send(event("CAB-MK-LEGACY", 1))
    harness.later(minutes=15)
    await harness.desk.escalate_due()
    harness.later(minutes=45)
    await harness.desk.escalate_due()  # step 3
    for _ in range(2):
        harness.later(minutes=30)
        assert await harness.desk.escalate_due() == 1
    assert (await alert_row(harness))["escalation_note"].startswith("reminder: unacknowledged for 2 h")
    assert [c for c, e in await sent(harness) if c == "director"] == ["director"] * 3
    await harness.desk.acknowledge((await alert_row(harness))["id"], REP)
    harness.later(hours=2)
    assert await harness.desk.escalate_due() == 0


async def test_business_impact_escalates_when_blocked_orders_pass_the_threshold(
    stockbot: HarnessFactory,
) -> None:
    harness = await stockbot(**policy(impact={"blocked_orders": 2}, critical_starts_at=1))
    failure = {
        "source": "erp",
        "sku": "CAB-MK-LEGACY",
        "location": "Chicago DC",
        "requested": 1,
        "available": 0,
        "occurred_at": "2026-11-26T09:00:00Z",
    }
    await harness.post("/events/fulfillment-failed", {**failure, "event_id": "f1", "order_id": "SO-1"})
    assert (await alert_row(harness))["escalation_step"] == 0  # critical, but this policy starts at step 1
    await harness.post("/events/fulfillment-failed", {**failure, "event_id": "f2", "order_id": "SO-2"})
    alert = await alert_row(harness)
    assert alert["escalation_step"] == 1
    assert alert["escalation_note"] == "step 2: managers, business impact: 2 blocked order(s), 2 unit(s)"
    await harness.post("/events/fulfillment-failed", {**failure, "event_id": "f3", "order_id": "SO-3"})
    assert (await alert_row(harness))["escalation_step"] == 1  # past the threshold once, not again


async def test_two_processes_take_each_step_once(stockbot: HarnessFactory) -> None:
    harness = await stockbot(**policy())
    for sku in ("CAB-MK-LEGACY", "CAB-DK-JR", "CAB-CENTIPEDE", "CAB-TMNT-4P"):
        await harness.send(event(sku, 1, event_id=f"e-{sku}"))
    harness.later(minutes=16)
    replicas = [await Runtime.create(harness.config, clock=harness.clock, migrate=False) for _ in range(2)]
    try:
        taken = await asyncio.gather(*(r.desk.escalate_due() for r in replicas))
    finally:
        for replica in replicas:
            await replica.stop()
    assert sum(taken) == 4
    assert [e for c, e in await sent(harness) if c == "managers"] == ["escalated"] * 4
