"""Per-channel templates: a bad one stops start-up naming the channel and the line; the sandbox holds; the
wording reaches real deliveries; a template that fails on a real alert falls back to the built-in wording."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from sqlalchemy import select

from stockbot.adapters.render import slack as slack_render
from stockbot.adapters.render import teams as teams_render
from stockbot.adapters.render import text
from stockbot.bot.config import ChannelConfig, ConfigError
from stockbot.bot.runtime import Runtime, check_config
from stockbot.bot.templates import render, validate_templates
from stockbot.storage.tables import deliveries
from tests.adapters.cases.twilio_sms import CASE as TWILIO
from tests.conftest import HarnessFactory
from tests.fakes.bot_connector import card_errors
from tests.fakes.messages import resolved_message, sample_message
from tests.fakes.slack_api import block_kit_problems
from tests.fakes.vendor import FakeVendor
from tests.helpers import StockbotHarness, event
from tests.helpers import test_config as parsed_config

UNUSED_DB = "sqlite+aiosqlite:///unused.db"  # parsing a config opens no database
SMS_TEMPLATE = (
    "{{ severity | upper }}: {{ product_name }} ({{ sku }}) at {{ location }}, {{ level_text }}."
    "{% if is_resolved %} Back, thanks {{ resolved_by }}.{% else %} Call Dana on 555-0100.{% endif %}"
)


def template_problems(template: str, channel: str = "sales-sms") -> list[str]:
    channels = {channel: {"adapter": "console", "address": "sms", "template": template}}
    try:
        config = parsed_config(UNUSED_DB, channels=channels)
        check_config(config)  # what the runtime and `stockbot config check` run
    except ConfigError as error:
        return str(error).splitlines()
    return []


# --- the start-up check ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "problem"),
    [
        ("Short: {{ sku }}\n{{ alert.sku }}", "line 2: 'alert' is undefined"),
        ("{{ sku }}\n\n{{ sku | shout }}", "line 3: No filter named 'shout'."),
        ("{% if severity == 'critical' %}\nurgent", "line 2: Unexpected end of template."),
        ("{{ resolved_at.strftime('%H:%M') }}", "line 1: 'None' has no attribute 'strftime'"),
        (
            "{{ sku }}: {{ on_hand + 1 }} after the next delivery",
            "line 1: unsupported operand type(s) for +: 'NoneType' and 'int' "
            "(rendering an acknowledged, escalated alert with an unknown level)",
        ),
    ],
)
def test_a_bad_template_is_a_config_error_naming_the_channel_and_the_line(
    template: str, problem: str
) -> None:
    (found,) = template_problems(template)
    assert found.startswith(f"channels.sales-sms.template, {problem}")


@pytest.mark.parametrize(
    ("template", "blocked"),
    [
        ("{{ ''.__class__.__mro__ }}", "access to attribute '__class__' of 'str' object is unsafe"),
        ("{{ cycler.__init__.__globals__ }}", "access to attribute '__init__' of 'type' object is unsafe"),
        (
            "{{ opened_at.__class__.__subclasses__() }}",
            "attribute '__class__' of 'datetime' object is unsafe",
        ),
        (
            "{% set seen = [] %}{{ seen.append(sku) }}",
            "access to attribute 'append' of 'list' object is unsafe",
        ),
        ("{{ range(10 ** 9) | list | length }}", "Range too big"),
        ("{% include 'channels.ops.template' %}", "no loader for this environment specified"),
    ],
)
def test_the_sandbox_blocks_escapes_and_it_is_a_start_up_error(template: str, blocked: str) -> None:
    (found,) = template_problems(template)
    assert found.startswith("channels.sales-sms.template, line 1: ")
    assert blocked in found


def test_good_templates_pass_and_channels_without_one_are_not_checked() -> None:
    assert template_problems(SMS_TEMPLATE) == []
    assert validate_templates(parsed_config(UNUSED_DB)) == []


async def test_the_runtime_refuses_to_start_with_a_bad_template() -> None:
    config = parsed_config(UNUSED_DB)
    # A config built in code (not through parse_config) is still checked when the runtime starts.
    config.channels["ops"] = ChannelConfig(adapter="console", address="ops", template="ok\n{{ 'x' | nope }}")
    with pytest.raises(ConfigError, match=r"^channels\.ops\.template, line 2: No filter named 'nope'\.$"):
        await Runtime.create(config, migrate=False)


# --- what a template sees -------------------------------------------------------------------------------


def test_a_template_sees_every_field_and_the_built_in_pieces() -> None:
    template = (
        "{{ headline }}\n"
        "{{ level_text }} · {{ severity_text }} · {{ trigger_text }} · {{ status_line }}\n"
        "{% for o in blocked_orders %}{{ o.order_id }}: {{ o.blocked }} short for {{ o.rep }}\n{% endfor %}"
        "{{ blocked_quantity }} units · since {{ opened_at.strftime('%H:%M') }} · key={{ key_product }}"
        " · {{ link }} · {{ channel }}"
    )
    assert render(template, sample_message(), "sales") == (
        "CRITICAL shortage: Godzilla Pro pinball table (PIN-GODZ-PRO) at Chicago DC\n"
        "0 on hand / minimum 2 · CRITICAL shortage · sales order could not be fulfilled · "
        "Open, not yet acknowledged\n"
        "SO-1001: 2 short for dana\n"
        "2 units · since 09:30 · key=True · https://stock.example.com/alerts/42 · sales"
    )
    assert render("{% if severity == 'low' %}low{% endif %}", sample_message(), "x") is None  # built-in


# --- renderers put the custom text in place of their body --------------------------------------------


CUSTOM = "Pinball <Godzilla> & co: 0 left.\nCall Dana."


def test_text_renderers_use_the_custom_text_as_the_body() -> None:
    message = sample_message(custom_text=CUSTOM)
    headline = "CRITICAL shortage: Godzilla Pro pinball table (PIN-GODZ-PRO) at Chicago DC"
    assert text.plain_text(message) == f"{headline}\n\n{CUSTOM}\n\nstockbot alert #42"
    assert text.ticket(message).title == headline
    assert text.ticket(message).description == text.plain_text(message)
    assert text.email_subject(message) == f"[stockbot] {headline}"
    html = text.email_html(message)
    assert "<p>Pinball &lt;Godzilla&gt; &amp; co: 0 left.<br>Call Dana.</p>" in html
    assert "<table>" not in html and f"<h2 style='margin:0 0 8px'>{headline}</h2>" in html


def test_sms_clips_the_custom_text_to_one_gsm_segment() -> None:
    assert text.sms(sample_message(custom_text="  Godzilla out ✓\n")) == "Godzilla out ?"
    long = text.sms(sample_message(custom_text="word " * 60))
    assert len(long) == 159 and long.endswith("...") and long.isascii()


def test_slack_keeps_header_status_and_buttons_around_the_custom_text() -> None:
    blocks = slack_render.alert_blocks(sample_message(custom_text=CUSTOM))
    assert [b["type"] for b in blocks] == ["header", "section", "context", "actions"]
    assert blocks[0]["text"]["text"] == ":rotating_light: CRITICAL: Godzilla Pro pinball table"
    assert blocks[1]["text"] == {
        "type": "mrkdwn",
        "text": "Pinball &lt;Godzilla&gt; &amp; co: 0 left.\nCall Dana.",
    }
    assert block_kit_problems(blocks) == []
    assert slack_render.alert_text(sample_message(custom_text=CUSTOM)) == blocks[1]["text"]["text"]
    resolved = slack_render.alert_blocks(resolved_message(custom_text="Back: 6 on hand"))
    assert [b["type"] for b in resolved] == ["header", "section", "context"]


def test_teams_replaces_the_facts_with_a_text_block() -> None:
    card = teams_render.alert_card(sample_message(custom_text=CUSTOM))
    assert card_errors(card) == []
    body = card["body"]
    assert [item["type"] for item in body] == ["Container", "TextBlock", "TextBlock"]
    assert body[1] == {"type": "TextBlock", "text": CUSTOM, "wrap": True, "spacing": "Medium"}
    titles = [a["title"] for a in card["actions"]]
    assert titles == ["Acknowledge", "Escalate", "Snooze", "Resolve", "Open in stockbot"]


# --- through real deliveries ----------------------------------------------------------------------------


@pytest.fixture
async def receiver() -> AsyncIterator[FakeVendor]:
    fake = FakeVendor("receiver")
    fake.expect("POST", "/hooks/{name}", respond=lambda _: web.Response(status=204), name="hook")
    TWILIO.configure(fake)
    await fake.start()
    yield fake
    await fake.close()


def delivering(receiver: FakeVendor, templates: dict[str, str]) -> dict[str, Any]:
    """Webhook channels ``plain`` and ``hook`` and a Twilio SMS channel, each with its template, if any."""
    channels: dict[str, Any] = {
        "plain": {"adapter": "webhook", "address": f"{receiver.url}/hooks/plain"},
        "hook": {"adapter": "webhook", "address": f"{receiver.url}/hooks/hook"},
        "sms": {"adapter": "twilio_sms", "address": TWILIO.address},
    }
    for name, template in templates.items():
        channels[name]["template"] = template
    return {
        "adapters": {"twilio_sms": TWILIO.settings(receiver.url)},
        "channels": channels,
        "routes": [{"channels": list(channels)}],
    }


def hooked(receiver: FakeVendor, channel: str) -> list[dict[str, Any]]:
    return [r.body["alert"] for r in receiver.calls("hook") if r.path == f"/hooks/{channel}"]


async def statuses(harness: StockbotHarness) -> list[tuple[str, str]]:
    assert harness.runtime is not None
    async with harness.runtime.engine.connect() as conn:
        rows = await conn.execute(select(deliveries.c.channel, deliveries.c.status).order_by(deliveries.c.id))
        return [(r.channel, r.status) for r in rows]


async def test_the_channel_gets_its_own_wording_and_other_channels_the_built_in(
    stockbot: HarnessFactory, receiver: FakeVendor
) -> None:
    hook = "{{ product_name }} is {{ 'back' if is_resolved else 'short' }} at {{ location }} ({{ on_hand }})"
    harness = await stockbot(**delivering(receiver, {"hook": hook, "sms": SMS_TEMPLATE}))
    await harness.send(event("CAB-MK-LEGACY", 0, status="out_of_stock"))
    await harness.deliver()
    await harness.send(event("CAB-MK-LEGACY", 9, at=harness.later(minutes=30)))
    await harness.deliver()
    assert receiver.errors == []
    assert [a["custom_text"] for a in hooked(receiver, "hook")] == [
        "Mortal Kombat Legacy Kit cabinet is short at Chicago DC (0)",
        "Mortal Kombat Legacy Kit cabinet is back at Chicago DC (9)",
    ]
    assert [a["custom_text"] for a in hooked(receiver, "plain")] == [None, None]
    assert [c.body["Body"] for c in receiver.calls("create_message")] == [
        "OUT: Mortal Kombat Legacy Kit cabinet (CAB-MK-LEGACY) at Chicago DC, 0 on hand / minimum 1."
        " Call Dana on 555-0100.",
        "OUT: Mortal Kombat Legacy Kit cabinet (CAB-MK-LEGACY) at Chicago DC, 9 on hand / minimum 1."
        " Back, thanks erp.",
    ]
    assert {status for _, status in await statuses(harness)} == {"delivered"}


async def test_each_channel_reads_in_its_own_language_and_time_zone(
    stockbot: HarnessFactory, receiver: FakeVendor
) -> None:
    """The dispatcher sets the channel's language and zone before its template and renderer see the alert."""
    config = delivering(receiver, {"hook": "{{ severity_text }} · {{ trigger_text }} · {{ status_line }}"})
    config["channels"]["sms"] |= {"language": "es", "timezone": "America/Mexico_City"}
    config["channels"]["hook"] |= {"language": "es"}
    harness = await stockbot(**config)
    await harness.send(event("CAB-MK-LEGACY", 0, status="out_of_stock"))
    await harness.deliver()
    assert receiver.errors == []
    (sms,) = [c.body["Body"] for c in receiver.calls("create_message")]
    assert sms.startswith("AGOTADO CAB-MK-LEGACY @ Chicago DC: 0 en existencia / minimo 1")
    (hooked_alert,) = hooked(receiver, "hook")
    assert (
        hooked_alert["custom_text"]
        == "Agotado · el origen informó de que está agotado · Abierta, sin confirmar"
    )
    assert (hooked_alert["language"], hooked_alert["timezone"]) == ("es", "UTC")
    (plain,) = hooked(receiver, "plain")
    assert (plain["language"], plain["custom_text"]) == ("en", None)


async def test_a_template_failing_on_a_real_alert_falls_back_to_the_built_in_wording(
    stockbot: HarnessFactory, receiver: FakeVendor, caplog: pytest.LogCaptureFixture
) -> None:
    # Passes the start-up check (the samples are the Godzilla table) but knows no other product.
    picky = "{{ {'PIN-GODZ-PRO': 'The Godzilla table'}[sku] }} is short"
    harness = await stockbot(**delivering(receiver, {"hook": picky}))
    caplog.set_level(logging.WARNING, logger="stockbot.templates")
    await harness.send(event("CAB-MK-LEGACY", 0, status="out_of_stock"))
    await harness.send(event("PIN-GODZ-PRO", 0, event_id="godzilla"))
    await harness.deliver()
    assert [a["custom_text"] for a in hooked(receiver, "hook")] == [None, "The Godzilla table is short"]
    assert {status for _, status in await statuses(harness)} == {"delivered"}
    (warning,) = [r.getMessage() for r in caplog.records if r.name == "stockbot.templates"]
    assert warning == (
        "channels.hook.template, line 1: 'dict object' has no attribute 'CAB-MK-LEGACY'; "
        "alert #1 was sent with the built-in wording"
    )
