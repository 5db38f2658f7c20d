"""The Teams front end over HTTP: the real app on 127.0.0.1, a fake Bot Connector as the serviceUrl.

Install → reference stored and the bot says the conversation id → an inventory event posts the card →
clicks (invokes) acknowledge, are refused, escalate → restock updates the card in place; the ``stock``,
``oos`` and ``help`` commands; production mode refuses unauthenticated requests. Every card stockbot sends
or answers with validates against the Adaptive Card 1.5 schema.
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import json
import logging
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from stockbot.adapters.render.teams import CARD_CONTENT_TYPE, VERB_ACK, VERB_ESCALATE, VERB_SNOOZE
from stockbot.handlers.cli.teams import teams_app
from stockbot.storage import teams as conversations
from stockbot.storage.db import create_engine, upgrade
from stockbot.storage.tables import audit_events
from tests.conftest import HarnessFactory
from tests.fakes.bot_connector import FakeBotConnector, card_errors
from tests.fakes.shared import vector
from tests.fakes.slack_api import FakeSlack
from tests.helpers import T0, StockbotHarness, event

TENANT = "00000000-0000-0000-0000-0000000000aa"
APP_ID = "6f1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
BOT = {"id": f"28:{APP_ID}", "name": "stockbot"}
CHANNEL = "19:sales-floor@thread.tacv2"
PEOPLE = {
    "rep": {"id": "29:rep", "name": "Rita Rep", "aadObjectId": "aad-rep-0001"},
    "manager": {"id": "29:manager", "name": "Max Manager", "aadObjectId": "aad-manager-0002"},
    "warehouse": {"id": "29:warehouse", "name": "Wes Warehouse", "aadObjectId": "aad-warehouse-0003"},
    "stranger": {"id": "29:stranger", "name": "Sam Stranger", "aadObjectId": "aad-stranger-0004"},
}
ROLES = {
    "rep": [PEOPLE["rep"]["aadObjectId"]],
    "manager": [PEOPLE["manager"]["aadObjectId"]],
    "warehouse": [PEOPLE["warehouse"]["aadObjectId"]],
}
SLACK = {"bot_token": "xoxb-test-1", "signing_secret": "slack-signing-secret-0123456789"}
_ids = itertools.count(1)


@pytest.fixture
async def connector() -> AsyncIterator[FakeBotConnector]:
    fake = FakeBotConnector()
    await fake.start()
    yield fake
    await fake.close()


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    fake = FakeSlack()
    await fake.start()
    yield fake
    await fake.close()


# --- activities as Teams sends them -------------------------------------------------------------------


def activity(
    connector: FakeBotConnector,
    kind: str,
    *,
    who: str = "rep",
    conversation: str = CHANNEL,
    scope: str = "channel",
    **fields: Any,
) -> dict[str, Any]:
    return {
        "type": kind,
        "id": f"f:{next(_ids)}",
        "channelId": "msteams",
        "serviceUrl": connector.service_url,
        "timestamp": "2026-11-26T09:00:00.000Z",
        "locale": "en-US",
        "from": PEOPLE[who],
        "recipient": BOT,
        "conversation": {
            "id": conversation,
            "conversationType": scope,
            "isGroup": scope != "personal",
            "tenantId": TENANT,
        },
        **fields,
    }


def install(
    connector: FakeBotConnector, conversation: str = CHANNEL, team: str = "Sales floor"
) -> dict[str, Any]:
    channel_data = {"team": {"id": conversation, "name": team}, "eventType": "teamMemberAdded"}
    return activity(
        connector,
        "conversationUpdate",
        who="manager",
        conversation=conversation,
        membersAdded=[{"id": BOT["id"]}],
        channelData={**channel_data, "tenant": {"id": TENANT}},
    )


def mention(connector: FakeBotConnector, text: str, *, who: str = "rep") -> dict[str, Any]:
    """An @mention of stockbot in a channel thread, the way Teams writes it."""
    tag = "<at>stockbot</at>"
    return activity(
        connector,
        "message",
        who=who,
        conversation=f"{CHANNEL};messageid=1764149000{next(_ids):03d}",
        text=f"{tag} {text}",
        textFormat="plain",
        entities=[{"type": "mention", "text": tag, "mentioned": BOT}],
    )


def click(
    connector: FakeBotConnector,
    verb: str,
    alert_id: Any,
    *,
    who: str = "rep",
    card_id: str = "1",
    **data: Any,
) -> dict[str, Any]:
    value = {
        "action": {"type": "Action.Execute", "verb": verb, "data": {"alert_id": alert_id, **data}},
        "trigger": "manual",
    }
    return activity(
        connector,
        "invoke",
        who=who,
        conversation=f"{CHANNEL};messageid={card_id}",
        name="adaptiveCard/action",
        replyToId=card_id,
        value=value,
        localTimezone="America/Chicago",
    )


async def send(
    harness: StockbotHarness, body: dict[str, Any], headers: dict[str, str] | None = None
) -> tuple[int, Any]:
    assert harness.http is not None
    async with harness.http.post(harness.url + "/api/messages", json=body, headers=headers) as response:
        text = await response.text()
        return response.status, json.loads(text) if text and "json" in response.content_type else text


async def clicked(harness: StockbotHarness, body: dict[str, Any]) -> dict[str, Any]:
    """The card an invoke was answered with (checked against the invoke response shape and AC 1.5)."""
    status, answer = await send(harness, body)
    assert status == 200, answer
    assert answer["statusCode"] == 200 and answer["type"] == CARD_CONTENT_TYPE, answer
    assert card_errors(answer["value"]) == []
    return answer["value"]


def replies(connector: FakeBotConnector) -> list[dict[str, Any]]:
    """What stockbot said in conversations (not cards posted by the outbox), oldest first."""
    return [r.body for r in connector.calls("post") if r.body.get("replyToId")]


def reply_text(connector: FakeBotConnector) -> str:
    return replies(connector)[-1].get("text", "")


def reply_card(connector: FakeBotConnector) -> dict[str, Any]:
    attachments = replies(connector)[-1]["attachments"]
    return next(a["content"] for a in attachments if a["contentType"] == CARD_CONTENT_TYPE)


async def audit(harness: StockbotHarness, kind: str) -> list[dict[str, Any]]:
    assert harness.runtime is not None
    query = select(audit_events).where(audit_events.c.kind == kind).order_by(audit_events.c.id)
    async with harness.runtime.engine.connect() as conn:
        return [dict(row) for row in (await conn.execute(query)).mappings().all()]


def text_of(card: dict[str, Any]) -> str:
    return json.dumps(card)


# --- the vectors ---------------------------------------------------------------------------------------


async def test_vector_activities_pass_through_the_real_request_path(
    stockbot: HarnessFactory, connector: FakeBotConnector
) -> None:
    harness = await stockbot(teams={})
    vectors = vector("botframework_activities")

    message = {**copy.deepcopy(vectors["message_activity"]), "serviceUrl": connector.service_url}
    status, _ = await send(harness, message)
    assert status == 202
    (reply,) = replies(connector)
    assert reply["conversation"]["id"] == "abcd1234" and reply["replyToId"] == message["id"]
    assert "does not know `Haircut on Saturday`" in reply["text"]

    invoke = {**copy.deepcopy(vectors["invoke_activity"]), "serviceUrl": connector.service_url}
    status, answer = await send(harness, invoke)
    assert status == 200  # an invoke is always answered in the HTTP response; the error is in its body
    assert answer["statusCode"] == 400 and answer["type"] == "application/vnd.microsoft.error"
    assert "no action 'reorder'" in answer["value"]["message"]
    assert connector.errors == []


# --- install, the card, clicks, restock ----------------------------------------------------------------


async def test_install_card_clicks_and_restock_end_to_end(
    stockbot: HarnessFactory, connector: FakeBotConnector, slack: FakeSlack
) -> None:
    harness = await stockbot(
        teams={},
        slack={**SLACK, "api_url": slack.api_url},
        channels={
            "sales_teams": {"adapter": "teams", "address": CHANNEL},
            "sales_slack": {"adapter": "slack", "address": "#sales"},
        },
        routes=[{"channels": ["sales_teams", "sales_slack"]}],
        roles=ROLES,
    )
    assert harness.runtime is not None
    engine = harness.runtime.engine

    # Installed in a team: the reference is stored, audited, and stockbot says the id and the config lines.
    status, _ = await send(harness, install(connector))
    assert status == 202
    stored = await conversations.load_reference(engine, CHANNEL)
    assert stored is not None and stored["user"]["aadObjectId"] == PEOPLE["manager"]["aadObjectId"]
    assert stored["serviceUrl"] == connector.service_url and stored["conversation"]["id"] == CHANNEL
    (row,) = await conversations.listing(engine)
    assert (row["scope"], row["name"], row["tenant_id"]) == ("team", "Sales floor", TENANT)
    welcome = reply_text(connector)
    assert f'address = "{CHANNEL}"' in welcome and "[channels.sales_floor]" in welcome
    (installed,) = await audit(harness, "teams.installed")
    assert installed["subject"] == CHANNEL and installed["actor"] == "teams:aad-manager-0002"

    # An inventory event: the outbox posts the card to Teams and to Slack.
    await harness.send(event("CAB-MK-LEGACY", 0))
    assert await harness.deliver() == 2
    (card_id,) = [a for a in connector.activity_ids(CHANNEL) if "attachments" in connector.activity(a)]
    card = connector.card(card_id)
    alert_id = card["actions"][0]["data"]["alert_id"]
    slack_channel = slack.channel_id("#sales")
    (slack_card,) = slack.posts(slack_channel)

    # A rep acknowledges from Teams: answered with the refreshed card; both cards are then updated in place.
    vectors = vector("botframework_activities")
    status, answer = await send(harness, click(connector, VERB_ACK, alert_id, card_id=card_id))
    assert status == 200 and set(answer) == set(vectors["invoke_response"]["body"])
    assert card_errors(answer["value"]) == []
    assert "Acknowledged by Rita Rep" in text_of(answer["value"])
    assert VERB_ACK not in text_of(answer["value"])
    harness.later(seconds=5)  # clicks come seconds apart; Slack allows ~1 message/s
    assert await harness.deliver() == 2
    (update,) = connector.calls("update")
    assert update.match["activityId"] == card_id
    assert "Acknowledged by Rita Rep" in text_of(connector.card(card_id))
    (slack_update,) = slack.calls("chat.update")
    assert slack_update.body["ts"] == slack_card["ts"]
    assert "Rita Rep" in json.dumps(slack.card(slack_channel, slack_card["ts"])["blocks"])

    # A rep may not escalate: the current card comes back with why, and the core audits it.
    refused = await clicked(harness, click(connector, VERB_ESCALATE, alert_id, card_id=card_id))
    assert "Not done: only manager roles may escalate" in refused["body"][0]["text"]
    assert "Acknowledged by Rita Rep" in text_of(refused)
    (denied,) = await audit(harness, "action.refused")
    assert denied["actor"] == "teams:aad-rep-0001" and denied["alert_id"] == alert_id
    harness.later(seconds=5)
    assert await harness.deliver() == 0

    # A manager may.
    escalated = await clicked(
        harness, click(connector, VERB_ESCALATE, alert_id, who="manager", card_id=card_id)
    )
    assert "Escalated to level 1 by Max Manager" in text_of(escalated)
    harness.later(seconds=5)
    assert await harness.deliver() == 2
    assert "Escalated to level 1" in text_of(connector.card(card_id))

    # Back in stock: the same Teams activity and the same Slack message show it, without buttons.
    await harness.send(event("CAB-MK-LEGACY", 5, at=harness.later(minutes=20)))
    assert await harness.deliver() == 2
    updates = connector.calls("update")
    assert [u.match["activityId"] for u in updates] == [card_id] * 3
    resolved = connector.card(card_id)
    assert "Back in stock" in text_of(resolved) and "actions" not in resolved
    assert len(connector.activity_ids(CHANNEL)) == 2  # the welcome and the one card: nothing new was posted
    assert "Back in stock" in json.dumps(slack.card(slack_channel, slack_card["ts"]))
    assert connector.errors == [] and slack.errors == []

    # A click on the resolved card: the card as it is, with why; audited.
    late = await clicked(harness, click(connector, VERB_ACK, alert_id, who="manager", card_id=card_id))
    assert "already resolved" in late["body"][0]["text"] and "actions" not in late
    assert len(await audit(harness, "action.refused")) == 2


async def test_snooze_until_tomorrow_in_the_clickers_time_zone(
    stockbot: HarnessFactory, connector: FakeBotConnector
) -> None:
    harness = await stockbot(
        teams={}, channels={"sales_teams": {"adapter": "teams", "address": CHANNEL}}, roles=ROLES
    )
    await send(harness, install(connector))
    await harness.send(event("CAB-MK-LEGACY", 0))
    await harness.deliver()
    (card_id,) = [a for a in connector.activity_ids(CHANNEL) if "attachments" in connector.activity(a)]
    alert_id = connector.card(card_id)["actions"][0]["data"]["alert_id"]

    card = await clicked(
        harness, click(connector, VERB_SNOOZE, str(alert_id), card_id=card_id, snooze="tomorrow")
    )
    # 09:00 UTC on the 26th is 03:00 in Chicago: tomorrow 9:00 there is 15:00 UTC on the 27th.
    # Shown with DATE()/TIME(), so every reader sees it in their own zone.
    assert "Snoozed until {{DATE(2026-11-27T15:00:00Z, SHORT)}} {{TIME(2026-11-27T15:00:00Z)}}" in text_of(
        card
    )

    missing = await clicked(harness, click(connector, VERB_ACK, 999, card_id=card_id))
    assert missing["body"][0]["text"] == "Not done: there is no alert #999"
    nameless = await clicked(harness, click(connector, VERB_ACK, None, card_id=card_id))
    assert "names no alert" in nameless["body"][0]["text"]
    stranger = await clicked(harness, click(connector, VERB_ACK, alert_id, who="stranger", card_id=card_id))
    assert "only manager or rep roles may acknowledge" in stranger["body"][0]["text"]
    assert connector.errors == []


async def test_personal_install_says_hello_once_and_uninstall_forgets(
    stockbot: HarnessFactory, connector: FakeBotConnector
) -> None:
    harness = await stockbot(teams={})
    assert harness.runtime is not None
    personal = "a:1Xq9-personal-chat-with-rita"
    added = activity(connector, "installationUpdate", conversation=personal, scope="personal", action="add")
    joined = activity(
        connector,
        "conversationUpdate",
        conversation=personal,
        scope="personal",
        membersAdded=[{"id": BOT["id"]}],
    )
    assert (await send(harness, added))[0] == 202
    assert (await send(harness, joined))[0] == 202
    (row,) = await conversations.listing(harness.runtime.engine)
    assert (row["conversation_id"], row["scope"], row["name"]) == (personal, "personal", "Rita Rep")
    (welcome,) = replies(connector)  # two install activities, one hello
    assert f'address = "{personal}"' in welcome["text"] and "[channels.rita_rep]" in welcome["text"]
    assert [r["detail"]["refreshed"] for r in await audit(harness, "teams.installed")] == [False, True]

    removed = activity(
        connector,
        "conversationUpdate",
        conversation=personal,
        scope="personal",
        membersRemoved=[{"id": BOT["id"]}],
    )
    uninstalled = activity(
        connector, "installationUpdate", conversation=personal, scope="personal", action="remove"
    )
    assert (await send(harness, removed))[0] == 202
    assert (await send(harness, uninstalled))[0] == 202
    assert await conversations.listing(harness.runtime.engine) == []
    (gone,) = await audit(harness, "teams.uninstalled")
    assert gone["subject"] == personal and gone["detail"]["via"] == "conversationUpdate"
    assert len(replies(connector)) == 1  # nothing is said on the way out
    # Someone joining a team is not about stockbot.
    other = activity(connector, "conversationUpdate", membersAdded=[{"id": "29:someone-new"}])
    assert (await send(harness, other))[0] == 202
    assert await conversations.listing(harness.runtime.engine) == []


# --- commands ------------------------------------------------------------------------------------------


async def test_stock_command_answers_with_a_card(
    stockbot: HarnessFactory, connector: FakeBotConnector
) -> None:
    harness = await stockbot(teams={}, roles=ROLES)
    await harness.send(event("CAB-MK-LEGACY", 0))

    assert (await send(harness, mention(connector, "stock pacman")))[0] == 202
    # A mention in a channel thread stores the channel (not the thread) it came from.
    assert harness.runtime is not None
    (row,) = await conversations.listing(harness.runtime.engine)
    assert (row["conversation_id"], row["scope"]) == (CHANNEL, "channel")
    stored = await conversations.load_reference(harness.runtime.engine, CHANNEL)
    assert stored is not None and stored["conversation"]["id"] == CHANNEL
    card = reply_card(connector)
    assert card_errors(card) == []
    assert "Pac-Man upright cabinet" in text_of(card) and "CAB-PACMAN-UP" in text_of(card)
    assert "**Chicago DC**: 7 on hand / minimum 2" in text_of(card)

    await send(harness, mention(connector, "stock cab-mk-legacy"))
    card = reply_card(connector)
    assert card_errors(card) == []
    assert "Out of stock" in text_of(
        card
    ) and "Alert #1 open since {{DATE(2026-11-26T09:00:00Z, SHORT)}}" in text_of(card)
    assert card["fallbackText"].endswith("short at Chicago DC")

    await send(harness, mention(connector, "stock cab"))  # more than five match
    assert "More products match; showing the first 5" in text_of(reply_card(connector))

    await send(harness, mention(connector, "stock unobtainium"))
    assert "No product matches `unobtainium`" in reply_text(connector)
    assert connector.errors == []


async def test_oos_command_follows_the_role_rules(
    stockbot: HarnessFactory, connector: FakeBotConnector
) -> None:
    harness = await stockbot(teams={}, roles=ROLES)

    await send(harness, mention(connector, "oos CAB-PACMAN-UP Chicago DC", who="rep"))
    assert reply_text(connector) == (
        "Could not flag stock: only warehouse roles may flag; "
        "ask an admin to add you to [roles] in stockbot.toml"
    )
    assert len(await audit(harness, "action.refused")) == 1

    # Any case for the SKU; a location with a space, matched ignoring case; the rest is the reason.
    await send(
        harness, mention(connector, "oos cab-pacman-up chicago dc fell off the forklift", who="warehouse")
    )
    assert reply_text(connector).startswith(
        "Flagged **Pac-Man upright cabinet** (CAB-PACMAN-UP) at **Chicago DC** out of stock: alert #1"
    )
    assert "Reason: fell off the forklift." in reply_text(connector)
    (opened,) = await audit(harness, "alert.opened")
    assert opened["actor"] == "teams:aad-warehouse-0003" and opened["subject"] == "CAB-PACMAN-UP@Chicago DC"

    await send(harness, mention(connector, "oos CAB-PACMAN-UP crate damaged", who="warehouse"))
    assert "stocked at Chicago DC, Las Vegas Showroom: say which location" in reply_text(connector)
    await send(harness, mention(connector, "oos NOPE-123", who="warehouse"))
    assert "no product with SKU 'NOPE-123'" in reply_text(connector)
    assert connector.errors == []


async def test_help_and_unknown_text_in_a_personal_chat(
    stockbot: HarnessFactory, connector: FakeBotConnector
) -> None:
    harness = await stockbot(teams={})
    assert harness.runtime is not None
    personal = "a:1Xq9-personal-chat-with-sam"

    def say(text: str) -> dict[str, Any]:
        return activity(
            connector, "message", who="stranger", conversation=personal, scope="personal", text=text
        )

    await send(harness, say("help"))
    text = reply_text(connector)
    assert "`stock CAB-PACMAN-UP`" in text and "`oos CAB-PACMAN-UP" in text
    assert f"This conversation's id is `{personal}`" in text
    # A personal chat that wrote before stockbot saw it installed is stored on the first message.
    (row,) = await conversations.listing(harness.runtime.engine)
    assert (row["conversation_id"], row["scope"]) == (personal, "personal")
    (stored,) = await audit(harness, "teams.installed")
    assert stored["detail"]["via"] == "message"

    await send(harness, say("what is the stock of pacman?"))
    assert reply_text(connector).startswith("stockbot does not know `what is the stock of pacman?`")
    await send(harness, say("<at>stockbot</at>"))  # a mention alone is a request for help
    assert "`stock CAB-PACMAN-UP`" in reply_text(connector)
    await send(harness, say("stock"))
    assert "`stock CAB-PACMAN-UP`" in reply_text(connector)
    assert len(await audit(harness, "teams.installed")) == 1
    assert connector.errors == []


async def test_answers_are_in_the_language_of_the_persons_teams_client(
    stockbot: HarnessFactory, connector: FakeBotConnector
) -> None:
    harness = await stockbot(teams={})
    personal = "a:1Xq9-personal-chat-with-sam"

    def say(text: str, locale: str) -> dict[str, Any]:
        return activity(
            connector, "message", who="stranger", conversation=personal, scope="personal", text=text,
            locale=locale,
        )  # fmt: skip

    await send(harness, say("help", "es-MX"))
    assert reply_text(connector).startswith("**stockbot** le avisa cuando se agotan existencias clave.")
    await send(harness, say("stock zzzz", "es-MX"))
    assert reply_text(connector).startswith("Ningún producto coincide con `zzzz`.")
    await send(harness, say("help", "fr-FR"))  # no French catalog: English
    assert reply_text(connector).startswith("**stockbot** tells you when key stock runs out.")
    assert connector.errors == []


async def test_a_failed_turn_apologises_without_the_error(
    stockbot: HarnessFactory, connector: FakeBotConnector, caplog: pytest.LogCaptureFixture
) -> None:
    harness = await stockbot(teams={})
    connector.fail_next(502, "upstream broke: secret detail", operation="post")
    with caplog.at_level(logging.ERROR, logger="stockbot.teams"):
        status, _ = await send(harness, mention(connector, "help"))
    assert status == 202
    failed, apology = connector.calls("post")
    assert "This conversation's id" in failed.body["text"]
    assert (
        apology.body["text"]
        == "Sorry, stockbot could not finish that. The error is logged; please try again."
    )
    assert any("message from teams:aad-rep-0001 failed" in r.getMessage() for r in caplog.records)


async def test_what_is_not_an_activity_is_refused(
    stockbot: HarnessFactory, connector: FakeBotConnector
) -> None:
    harness = await stockbot(teams={})
    assert harness.http is not None
    url = harness.url + "/api/messages"
    async with harness.http.post(url, data=b"{not json", headers={"Content-Type": "application/json"}) as r:
        assert r.status == 400
    status, _ = await send(harness, {"type": "message", "text": "stock pacman"})  # no conversation
    assert status == 400
    status, body = await send(harness, {**mention(connector, "help"), "from": "not an account"})
    assert status == 400 and "not a Bot Framework activity (from" in body["detail"]
    assert connector.requests == []


# --- production mode -----------------------------------------------------------------------------------


async def test_production_mode_refuses_requests_without_a_valid_token(
    stockbot: HarnessFactory, connector: FakeBotConnector
) -> None:
    harness = await stockbot(
        teams={"app_id": APP_ID, "app_password": "client-secret-value", "tenant_id": TENANT}
    )
    for headers in (None, {"Authorization": "Bearer not-a-jwt"}, {"Authorization": "Basic dXNlcjpwYXNz"}):
        status, body = await send(harness, mention(connector, "stock pacman"), headers)
        assert status == 401, body
    rows = await audit(harness, "request.refused")
    assert [r["actor"] for r in rows] == ["teams:?"] * 3
    assert rows[0]["subject"] == "/api/messages"
    assert rows[0]["detail"]["reason"].startswith("no Authorization header")
    assert rows[1]["detail"]["reason"].startswith("invalid, expired or foreign")
    assert connector.requests == []  # nothing was answered, nothing was stored
    assert harness.runtime is not None and await conversations.listing(harness.runtime.engine) == []
    # The other routes keep their own checks: the Teams token check is not applied to them.
    status, _ = await harness.post("/events/inventory", event("CAB-PACMAN-UP", 3))
    assert status == 202


async def test_anonymous_mode_warns_at_start_up(
    stockbot: HarnessFactory, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="stockbot.teams"):
        await stockbot(teams={})
    assert any("ANONYMOUS" in r.getMessage() for r in caplog.records if r.name == "stockbot.teams")


async def test_no_teams_section_no_route(stockbot: HarnessFactory, connector: FakeBotConnector) -> None:
    harness = await stockbot()
    status, _ = await send(harness, mention(connector, "help"))
    assert status in (404, 405)


# --- stockbot teams (CLI) -------------------------------------------------------------------------------


TEAMS_SECTION = f'[teams]\napp_id = "{APP_ID}"\napp_password = "s"\n'


def _config(tmp_path: Path, extra: str = "") -> Path:
    path = tmp_path / "stockbot.toml"
    path.write_text(f'[storage]\nurl = "sqlite:///{tmp_path / "teams.db"}"\n{extra}')
    return path


def test_cli_package_fills_in_app_id_and_host(tmp_path: Path) -> None:
    runner = CliRunner()
    teams = f'[teams]\napp_id = "{APP_ID.upper()}"\napp_password = "secret-value"\n'
    config = _config(tmp_path, f'[server]\npublic_url = "https://stockbot.example.com/"\n{teams}')
    result = runner.invoke(teams_app, ["package", "-c", str(config), "--output", str(tmp_path)])
    assert result.exit_code == 0, result.output
    with zipfile.ZipFile(tmp_path / "stockbot-teams.zip") as archive:
        manifest = json.loads(archive.read("manifest.json"))
    assert manifest["id"] == APP_ID and manifest["bots"][0]["botId"] == APP_ID
    assert manifest["validDomains"] == ["stockbot.example.com"]

    other = runner.invoke(
        teams_app, ["package", "-c", str(config), "-o", str(tmp_path / "x.zip"), "--host", "bot.example.org"]
    )
    assert other.exit_code == 0, other.output
    with zipfile.ZipFile(tmp_path / "x.zip") as archive:
        assert json.loads(archive.read("manifest.json"))["validDomains"] == ["bot.example.org"]


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ("", "no [teams] section"),
        ("[teams]\n", "[teams] app_id is not set"),
        (TEAMS_SECTION, "no host for the package"),
        (
            f'[server]\npublic_url = "https://localhost:8443"\n{TEAMS_SECTION}',
            "not a public host name",
        ),
        (
            '[server]\npublic_url = "https://a.example.com"\n'
            '[teams]\napp_id = "not-a-guid"\napp_password = "s"\n',
            "is not a GUID",
        ),
    ],
)
def test_cli_package_says_what_is_missing(tmp_path: Path, extra: str, expected: str) -> None:
    result = CliRunner().invoke(teams_app, ["package", "-c", str(_config(tmp_path, extra))])
    assert result.exit_code == 2
    assert expected in result.output


def test_cli_conversations_lists_ids_and_config_lines(tmp_path: Path) -> None:
    config = _config(tmp_path, f'[teams]\n[channels.floor]\nadapter = "teams"\naddress = "{CHANNEL}"\n')
    runner = CliRunner()
    empty = runner.invoke(teams_app, ["conversations", "-c", str(config)])
    assert empty.exit_code == 0 and "not installed in any Teams conversation yet" in empty.output

    async def store() -> None:
        engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'teams.db'}")
        await upgrade(engine)
        connector_url = "https://smba.trafficmanager.net/amer/"
        for conversation_id, scope, name in (
            (CHANNEL, "team", "Sales floor"),
            ("19:chat@thread.v2", "groupChat", None),
        ):
            reference = {
                "user": PEOPLE["manager"],
                "bot": BOT,
                "conversation": {"id": conversation_id},
                "channelId": "msteams",
                "serviceUrl": connector_url,
            }
            await conversations.save_reference(engine, reference, scope, name, TENANT, T0)
        await engine.dispose()

    asyncio.run(store())
    result = runner.invoke(teams_app, ["conversations", "-c", str(config)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == CHANNEL
    assert lines[1] == "  scope team · name Sales floor · installed 2026-11-26 09:00 UTC"
    assert lines[2] == "  configured as [channels.floor]"
    assert lines[3] == "19:chat@thread.v2"
    assert "[channels.teams_groupchat]" in result.output
    assert 'address = "19:chat@thread.v2"' in result.output


async def test_a_digest_card_acknowledges_all_its_alerts(
    stockbot: HarnessFactory, connector: FakeBotConnector
) -> None:
    harness = await stockbot(
        teams={},
        channels={"sales_teams": {"adapter": "teams", "address": CHANNEL}},
        routes=[{"channels": ["sales_teams"], "digest": "15m"}],
        roles=ROLES,
    )
    await send(harness, install(connector))
    for sku in ("CAB-DK-JR", "CAB-CENTIPEDE"):
        await harness.send(event(sku, 1, event_id=f"digest-{sku}"))
    harness.later(minutes=15)
    await harness.deliver()
    (card_id,) = [a for a in connector.activity_ids(CHANNEL) if "attachments" in connector.activity(a)]
    card = connector.card(card_id)
    (action,) = card["actions"]
    assert (action["verb"], action["title"]) == ("stockbot.ack_all", "Acknowledge all 2")
    body = click(connector, "stockbot.ack_all", None, card_id=card_id)
    body["value"]["action"]["data"] = action["data"]
    answer = await clicked(harness, body)
    assert "Acknowledged 2 alerts by Rita Rep." in text_of(answer)  # a plural form, not "alert(s)"
    assert len(await audit(harness, "alert.acknowledged")) == 2


async def test_stock_says_unknown_for_a_level_nobody_reported(
    stockbot: HarnessFactory, connector: FakeBotConnector
) -> None:
    harness = await stockbot(teams={})
    await harness.import_catalog(
        "sku,name,category,key_product,location,minimum\nCAB-GALAGA,Galaga cabinet,cabinet,no,Chicago DC,1\n"
    )
    await send(harness, mention(connector, "stock CAB-GALAGA"))
    card = reply_card(connector)
    assert card_errors(card) == []
    assert "**Chicago DC**: level unknown / minimum 1 · Unknown" in json.dumps(card, ensure_ascii=False)
    assert "In stock" not in text_of(card)
    assert card["fallbackText"] == "Galaga cabinet (CAB-GALAGA): level unknown at Chicago DC"


async def test_the_card_says_recovering_and_who_flagged(
    stockbot: HarnessFactory, connector: FakeBotConnector
) -> None:
    harness = await stockbot(
        teams={},
        channels={"sales_teams": {"adapter": "teams", "address": CHANNEL}},
        roles=ROLES,
        alerts={"resolve_buffer": 1},
    )
    await send(harness, install(connector))
    await harness.send(event("CAB-MK-LEGACY", 0))
    await harness.deliver()
    (card_id,) = [a for a in connector.activity_ids(CHANNEL) if "attachments" in connector.activity(a)]
    await harness.send(event("CAB-MK-LEGACY", 2, at=harness.later(minutes=1)))
    await harness.deliver()
    card = connector.card(card_id)
    assert card_errors(card) == []
    assert card["body"][0]["items"][0]["text"].startswith("Recovering (was out of stock): Mortal Kombat")
    assert "2 on hand, recovering: resolves above 2 (minimum 1)" in text_of(card)

    await send(harness, mention(connector, "oos CAB-MK-LEGACY Las Vegas Showroom wet", who="warehouse"))
    harness.later(seconds=5)
    await harness.deliver()
    flagged = connector.card(connector.activity_ids(CHANNEL)[-1])
    assert "flagged out of stock by Wes Warehouse although the system shows 5 on hand" in text_of(flagged)
    assert connector.errors == []


async def test_a_worse_severity_is_a_reply_under_the_card_or_a_new_chat_message(
    stockbot: HarnessFactory, connector: FakeBotConnector
) -> None:
    chat = "19:buyers-chat@thread.v2"
    harness = await stockbot(
        teams={},
        channels={
            "sales_teams": {"adapter": "teams", "address": CHANNEL},
            "buyers_chat": {"adapter": "teams", "address": chat},
        },
        routes=[{"channels": ["sales_teams", "buyers_chat"]}],
    )
    await send(harness, install(connector))
    group = activity(connector, "installationUpdate", conversation=chat, scope="groupChat", action="add")
    await send(harness, group)
    await harness.send(event("CAB-MK-LEGACY", 1))  # low
    await harness.deliver()
    (card_id,) = [a for a in connector.activity_ids(CHANNEL) if "attachments" in connector.activity(a)]
    (chat_card,) = [a for a in connector.activity_ids(chat) if "attachments" in connector.activity(a)]
    await harness.send(event("CAB-MK-LEGACY", 0, at=harness.later(minutes=5)))  # out
    await harness.deliver()
    news = "**Worse: now Out of stock, 0 on hand / minimum 1 (was Low stock)**"
    # In a channel: a reply in the card's thread.
    (reply,) = connector.activity_ids(f"{CHANNEL};messageid={card_id}")
    assert connector.activity(reply)["text"] == news
    assert "Out of stock" in text_of(connector.card(card_id))  # and the card itself updated in place
    # In a group chat (no threads): a new message after the card.
    posted = [connector.activity(a) for a in connector.activity_ids(chat)]
    assert [p.get("text") for p in posted if "attachments" not in p][-1] == news
    assert "Out of stock" in text_of(connector.card(chat_card))
    assert connector.errors == []


async def test_managers_resolve_from_the_card_with_a_reason_and_oos_clear_takes_a_flag_back(
    stockbot: HarnessFactory, connector: FakeBotConnector
) -> None:
    # No grouping: the card goes at once, so the test clock (and "after 0 s") stays where the alert opened.
    channel = {"adapter": "teams", "address": CHANNEL, "group_wait": "0s", "group_interval": "0s"}
    harness = await stockbot(teams={}, channels={"sales_teams": channel}, roles=ROLES)
    await send(harness, install(connector))
    await harness.send(event("CAB-MK-LEGACY", 0))
    await harness.deliver()
    (card_id,) = [a for a in connector.activity_ids(CHANNEL) if "attachments" in connector.activity(a)]
    card = connector.card(card_id)
    (resolve,) = [a for a in card["actions"] if a["title"] == "Resolve"]
    (button,) = resolve["card"]["actions"]
    assert button["verb"] == "stockbot.resolve"
    alert_id = button["data"]["alert_id"]

    refused = await clicked(harness, click(connector, "stockbot.resolve", alert_id, card_id=card_id))
    assert "Not done: only manager roles may resolve" in refused["body"][0]["text"]
    # Teams merges the reason typed into the card's input with the action's data.
    answer = await clicked(
        harness,
        click(
            connector, "stockbot.resolve", alert_id, who="manager", card_id=card_id, reason="counted twice"
        ),
    )
    assert "Resolved by Max Manager after 0 s: counted twice" in text_of(answer)
    assert "actions" not in answer and "Back in stock" not in text_of(answer)
    (row,) = await audit(harness, "alert.resolved")
    assert (row["actor"], row["detail"]["reason"]) == ("teams:aad-manager-0002", "counted twice")
    harness.later(seconds=5)
    await harness.deliver()
    assert "Resolved by hand: Mortal Kombat" in text_of(connector.card(card_id))

    await send(harness, mention(connector, "oos CAB-MK-LEGACY Las Vegas Showroom wet", who="warehouse"))
    await send(
        harness,
        mention(connector, "oos clear cab-mk-legacy LAS VEGAS SHOWROOM dry after all", who="warehouse"),
    )
    assert reply_text(connector) == (
        "Cleared the flag on **Mortal Kombat Legacy Kit cabinet** (CAB-MK-LEGACY) at **Las Vegas Showroom**: "
        "alert #2 is resolved (5 on hand / minimum 1)."
    )
    await send(harness, mention(connector, "oos clear CAB-MK-LEGACY Las Vegas Showroom", who="rep"))
    assert reply_text(connector).startswith("Could not clear the flag: only warehouse roles may clear")
    assert connector.errors == []


async def test_every_stock_lookup_is_audited(stockbot: HarnessFactory, connector: FakeBotConnector) -> None:
    harness = await stockbot(teams={})
    await send(harness, mention(connector, "stock cab-mk-legacy"))
    await send(harness, mention(connector, "stock unobtainium", who="manager"))
    await send(harness, mention(connector, "stock"))  # help, not a lookup
    rows = await audit(harness, "stock.lookup")
    assert [(r["actor"], r["subject"], r["detail"]["results"]) for r in rows] == [
        ("teams:aad-rep-0001", "cab-mk-legacy", 1),
        ("teams:aad-manager-0002", "unobtainium", 0),
    ]
