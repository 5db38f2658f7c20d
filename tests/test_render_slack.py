"""Golden tests for the Slack card: structure, ids the front end relies on, wording, and Slack's limits."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from stockbot.adapters.base import BlockedOrder
from stockbot.adapters.render.slack import (
    ACK_ACTION_ID,
    ACTIONS_BLOCK_ID,
    ESCALATE_ACTION_ID,
    RESOLVE_ACTION_ID,
    SNOOZE_ACTION_ID,
    alert_blocks,
    alert_text,
    escape,
    thread_text,
    who,
)
from tests.fakes.messages import OPENED, resolved_message, sample_message
from tests.fakes.slack_api import MAX_MESSAGE_BLOCKS, block_kit_problems

OPENED_UNIX = int(OPENED.timestamp())


def _types(blocks: list[dict[str, Any]]) -> list[str]:
    return [block["type"] for block in blocks]


def _actions(blocks: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    (block,) = [b for b in blocks if b["type"] == "actions"] or [{"elements": []}]
    return {element["action_id"]: element for element in block["elements"]}


def _all_text(blocks: list[dict[str, Any]]) -> str:
    parts: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("text"), str):
                parts.append(node["text"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(blocks)
    return "\n".join(parts)


def test_open_card_structure_and_actions() -> None:
    blocks = alert_blocks(sample_message())
    assert _types(blocks) == ["header", "section", "section", "context", "actions"]
    assert blocks[0]["text"]["text"] == ":rotating_light: CRITICAL: Godzilla Pro pinball table"
    actions_block = blocks[-1]
    assert actions_block["block_id"] == ACTIONS_BLOCK_ID
    actions = _actions(blocks)
    assert list(actions) == [ACK_ACTION_ID, ESCALATE_ACTION_ID, SNOOZE_ACTION_ID, RESOLVE_ACTION_ID]
    ack, escalate, snooze, resolve = actions.values()
    assert (ack["type"], ack["value"], ack["style"], ack["text"]["text"]) == (
        "button",
        "42",
        "primary",
        "Acknowledge",
    )
    assert (escalate["type"], escalate["value"], escalate["style"]) == ("button", "42", "danger")
    assert set(escalate["confirm"]) >= {"title", "text", "confirm", "deny"}
    assert "PIN-GODZ-PRO" in escalate["confirm"]["text"]["text"]
    assert snooze["type"] == "static_select"
    assert [(o["value"], o["text"]["text"]) for o in snooze["options"]] == [
        ("42:1h", "1 hour"),
        ("42:4h", "4 hours"),
        ("42:tomorrow", "Until tomorrow 9:00"),
    ]
    assert (resolve["type"], resolve["value"], resolve["text"]["text"]) == ("button", "42", "Resolve")
    assert resolve["confirm"]["title"]["text"] == "Resolve this alert?"
    assert "PIN-GODZ-PRO at Chicago DC is closed by hand" in resolve["confirm"]["text"]["text"]
    assert block_kit_problems(blocks) == []


def test_facts_on_the_card() -> None:
    text = _all_text(alert_blocks(sample_message()))
    for expected in (
        "PIN-GODZ-PRO",
        "Chicago DC",
        "0 on hand / minimum 2",
        ":rotating_light: CRITICAL",
        "sales order could not be fulfilled",
        "SO-1001: 2 requested, 0 available",
        f"<!date^{OPENED_UNIX}^{{date_short_pretty}} {{time}}|2026-11-26 09:30 UTC>",
        "Open, not yet acknowledged",
        "stockbot alert #42 · <https://stock.example.com/alerts/42|details>",
    ):
        assert expected in text


@pytest.mark.parametrize(
    ("severity", "label"),
    [("low", ":large_yellow_circle: Low stock"), ("out", ":red_circle: Out of stock")],
)
def test_severity_words(severity: str, label: str) -> None:
    message = sample_message(severity=severity, on_hand=1)
    assert alert_blocks(message)[0]["text"]["text"].startswith(label)
    assert alert_text(message).startswith(label)


def test_fallback_text() -> None:
    assert alert_text(sample_message()) == (
        ":rotating_light: CRITICAL: Godzilla Pro pinball table (PIN-GODZ-PRO) at Chicago DC"
        " — 0 on hand / minimum 2"
    )
    assert alert_text(resolved_message()).startswith(":white_check_mark: Back in stock: Godzilla")


def test_acknowledged_card_keeps_escalate_and_snooze() -> None:
    message = sample_message(
        event="acknowledged",
        state="acknowledged",
        acknowledged_by="U123ABC",
        acknowledged_at=OPENED + timedelta(minutes=4),
    )
    blocks = alert_blocks(message)
    assert list(_actions(blocks)) == [ESCALATE_ACTION_ID, SNOOZE_ACTION_ID, RESOLVE_ACTION_ID]
    status = blocks[-2]["elements"][0]["text"]
    assert status.startswith(":eyes: Acknowledged by <@U123ABC> <!date^")


def test_escalated_and_snoozed_status() -> None:
    message = sample_message(
        state="escalated",
        escalation_level=2,
        escalated_by="Dana <ops>",
        escalation_note="customer waiting",
        snoozed_until=OPENED + timedelta(hours=1),
    )
    status = alert_blocks(message)[-2]["elements"][0]["text"]
    assert ":arrow_double_up: Escalated to level 2 by Dana &lt;ops&gt;: customer waiting" in status
    assert f":zzz: Snoozed until <!date^{OPENED_UNIX + 3600}^" in status
    assert ACK_ACTION_ID in _actions(alert_blocks(message))  # escalated but nobody acknowledged yet


def test_resolved_card_has_no_buttons() -> None:
    blocks = alert_blocks(resolved_message())
    assert "actions" not in _types(blocks)
    assert blocks[0]["text"]["text"] == ":white_check_mark: Back in stock: Godzilla Pro pinball table"
    status = blocks[-1]["elements"][0]["text"]
    assert status == ":white_check_mark: Back in stock after 3 h 35 min (reported by erp)"


def test_workspace_timezone_in_date_fallback() -> None:
    text = _all_text(alert_blocks(sample_message(), timezone="Europe/Berlin"))
    assert f"<!date^{OPENED_UNIX}^{{date_short_pretty}} {{time}}|2026-11-26 10:30 CET>" in text


def test_user_input_is_escaped() -> None:
    message = sample_message(product_name="Tom & Jerry <deluxe>", sku="TJ<1>", reason="<!channel> now")
    text = _all_text(alert_blocks(message))
    assert "Tom &amp; Jerry &lt;deluxe&gt;" in alert_text(message)
    assert "TJ&lt;1&gt;" in text
    assert "&lt;!channel&gt; now" in text
    assert "<!channel>" not in text
    assert escape("a<b>&c") == "a&lt;b&gt;&amp;c"


def test_who_formats_user_ids_as_mentions() -> None:
    assert who("U123ABC") == "<@U123ABC>"
    assert who("<@W0ABCDEF>") == "<@W0ABCDEF>"
    assert who("U123") == "<@U123>"
    assert who("WMS") == "WMS"
    assert who("dana@example.com") == "dana@example.com"
    assert who(None) == "someone"


def test_limits_hold_for_huge_input() -> None:
    orders = tuple(BlockedOrder(f"SO-{i:05d}" + "X" * 200, 5, 0, rep="U0REP") for i in range(400))
    message = sample_message(
        product_name="P" * 500,
        location="L" * 3000,
        sku="S" * 400,
        reason="R" * 5000,
        escalation_note="N" * 4000,
        escalation_level=1,
        blocked_orders=orders,
    )
    blocks = alert_blocks(message)
    assert len(blocks) <= MAX_MESSAGE_BLOCKS
    assert block_kit_problems(blocks) == []
    assert "…and 390 more" in _all_text(blocks)
    assert len(alert_text(message)) <= 3000
    assert len(thread_text(sample_message(event="escalated", escalation_note="N" * 5000))) <= 3000


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"event": "acknowledged", "acknowledged_by": "U123ABC"}, "Acknowledged by <@U123ABC>"),
        ({"event": "acknowledged", "actor": "dana"}, "Acknowledged by dana"),
        (
            {"event": "escalated", "escalation_level": 2, "escalated_by": "U0MGR"},
            "Escalated to level 2 by <@U0MGR>",
        ),
        (
            {"event": "escalated", "escalation_level": 1, "actor": "scheduler", "escalation_note": "15 min"},
            "Escalated to level 1 by scheduler: 15 min",
        ),
        ({"event": "updated", "on_hand": 1}, "Updated: 1 on hand / minimum 2"),
        ({"event": "reopened", "on_hand": 0}, "Reopened: :rotating_light: CRITICAL, 0 on hand / minimum 2"),
        (
            {"event": "snoozed", "actor": "U123ABC", "snoozed_until": OPENED + timedelta(hours=4)},
            f"Snoozed until <!date^{OPENED_UNIX + 4 * 3600}^{{date_short_pretty}} {{time}}"
            "|2026-11-26 13:30 UTC> by <@U123ABC>",
        ),
    ],
)
def test_thread_text(overrides: dict[str, Any], expected: str) -> None:
    assert thread_text(sample_message(**overrides)) == expected


def test_thread_text_for_resolved() -> None:
    assert thread_text(resolved_message()) == "Back in stock: 6 on hand after 3 h 35 min"


def test_an_escalation_steps_people_are_mentioned() -> None:
    from stockbot.adapters.render.slack import alert_blocks, alert_text, thread_text

    message = sample_message(
        event="escalated", escalation_level=1, mentions=("S0MANAGERS", "U0BOSS1", "aad-id")
    )
    assert alert_text(message).startswith("<!subteam^S0MANAGERS> <@U0BOSS1> ")
    sections = [b["text"]["text"] for b in alert_blocks(message) if b["type"] == "section" and "text" in b]
    assert "cc <!subteam^S0MANAGERS> <@U0BOSS1>" in sections
    assert thread_text(message).endswith("cc <!subteam^S0MANAGERS> <@U0BOSS1>")
    assert "<@" not in alert_text(sample_message())  # no step, nobody mentioned
