"""Every renderer says what is true now: a level back above the minimum reads "recovering", a flag against a
level with stock names who flagged it, and no card says "Out of stock" beside stock on hand without why.
"""

from __future__ import annotations

import json

from stockbot.adapters.message import LocationStock, OpenAlert, ProductStock, sample_message
from stockbot.adapters.render import slack, slack_answers, teams, teams_answers, text
from tests.fakes.bot_connector import card_errors
from tests.fakes.messages import OPENED
from tests.fakes.slack_api import block_kit_problems

# Minimum 1, resolve_buffer 1: it went to 0, then came back to 2.
RECOVERING = sample_message(
    product_name="Mortal Kombat Legacy Kit cabinet",
    sku="CAB-MK-LEGACY",
    key_product=False,
    on_hand=2,
    minimum=1,
    critical_level=None,
    severity="out",
    trigger="out_of_stock",
    blocked_orders=(),
    event="updated",
    resolves_above=2,
)
# A key product flagged out by hand while the system shows 5.
FLAGGED = sample_message(
    on_hand=5, trigger="manual", flagged_by="Sam", blocked_orders=(), reason="water damage", resolves_above=2
)


def everything(message_blocks: object) -> str:
    return json.dumps(message_blocks, ensure_ascii=False)


def test_a_recovering_alert_says_so_everywhere() -> None:
    blocks = slack.alert_blocks(RECOVERING)
    assert block_kit_problems(blocks) == []
    assert blocks[0]["text"]["text"] == (
        ":large_green_circle: Recovering (was Out of stock): Mortal Kombat Legacy Kit cabinet"
    )
    level = "2 on hand, recovering: resolves above 2 (minimum 1)"
    assert level in everything(blocks) and "Out of stock:" not in everything(blocks)
    assert slack.alert_text(RECOVERING).endswith(f"at Chicago DC — {level}")
    assert slack.thread_text(RECOVERING) == f"Updated: {level}"

    card = teams.alert_card(RECOVERING)
    assert card_errors(card) == []
    header = card["body"][0]["items"][0]
    assert header["text"].startswith("Recovering (was out of stock): Mortal Kombat")
    assert header["color"] == "Warning"
    assert {"title": "Level", "value": level} in card["body"][1]["facts"]

    assert text.headline(RECOVERING).startswith("Recovering (was out of stock):")
    assert f"Level: {level}" in text.plain_text(RECOVERING)
    assert text.sms(RECOVERING).startswith(f"RECOVERING CAB-MK-LEGACY @ Chicago DC: {level}")
    assert text.digest_line(RECOVERING).startswith("RECOVERING ")


def test_a_flag_against_stock_on_hand_names_who_flagged_it() -> None:
    level = "flagged out of stock by Sam although the system shows 5 on hand (minimum 2)"
    blocks = slack.alert_blocks(FLAGGED)
    assert blocks[0]["text"]["text"].startswith(":rotating_light: CRITICAL")  # the flag's claim stays
    assert level in everything(blocks)
    assert "5 on hand / minimum" not in everything(blocks)
    card = teams.alert_card(FLAGGED)
    assert card_errors(card) == [] and level in everything(card)
    assert level in text.plain_text(FLAGGED) and level in text.email_html(FLAGGED)
    # A Slack user id that flagged it becomes a mention on Slack, stays an id elsewhere.
    by_id = sample_message(on_hand=5, trigger="manual", flagged_by="U0WAREHOUSE", blocked_orders=())
    assert "flagged out of stock by <@U0WAREHOUSE>" in everything(slack.alert_blocks(by_id))


def test_the_source_saying_out_against_its_own_level_is_named() -> None:
    reported = sample_message(on_hand=3, trigger="source_out_of_stock", blocked_orders=(), key_product=False)
    assert "erp reports out of stock although its level is 3 (minimum 2)" in text.plain_text(reported)


def test_a_level_that_agrees_with_the_severity_reads_as_before() -> None:
    out = sample_message(on_hand=0, blocked_orders=(), resolves_above=3)
    assert text.level_text(out) == "0 on hand / minimum 2"
    flagged_at_zero = sample_message(on_hand=0, trigger="manual", flagged_by="Sam", blocked_orders=())
    assert text.level_text(flagged_at_zero) == "0 on hand / minimum 2"


def _stock(on_hand: int | None, severity: str | None, alert: OpenAlert | None) -> ProductStock:
    where = LocationStock(
        location="Chicago DC",
        on_hand=on_hand,
        minimum=1,
        critical_level=None,
        severity=severity,
        last_event_at=OPENED,
        last_source="erp",
        alert=alert,
        resolves_above=2 if alert else None,
    )
    return ProductStock("CAB-MK-LEGACY", "Mortal Kombat Legacy Kit cabinet", "cabinet", False, (where,))


def _alert(**fields: object) -> OpenAlert:
    values: dict[str, object] = {
        "id": 7,
        "state": "open",
        "severity": "out",
        "opened_at": OPENED,
        "acknowledged_by": None,
        "acknowledged_at": None,
        "escalated_by": None,
        "escalated_at": None,
        "escalation_step": 0,
        "escalation_note": None,
        "snoozed_until": None,
        "reason": None,
        "blocked_quantity": 0,
        "trigger": "out_of_stock",
        **fields,
    }
    return OpenAlert(**values)  # type: ignore[arg-type]


def test_stock_answers_say_recovering_and_who_flagged() -> None:
    recovering = _stock(2, None, _alert())
    answer = slack_answers.stock_answer([recovering])
    line = answer.blocks[0]["text"]["text"]
    assert (
        "*Chicago DC*: 2 on hand / minimum 1 — :large_green_circle: Recovering (was Out of stock), "
        "resolves above 2" in line
    )
    assert answer.text == "Mortal Kombat Legacy Kit cabinet (CAB-MK-LEGACY): recovering at Chicago DC"
    card = teams_answers.stock_card([recovering])
    assert card_errors(card) == []
    assert (
        "**Chicago DC**: 2 on hand / minimum 1 · Recovering (was out of stock), resolves above 2"
        in everything(card)
    )

    flagged = _stock(5, None, _alert(trigger="manual", flagged_by="Sam"))
    line = slack_answers.stock_answer([flagged]).blocks[0]["text"]["text"]
    assert (
        "5 on hand / minimum 1 — :red_circle: Out of stock, flagged out of stock by Sam although the "
        "system shows 5 on hand" in line
    )
    assert "flagged out of stock by Sam although the system shows 5 on hand" in everything(
        teams_answers.stock_card([flagged])
    )


async def test_the_terminal_says_it_too() -> None:
    import io

    from stockbot.adapters.base import Target
    from stockbot.adapters.console import ConsoleAdapter, ConsoleSettings

    out = io.StringIO()
    adapter = ConsoleAdapter(ConsoleSettings(colour=False), None, out=out)
    for message in (RECOVERING, FLAGGED):
        await adapter.send(message, Target(channel="ops", address="ops", idempotency_key="k"))
    recovering, flagged = out.getvalue().splitlines()
    assert "Recovering (was out of stock)" in recovering and "resolves above 2" in recovering
    assert "flagged out of stock by Sam although the system shows 5 on hand" in flagged
