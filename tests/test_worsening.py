"""A worse severity is news: every card gets a thread reply, and the new severity's policy takes over (its
channels hear about it, its later start for critical alerts is taken, its waits run the clock)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select

from stockbot.bot.permissions import Actor
from stockbot.storage.tables import alerts, audit_events, deliveries
from tests.conftest import HarnessFactory
from tests.helpers import T0, StockbotHarness, event

REP = Actor(id="U_REP", via="slack", name="Dana")
CHANNELS = {name: {"adapter": "console", "address": f"#{name}"} for name in ("buyers", "sales", "managers")}
SKU = "CAB-MK-LEGACY"  # minimum 1, not a key product, no critical level: 1 is low, 0 is out


async def sent(harness: StockbotHarness) -> list[tuple[str, str, list[str]]]:
    assert harness.runtime is not None
    async with harness.runtime.engine.connect() as conn:
        rows = (await conn.execute(select(deliveries).order_by(deliveries.c.id))).mappings().all()
    return [(r["channel"], r["event"], r["message"]["mentions"]) for r in rows]


async def the_alert(harness: StockbotHarness) -> dict[str, Any]:
    assert harness.runtime is not None
    async with harness.runtime.engine.connect() as conn:
        return dict((await conn.execute(select(alerts))).mappings().one())


async def test_low_to_out_is_worsened_news_for_every_card(stockbot: HarnessFactory) -> None:
    harness = await stockbot(channels=CHANNELS, routes=[{"channels": ["sales"]}])
    await harness.send(event(SKU, 1))
    await harness.send(event(SKU, 0, at=harness.later(minutes=5)))
    assert await sent(harness) == [("sales", "opened", []), ("sales", "worsened", [])]
    assert harness.runtime is not None
    async with harness.runtime.engine.connect() as conn:
        message = (
            await conn.execute(select(deliveries.c.message).where(deliveries.c.event == "worsened"))
        ).scalar_one()
        (row,) = (
            await conn.execute(select(audit_events).where(audit_events.c.kind == "alert.worsened"))
        ).mappings()
    assert (message["severity"], message["previous_severity"], message["on_hand"]) == ("out", "low", 0)
    assert (row["actor"], row["detail"]["severity"], row["detail"]["previous_severity"]) == (
        "source:erp",
        "out",
        "low",
    )
    # Getting better is an edit, not news.
    await harness.send(event(SKU, 1, at=harness.later(minutes=5)))
    assert (await sent(harness))[-1][:2] == ("sales", "updated")


async def test_the_new_severitys_route_hears_about_it(stockbot: HarnessFactory) -> None:
    harness = await stockbot(
        channels=CHANNELS,
        routes=[
            {"match": {"severity": ["low"]}, "channels": ["buyers"]},
            {"channels": ["sales"], "escalate_to": ["managers"], "escalate_after": "15m"},
        ],
    )
    await harness.send(event(SKU, 1))
    await harness.send(event(SKU, 0, at=harness.later(minutes=5)))
    # Before: only the buyers' card was edited and #sales never heard of it.
    assert await sent(harness) == [
        ("buyers", "opened", []),
        ("buyers", "worsened", []),
        ("sales", "worsened", []),
    ]
    # The out route's clock: its step 2 is due 15 minutes after the alert opened.
    assert (await the_alert(harness))["next_step_due_at"] == T0 + timedelta(minutes=15)


async def test_a_policy_that_starts_critical_later_takes_that_step(stockbot: HarnessFactory) -> None:
    harness = await stockbot(
        channels=CHANNELS,
        policies={
            "standard": {
                "steps": [
                    {"channels": ["sales"]},
                    {"after": "30m", "channels": ["managers"], "name": "managers", "mention": ["S_MANAGERS"]},
                ],
                "critical_starts_at": 2,
            }
        },
        routes=[{"policy": "standard"}],
    )
    await harness.send(event("PART-FLIP-COIL", 30))  # minimum 40: low
    await harness.send(event("PART-FLIP-COIL", 9, at=harness.later(minutes=5)))  # critical level 10
    assert await sent(harness) == [
        ("sales", "opened", []),
        ("sales", "worsened", []),
        ("sales", "escalated", []),
        ("managers", "escalated", ["S_MANAGERS"]),
    ]
    alert = await the_alert(harness)
    assert (alert["severity"], alert["escalation_step"]) == ("critical", 1)
    assert alert["escalation_note"] == "step 2: managers, critical, escalated at once"


async def test_the_new_policys_waits_run_the_clock(stockbot: HarnessFactory) -> None:
    slow = {"steps": [{"channels": ["sales"]}, {"after": "60m", "channels": ["managers"]}]}
    fast = {"steps": [{"channels": ["sales"]}, {"after": "10m", "channels": ["managers"]}]}
    harness = await stockbot(
        channels=CHANNELS,
        policies={"slow": slow, "fast": fast},
        routes=[{"match": {"severity": ["low"]}, "policy": "slow"}, {"policy": "fast"}],
    )
    await harness.send(event(SKU, 1))
    assert (await the_alert(harness))["next_step_due_at"] == T0 + timedelta(minutes=60)
    await harness.send(event(SKU, 0, at=harness.later(minutes=5)))
    assert (await the_alert(harness))["next_step_due_at"] == T0 + timedelta(minutes=10)
    harness.later(minutes=5)
    assert await harness.desk.escalate_due() == 1
    assert (await sent(harness))[-1][:2] == ("managers", "escalated")


async def test_an_acknowledged_alert_hears_the_news_and_stays_acknowledged(stockbot: HarnessFactory) -> None:
    harness = await stockbot(
        channels=CHANNELS,
        routes=[{"channels": ["sales"], "escalate_to": ["managers"], "escalate_after": "15m"}],
        roles={"rep": ["U_REP"]},
    )
    await harness.send(event(SKU, 1))
    await harness.desk.acknowledge((await the_alert(harness))["id"], REP)
    await harness.send(event(SKU, 0, at=harness.later(minutes=5)))
    assert (await sent(harness))[-1][:2] == ("sales", "worsened")
    alert = await the_alert(harness)
    assert (alert["state"], alert["acknowledged_by"], alert["next_step_due_at"]) == (
        "acknowledged",
        "Dana",
        None,
    )
