"""The Teams Adaptive Cards: every state validates against the AC 1.5 schema and shows the right facts."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from stockbot.adapters.base import AlertMessage, BlockedOrder
from stockbot.adapters.render.teams import (
    SNOOZE_CHOICES,
    VERB_ACK,
    VERB_ESCALATE,
    VERB_RESOLVE,
    VERB_SNOOZE,
    alert_card,
    error_card,
    notice_card,
)
from tests.fakes.bot_connector import card_errors
from tests.fakes.messages import OPENED, resolved_message, sample_message

ACKED = datetime(2026, 11, 26, 9, 41, tzinfo=UTC)


def _acknowledged() -> AlertMessage:
    return sample_message(
        event="acknowledged", state="acknowledged", acknowledged_by="dana", acknowledged_at=ACKED
    )


def _escalated() -> AlertMessage:
    return sample_message(
        event="escalated",
        state="escalated",
        escalated_by="stockbot",
        escalated_at=ACKED,
        escalation_level=2,
        escalation_note="no acknowledgement in 15 min",
    )


def _many_orders() -> AlertMessage:
    orders = tuple(BlockedOrder(f"SO-{2000 + i}", requested=3, available=1) for i in range(14))
    return sample_message(blocked_orders=orders, severity="out", link=None)


CARDS = {
    "open": lambda: alert_card(sample_message()),
    "low-no-orders": lambda: alert_card(sample_message(severity="low", on_hand=1, blocked_orders=())),
    "acknowledged": lambda: alert_card(_acknowledged()),
    "escalated": lambda: alert_card(_escalated()),
    "resolved": lambda: alert_card(resolved_message()),
    "many-blocked-orders": lambda: alert_card(_many_orders()),
    "snoozed": lambda: alert_card(sample_message(snoozed_until=datetime(2026, 11, 26, 13, 30, tzinfo=UTC))),
    "refused-notice": lambda: notice_card(_acknowledged(), "Already acknowledged by dana at 09:41 UTC."),
    "error": lambda: error_card("That alert no longer exists."),
}


def _texts(element: Any) -> list[str]:
    """Every TextBlock text and fact in a card, depth first."""
    if isinstance(element, list):
        return [text for item in element for text in _texts(item)]
    if not isinstance(element, dict):
        return []
    found = [element["text"]] if element.get("type") == "TextBlock" else []
    found += [f"{fact['title']}: {fact['value']}" for fact in element.get("facts", [])]
    for key in ("body", "items", "card"):
        if key in element:
            found += _texts(element[key])
    return found


def _actions(card: dict[str, Any]) -> list[dict[str, Any]]:
    actions = list(card.get("actions", []))
    for action in card.get("actions", []):
        if action["type"] == "Action.ShowCard":
            actions += action["card"].get("actions", [])
    return actions


def _verbs(card: dict[str, Any]) -> list[str]:
    return [a["verb"] for a in _actions(card) if a["type"] == "Action.Execute"]


@pytest.mark.parametrize("name", sorted(CARDS))
def test_every_card_is_a_valid_adaptive_card_1_5(name: str) -> None:
    card = CARDS[name]()
    assert card_errors(card) == []
    assert card["type"] == "AdaptiveCard"
    assert card["version"] == "1.5"
    assert card["$schema"] == "http://adaptivecards.io/schemas/adaptive-card.json"
    assert card["fallbackText"]


def test_the_schema_check_catches_a_broken_card() -> None:
    card = alert_card(sample_message())
    card["body"][0]["items"][0]["colour"] = "red"  # a misspelt property
    del card["version"]
    assert len(card_errors(card)) == 2


def test_open_card_shows_every_fact_and_the_severity_colour() -> None:
    card = alert_card(sample_message())
    texts = "\n".join(_texts(card))
    for expected in (
        "CRITICAL shortage: Godzilla Pro pinball table (PIN-GODZ-PRO) at Chicago DC",
        "Location: Chicago DC",
        "Level: 0 on hand / minimum 2",
        "Severity: CRITICAL shortage",
        "Trigger: sales order could not be fulfilled",
        # DATE()/TIME(): each reader sees their own zone; a TextBlock, as a FactSet does not expand them.
        "**Since:** {{DATE(2026-11-26T09:30:00Z, SHORT)}} {{TIME(2026-11-26T09:30:00Z)}}",
        "Blocked orders: SO-1001 (2 units)",
        "SO-1001: 2 requested, 0 available, rep dana",
        "Open, not yet acknowledged",
        "stockbot alert #42",
    ):
        assert expected in texts
    headline = card["body"][0]["items"][0]
    assert headline["color"] == "Attention"
    assert headline["weight"] == "Bolder"


@pytest.mark.parametrize(
    ("severity", "colour"), [("critical", "Attention"), ("out", "Attention"), ("low", "Warning")]
)
def test_severity_colours(severity: str, colour: str) -> None:
    card = alert_card(sample_message(severity=severity))
    assert card["body"][0]["items"][0]["color"] == colour


def test_open_card_actions_are_universal_actions_with_the_alert_id() -> None:
    card = alert_card(sample_message())
    actions = _actions(card)
    assert _verbs(card) == [VERB_ACK, VERB_ESCALATE, VERB_SNOOZE, VERB_SNOOZE, VERB_SNOOZE, VERB_RESOLVE]
    (resolve,) = [a for a in card["actions"] if a["title"] == "Resolve"]
    assert resolve["type"] == "Action.ShowCard"  # a card to confirm on, with room for why
    assert [i["id"] for i in resolve["card"]["body"] if i["type"] == "Input.Text"] == ["reason"]
    executes = [a for a in actions if a["type"] == "Action.Execute"]
    assert all(a["data"]["alert_id"] == 42 for a in executes)
    snoozes = [a["data"]["snooze"] for a in executes if a["verb"] == VERB_SNOOZE]
    assert snoozes == [value for value, _ in SNOOZE_CHOICES] == ["1h", "4h", "tomorrow"]
    assert {
        "type": "Action.OpenUrl",
        "title": "Open in stockbot",
        "url": "https://stock.example.com/alerts/42",
    } in (actions)
    assert not any(a["type"] == "Action.Submit" for a in actions)


def test_acknowledged_card_names_who_and_drops_the_acknowledge_button() -> None:
    card = alert_card(_acknowledged())
    assert "Acknowledged by dana" in _texts(card)
    assert VERB_ACK not in _verbs(card)
    assert VERB_ESCALATE in _verbs(card)


def test_escalated_card_shows_the_level_and_who() -> None:
    texts = _texts(alert_card(_escalated()))
    assert "Escalated to level 2 by stockbot (no acknowledgement in 15 min)" in texts


def test_snoozed_card_says_until_when() -> None:
    texts = _texts(CARDS["snoozed"]())
    assert "Snoozed until {{DATE(2026-11-26T13:30:00Z, SHORT)}} {{TIME(2026-11-26T13:30:00Z)}}" in texts


def test_resolved_card_is_green_says_how_long_and_has_no_actions() -> None:
    card = alert_card(resolved_message())
    assert "actions" not in card
    header = card["body"][0]
    assert header["style"] == "good"
    assert header["items"][0]["color"] == "Good"
    texts = _texts(card)
    assert "Back in stock: Godzilla Pro pinball table (PIN-GODZ-PRO) at Chicago DC" in texts
    assert "Back in stock after 3 h 35 min" in texts
    assert "Level: 6 on hand / minimum 2" in texts
    assert "Link: [https://stock.example.com/alerts/42](https://stock.example.com/alerts/42)" in texts


def test_long_order_lists_are_summarised() -> None:
    texts = "\n".join(_texts(alert_card(_many_orders())))
    assert "SO-2009" in texts and "SO-2010" not in texts.split("Blocked orders\n")[-1]
    assert "and 4 more" in texts
    assert "(28 units)" in texts


def test_notice_card_is_the_refreshed_card_with_the_reason_first() -> None:
    message = _acknowledged()
    card = notice_card(message, "Already acknowledged by dana at 09:41 UTC.")
    notice = card["body"][0]
    assert notice == {
        "type": "TextBlock",
        "text": "Already acknowledged by dana at 09:41 UTC.",
        "wrap": True,
        "color": "Attention",
        "weight": "Bolder",
    }
    assert card["body"][1:] == alert_card(message)["body"]
    assert card["actions"] == alert_card(message)["actions"]


def test_error_card_has_only_the_text() -> None:
    card = error_card("That alert no longer exists.")
    assert _texts(card) == ["That alert no longer exists."]
    assert card["body"][0]["color"] == "Attention"
    assert "actions" not in card


def test_cards_are_pure() -> None:
    message = sample_message()
    assert alert_card(message) == alert_card(replace(message))
    assert message.opened_at == OPENED
