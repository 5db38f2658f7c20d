"""`alerts` in a personal Teams chat: a person's open alerts with the buttons their role allows, over HTTP.

The list comes from the core (bot/inbox.py); a click on it acts through the alert desk like a click on an
alert's card, and is answered with the list refreshed (or why not, on top). Every card validates against
the Adaptive Card 1.5 schema.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from stockbot.adapters.render.teams import VERB_ACK, VERB_ESCALATE, VERB_RESOLVE, VERB_SNOOZE
from stockbot.adapters.render.teams_inbox import VERB_ALERTS
from tests.conftest import HarnessFactory
from tests.fakes.bot_connector import FakeBotConnector, card_errors
from tests.helpers import StockbotHarness, event
from tests.test_teams_app import (
    CHANNEL,
    PEOPLE,
    ROLES,
    activity,
    audit,
    clicked,
    install,
    mention,
    reply_card,
    reply_text,
    send,
)

PERSONAL = {who: f"a:1Xq9-personal-chat-with-{who}" for who in PEOPLE}
LOCATIONS = ("Chicago DC", "Las Vegas Showroom")


@pytest.fixture
async def connector() -> AsyncIterator[FakeBotConnector]:
    fake = FakeBotConnector()
    await fake.start()
    yield fake
    await fake.close()


def say(connector: FakeBotConnector, text: str, who: str = "rep") -> dict[str, Any]:
    return activity(connector, "message", who=who, conversation=PERSONAL[who], scope="personal", text=text)


def press(
    connector: FakeBotConnector, verb: str, data: dict[str, Any], who: str = "rep", trigger: str = "manual"
) -> dict[str, Any]:
    value = {"action": {"type": "Action.Execute", "verb": verb, "data": data}, "trigger": trigger}
    return activity(
        connector,
        "invoke",
        who=who,
        conversation=PERSONAL[who],
        scope="personal",
        name="adaptiveCard/action",
        value=value,
        localTimezone="America/Chicago",
    )


async def alerts_of(
    harness: StockbotHarness, connector: FakeBotConnector, text: str, who: str
) -> dict[str, Any]:
    status, _ = await send(harness, say(connector, text, who))
    assert status == 202
    card = reply_card(connector)
    assert card_errors(card) == []
    return card


def listed(card: dict[str, Any]) -> list[dict[str, Any]]:
    """Each alert of the list: its headline and the verbs of its buttons (the snooze choices as one)."""
    rows = []
    for item in card["body"]:
        if item.get("type") != "Container":
            continue
        texts = [i["text"] for i in item["items"] if i["type"] == "TextBlock"]
        actions = next((i["actions"] for i in item["items"] if i["type"] == "ActionSet"), [])
        verbs = [
            a.get("verb") or a["card"]["actions"][0]["verb"] for a in actions if a["type"] != "Action.OpenUrl"
        ]
        rows.append({"headline": texts[0], "facts": texts[1], "verbs": verbs, "actions": actions})
    return rows


async def three_alerts(harness: StockbotHarness) -> None:
    await harness.send(event("CAB-DK-JR", 1))  # low, Chicago DC
    await harness.send(event("CAB-MK-LEGACY", 0, at=harness.later(minutes=30)))  # out, Chicago DC
    await harness.send(event("CAB-PACMAN-UP", 0, location="Las Vegas Showroom", at=harness.later(minutes=30)))
    harness.later(minutes=15)


async def test_a_rep_sees_every_open_alert_with_the_buttons_reps_have_and_acts_from_the_list(
    stockbot: HarnessFactory, connector: FakeBotConnector
) -> None:
    # No grouping in the channel (a burst would otherwise share one digest): each alert gets its own card,
    # which the click from the list below then updates in place.
    channel = {"adapter": "teams", "address": CHANNEL, "group_wait": "0s", "group_interval": "0s"}
    harness = await stockbot(
        teams={},
        channels={"sales_teams": channel},
        routes=[{"channels": ["sales_teams"]}],
        roles=ROLES,
    )
    await send(harness, install(connector))
    await three_alerts(harness)
    assert await harness.deliver() == 3

    card = await alerts_of(harness, connector, "alerts", "rep")
    assert card["body"][0]["text"] == "Your open alerts: 3"
    assert card["body"][1]["text"].startswith("You may acknowledge or snooze them. Most urgent first")
    rows = listed(card)
    assert [r["headline"] for r in rows] == [
        "CRITICAL shortage: Pac-Man upright cabinet (CAB-PACMAN-UP) at Las Vegas Showroom",
        "Out of stock: Mortal Kombat Legacy Kit cabinet (CAB-MK-LEGACY) at Chicago DC",
        "Low stock: Donkey Kong Jr. upright (CAB-DK-JR) at Chicago DC",
    ]
    assert rows[0]["facts"] == "0 on hand / minimum 1 · open for 15 min · Open, not yet acknowledged"
    assert rows[2]["facts"].startswith("1 on hand / minimum 1 · open for 1 h 15 min")
    assert all(r["verbs"] == [VERB_ACK, VERB_SNOOZE] for r in rows)  # a rep may not escalate
    # Teams redraws the card for its reader when they open the chat; the Refresh button does it by hand.
    assert card["refresh"]["userIds"] == [PEOPLE["rep"]["id"]]
    assert card["actions"] == [card["refresh"]["action"]] and card["refresh"]["action"]["verb"] == VERB_ALERTS

    # Acknowledge from the list: the answer is the list again, with what happened on top.
    ack = rows[1]["actions"][0]
    assert ack["data"] == {"alert_id": ack["data"]["alert_id"], "view": "alerts", "location": None}
    answer = await clicked(harness, press(connector, VERB_ACK, ack["data"]))
    mk = ack["data"]["alert_id"]
    assert (
        answer["body"][0]["text"]
        == f"Acknowledged alert #{mk}: Mortal Kombat Legacy Kit cabinet at Chicago DC."
    )
    assert answer["refresh"]["userIds"] == [PEOPLE["rep"]["id"]]  # still the rep's own card
    after = listed(answer)
    assert len(after) == 3 and after[1]["verbs"] == [VERB_SNOOZE]  # acknowledged: no Acknowledge left
    assert after[1]["facts"].endswith("Acknowledged by Rita Rep")
    (acked,) = await audit(harness, "alert.acknowledged")
    assert (acked["alert_id"], acked["actor"]) == (mk, "teams:aad-rep-0001")
    # The channel's card follows, as after any click.
    harness.later(seconds=5)
    assert await harness.deliver() == 1
    (update,) = connector.calls("update")
    assert "Acknowledged by Rita Rep" in json.dumps(connector.card(update.match["activityId"]))

    # Snooze from the list, then a refused click (a rep's crafted Escalate): the list with why on top.
    snooze = after[0]["actions"][1]["card"]["actions"][0]
    answer = await clicked(harness, press(connector, VERB_SNOOZE, snooze["data"]))
    assert answer["body"][0]["text"].startswith("Snoozed alert #")
    assert "Snoozed until" in listed(answer)[0]["facts"]
    crafted = {**snooze["data"], "snooze": None}
    answer = await clicked(harness, press(connector, VERB_ESCALATE, crafted))
    assert answer["body"][0]["text"] == (
        "Not done: only manager roles may escalate; ask an admin to add you to [roles] in stockbot.toml"
    )
    assert answer["body"][0]["color"] == "Attention" and len(listed(answer)) == 3
    (denied,) = await audit(harness, "action.refused")
    assert denied["actor"] == "teams:aad-rep-0001" and denied["detail"]["action"] == "escalate"
    assert connector.errors == []


async def test_a_manager_may_escalate_narrowed_to_a_location(
    stockbot: HarnessFactory, connector: FakeBotConnector
) -> None:
    harness = await stockbot(teams={}, roles=ROLES)
    await three_alerts(harness)
    card = await alerts_of(harness, connector, "alerts chicago dc", "manager")
    assert card["body"][0]["text"] == "Your open alerts at Chicago DC: 2"
    rows = listed(card)
    assert [r["verbs"] for r in rows] == [[VERB_ACK, VERB_ESCALATE, VERB_SNOOZE, VERB_RESOLVE]] * 2
    escalate = rows[0]["actions"][1]
    assert escalate["data"]["location"] == "Chicago DC"  # the list stays narrowed after a click

    answer = await clicked(harness, press(connector, VERB_ESCALATE, escalate["data"], who="manager"))
    assert answer["body"][0]["text"].startswith("Escalated alert #")
    assert answer["body"][1]["text"] == "Your open alerts at Chicago DC: 2"
    assert "Escalated to level 1 by Max Manager" in listed(answer)[0]["facts"]

    # The Refresh button, and Teams' own refresh when the chat is opened, redraw the same list.
    for trigger in ("manual", "automatic"):
        refreshed = await clicked(
            harness, press(connector, VERB_ALERTS, {"location": "Chicago DC"}, "manager", trigger)
        )
        assert refreshed["body"][0]["text"] == "Your open alerts at Chicago DC: 2"

    await send(harness, say(connector, "alerts Atlantis", "manager"))
    assert reply_text(connector).startswith("No location `Atlantis` stocks anything")
    assert connector.errors == []


async def test_no_role_no_buttons_and_the_list_is_for_personal_chats(
    stockbot: HarnessFactory, connector: FakeBotConnector
) -> None:
    harness = await stockbot(teams={}, roles=ROLES)
    await three_alerts(harness)
    card = await alerts_of(harness, connector, "alerts", "stranger")
    assert card["body"][0]["text"] == "Your open alerts: 0"
    assert "You hold no role in stockbot's [roles]" in card["body"][2]["text"]
    assert listed(card) == []

    warehouse = await alerts_of(harness, connector, "alerts", "warehouse")
    # Warehouse staff flag and clear (`oos`, `oos clear`); no button on an alert is theirs.
    assert warehouse["body"][0]["text"] == "Your open alerts: 0"
    assert listed(warehouse) == []

    await send(harness, mention(connector, "alerts"))
    assert reply_text(connector).startswith("`alerts` lists your own open alerts")
    await send(harness, say(connector, "alerts help"))
    assert "`alerts` or `alerts Chicago DC` (in a personal chat)" in reply_text(connector)
    assert connector.errors == []


async def test_the_list_is_in_the_readers_teams_language(
    stockbot: HarnessFactory, connector: FakeBotConnector
) -> None:
    harness = await stockbot(teams={}, roles=ROLES)
    await three_alerts(harness)

    def spanish(activity: dict[str, Any]) -> dict[str, Any]:
        return {**activity, "locale": "es-MX"}

    status, _ = await send(harness, spanish(say(connector, "alerts")))
    assert status == 202
    card = reply_card(connector)
    assert card_errors(card) == []
    assert card["body"][0]["text"] == "Sus alertas abiertas: 3"
    assert card["body"][1]["text"].startswith("Puede confirmar o posponer estas alertas.")
    rows = listed(card)
    assert rows[0]["headline"].startswith("Falta CRÍTICA: Pac-Man upright cabinet")
    assert "· abierta desde hace 15 min ·" in rows[0]["facts"]
    assert card["actions"][0]["title"] == "Actualizar"

    ack = rows[1]["actions"][0]
    assert ack["title"] == "Confirmar"
    answer = await clicked(harness, spanish(press(connector, VERB_ACK, ack["data"])))
    assert answer["body"][0]["text"].startswith(f"Alerta n.º {ack['data']['alert_id']} confirmada: ")
    refreshed = await clicked(
        harness, spanish(press(connector, VERB_ALERTS, {"location": None}, trigger="automatic"))
    )
    assert refreshed["body"][0]["text"] == "Sus alertas abiertas: 3"

    await send(harness, spanish(say(connector, "alerts Atlantis")))
    assert reply_text(connector).startswith("Ninguna ubicación `Atlantis` tiene productos")
    await send(harness, spanish(mention(connector, "alerts")))
    assert reply_text(connector).startswith("`alerts` muestra sus propias alertas abiertas")
    assert connector.errors == []


async def test_a_long_list_says_there_is_more(stockbot: HarnessFactory, connector: FakeBotConnector) -> None:
    harness = await stockbot(teams={}, roles=ROLES)
    skus = ["CAB-MK-LEGACY", "CAB-NBAJAM-4P", "CAB-TMNT-4P", "CAB-DK-JR", "CAB-CENTIPEDE", "CAB-DRIVE-OR2"]
    skus += ["PIN-GODZ-PRO", "PIN-JP-PRO"]
    await harness.send(
        *[event(sku, 0, location=where, event_id=f"{sku}@{where}") for sku in skus for where in LOCATIONS]
    )
    card = await alerts_of(harness, connector, "alerts", "rep")
    assert card["body"][0]["text"] == "Your open alerts: 12+"
    assert len(listed(card)) == 12
    assert card["body"][-1]["text"].startswith("More alerts are open than shown. Narrow it with a location")
    narrowed = await alerts_of(harness, connector, "alerts Las Vegas Showroom", "rep")
    assert narrowed["body"][0]["text"] == "Your open alerts at Las Vegas Showroom: 8"
    assert connector.errors == []
