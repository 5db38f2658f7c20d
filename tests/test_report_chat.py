"""Reports in chat and on a schedule: ``/stock report`` in Slack, ``report`` in Teams, ``[[reports]]``.

Slack answers go through the fake Slack Web API (Block Kit limits checked); Teams cards are checked
against the Adaptive Card 1.5 schema; a scheduled report goes through the outbox to the fake Slack.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from stockbot.adapters.render.text import email_html, plain_text, sms
from stockbot.adapters.report_card import (
    ACKNOWLEDGE_P50,
    DURATION,
    OUT_NOW,
    STOCKOUTS,
    Figure,
    Offender,
    ReportCard,
)
from stockbot.bot.report_requests import BadReportRequest, parse_request, report_message, send_due_reports
from tests.conftest import HarnessFactory
from tests.fakes import slack_api
from tests.fakes.bot_connector import FakeBotConnector, card_errors
from tests.fakes.slack_api import FakeSlack
from tests.helpers import T0, StockbotHarness, event
from tests.test_slack_app import REP, SALES, answer_text, deliver, send_command, slack_overrides
from tests.test_teams_app import ROLES, activity, connector, reply_card, reply_text, send

fake_slack = slack_api.fake_slack  # the fixtures
_ = connector

STRANGER = "U0STRANGER"


async def seed(harness: StockbotHarness) -> None:
    for _ in range(2):
        await harness.send(event("CAB-MK-LEGACY", 0, at=harness.clock.now()))
        harness.later(hours=3)
        await harness.send(event("CAB-MK-LEGACY", 9, at=harness.clock.now()))
        harness.later(hours=21)


def test_a_request_names_a_period_then_a_location_or_category() -> None:
    places, kinds = ["Chicago DC", "Las Vegas Showroom"], ["cabinet", "pinball"]
    assert parse_request("", places, kinds).days == 7
    request = parse_request("30d chicago dc", places, kinds)
    assert request.days == 30 and request.cut.location == "Chicago DC"
    assert parse_request("Pinball", places, kinds).cut.category == "pinball"
    for bad, why in (("14d", "7d or 30d"), ("7d Atlantis", "Locations: Chicago DC, Las Vegas Showroom")):
        try:
            parse_request(bad, places, kinds)
        except BadReportRequest as exc:
            assert why in str(exc)
        else:
            raise AssertionError(bad)


async def test_slack_report_card_with_figures_arrows_and_repeat_offenders(
    stockbot: HarnessFactory, fake_slack: FakeSlack
) -> None:
    harness = await stockbot(**slack_overrides(fake_slack))
    await seed(harness)

    answer = await send_command(harness, fake_slack, "/stock", "report 7d Chicago DC", REP)
    text = answer_text(answer)
    header = answer["blocks"][0]["text"]["text"]
    assert header == "Stock report: last 7 days · Chicago DC"
    assert "*Stock-outs*\n2" in json.dumps(answer["blocks"]).replace("\\n", "\n")
    assert "▲ from 0" in text
    assert "1. *Mortal Kombat Legacy Kit cabinet* `CAB-MK-LEGACY` at Chicago DC: 2 stock-outs" in text
    assert fake_slack.errors == []  # Block Kit limits and the Web API schema

    refused = await send_command(harness, fake_slack, "/stock", "report", STRANGER)
    assert "only manager or rep or warehouse roles may see reports" in answer_text(refused)
    unknown = await send_command(harness, fake_slack, "/stock", "report 7d Atlantis", REP)
    assert "no location or category is called 'Atlantis'" in answer_text(unknown)


async def test_teams_report_card_and_dashboard_only_in_a_personal_chat(
    stockbot: HarnessFactory, connector: FakeBotConnector
) -> None:
    harness = await stockbot(teams={}, roles=ROLES, server={"public_url": "https://stock.example.com"})
    await seed(harness)

    status, _ = await send(harness, activity(connector, "message", who="manager", text="report 30d cabinet"))
    assert status == 202
    card = reply_card(connector)
    assert card_errors(card) == [] and connector.errors == []
    assert card["body"][0]["text"] == "Stock report: last 30 days · cabinet"
    assert "Mortal Kombat Legacy Kit cabinet" in json.dumps(card)

    await send(harness, activity(connector, "message", who="manager", text="dashboard"))
    assert "only send it in a personal chat" in reply_text(connector)
    personal = activity(
        connector, "message", who="manager", text="dashboard", conversation="a:1", scope="personal"
    )
    await send(harness, personal)
    card = reply_card(connector)
    assert card_errors(card) == []
    (button,) = card["actions"]
    assert button["url"].startswith("https://stock.example.com/login?token=")

    await send(harness, activity(connector, "message", who="stranger", text="report"))
    assert "only manager or rep or warehouse roles may see reports" in reply_text(connector)


async def test_a_scheduled_report_goes_out_once_at_its_local_time(
    stockbot: HarnessFactory, fake_slack: FakeSlack
) -> None:
    overrides = slack_overrides(fake_slack)
    overrides["channels"]["sales"]["timezone"] = "America/Chicago"
    # T0 is Thursday 2026-11-26 09:00 UTC: 03:00 in Chicago. Fridays at 09:00 there is 15:00 UTC.
    harness = await stockbot(
        **overrides, reports=[{"channels": ["sales"], "every": "fri 09:00", "period": "7d"}]
    )
    await seed(harness)  # now Saturday 09:00 UTC: the Friday report (15:00 UTC yesterday) is 18 h late
    assert harness.runtime is not None
    runtime = harness.runtime
    assert await send_due_reports(runtime.config, runtime.engine, harness.clock) == 0  # past the catch-up

    harness.later(days=6, hours=6)  # Friday 2026-12-04 15:00 UTC = 09:00 in Chicago
    assert await send_due_reports(runtime.config, runtime.engine, harness.clock) == 1
    assert await send_due_reports(runtime.config, runtime.engine, harness.clock) == 0  # once per due time
    await deliver(harness)  # the seed's alerts go out as digests; the report is never folded into one
    (posted,) = [m for m in fake_slack.posts(SALES) if m["text"].startswith("Stock report")]
    assert posted["blocks"][0]["text"]["text"] == "Stock report: last 7 days · all locations"
    assert "2026-11-27 to 2026-12-03" in json.dumps(posted["blocks"])
    assert fake_slack.errors == []
    harness.later(days=7)
    assert await send_due_reports(runtime.config, runtime.engine, harness.clock) == 1  # the next Friday


def _card() -> ReportCard:
    return ReportCard(
        days=7,
        scope=(),
        start=date(2026, 11, 20),
        end=date(2026, 11, 26),
        previous_start=date(2026, 11, 13),
        previous_end=date(2026, 11, 19),
        figures=(
            Figure(STOCKOUTS, 12, 9, "up", "down"),
            Figure(ACKNOWLEDGE_P50, 240, 540, "down", "down", DURATION),
            Figure(OUT_NOW, 3, None, "", "down"),
        ),
        offenders=(Offender("Pac-Man <upright>", "CAB-PACMAN-UP", "Chicago DC", 3, 7200),),
        generated_at=T0,
        link="https://stock.example.com/reports?period=7d",
    )


def test_text_and_email_destinations_render_the_report() -> None:
    message = report_message(_card(), T0)
    again: Any = type(message).from_json(message.to_json())  # as the outbox stores and reads it
    assert again == message
    text = plain_text(again)
    assert "Stock-outs: 12 (▲ from 9)" in text and "1. Pac-Man <upright> (CAB-PACMAN-UP)" in text
    page = email_html(again)
    assert "Pac-Man &lt;upright&gt;" in page and "<svg" not in page and "Open the dashboard" in page
    assert len(sms(again)) < 160 and sms(again).startswith("stockbot last 7 days")


def test_scheduled_reports_config_names_channels_and_times() -> None:
    import pytest

    from stockbot.bot.config import ConfigError, parse_config

    with pytest.raises(ConfigError, match=r"reports\[0\]\.every: write when as"):
        parse_config({"reports": [{"channels": ["x"], "every": "monday 9am"}]}, env={})
    with pytest.raises(ConfigError, match=r"reports\[0\]\.channels: no channel is called 'nowhere'"):
        parse_config({"reports": [{"channels": ["nowhere"], "every": "mon 09:00"}]}, env={})
