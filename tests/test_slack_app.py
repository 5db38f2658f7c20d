"""The Slack front end over HTTP on 127.0.0.1, on both databases, against FakeSlack.

Requests are signed like Slack signs them (slack_sdk's ``SignatureVerifier``) with the harness clock's time,
which is the clock stockbot verifies against. Work happens after ``ack()``, so tests wait for it with
``SlackFrontEnd.settle()`` instead of sleeping.
"""

from __future__ import annotations

import asyncio
import copy
import json
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode

import pytest
from aiohttp import WSMsgType, web
from aiohttp.test_utils import TestServer
from slack_sdk.signature import SignatureVerifier
from sqlalchemy import select

from stockbot.adapters.render.slack import (
    ACK_ACTION_ID,
    ACTIONS_BLOCK_ID,
    ESCALATE_ACTION_ID,
    RESOLVE_ACTION_ID,
    SNOOZE_ACTION_ID,
)
from stockbot.handlers.slack import EXTRA_KEY, SlackFrontEnd
from stockbot.storage.deliveries import counts
from stockbot.storage.tables import alerts, audit_events
from tests.conftest import HarnessFactory
from tests.fakes import slack_api
from tests.fakes.shared import vector
from tests.fakes.slack_api import TEAM_ID, FakeSlack
from tests.helpers import StockbotHarness, event

fake_slack = slack_api.fake_slack  # the fixture

SECRET = "slack-signing-secret-0123456789abcdef"
BOT_TOKEN = "xoxb-test-1234567890-slackfrontend"
APP_TOKEN = "xapp-1-A0STOCK-1234567890-sockets"
SALES, MANAGERS = "C0SALES", "C0MANAGERS"
REP, BOSS, WAREHOUSE, STRANGER = "U0REP", "U0BOSS", "U0WAREHOUSE", "U0STRANGER"
MANAGER_GROUP = "S0MANAGERS"
SKU = "CAB-MK-LEGACY"  # not a key product, no critical level: a shortage is "out", not critical
TIMEZONE = "America/Chicago"
# Who clicks, as the block_actions vector names its user (the tests change only the id).
CLICKER = "Amy McGee"


def slack_overrides(fake: FakeSlack, **slack: Any) -> dict[str, Any]:
    return {
        "slack": {
            "bot_token": BOT_TOKEN,
            "signing_secret": SECRET,
            "api_url": fake.api_url,
            "workspace_timezone": TIMEZONE,
            "min_seconds_between_posts": 0,
            **slack,
        },
        "channels": {
            "sales": {"adapter": "slack", "address": SALES},
            "managers": {"adapter": "slack", "address": MANAGERS},
        },
        "routes": [{"channels": ["sales"], "escalate_to": ["managers"], "escalate_after": "15m"}],
        "roles": {"rep": [REP], "manager": [MANAGER_GROUP], "warehouse": [WAREHOUSE]},
    }


@pytest.fixture
async def slack(stockbot: HarnessFactory, fake_slack: FakeSlack) -> StockbotHarness:
    fake_slack.usergroups[MANAGER_GROUP] = [BOSS]
    return await stockbot(**slack_overrides(fake_slack))


def front(harness: StockbotHarness) -> SlackFrontEnd:
    assert harness.runtime is not None
    found = harness.runtime.extras[EXTRA_KEY]
    assert isinstance(found, SlackFrontEnd)
    return found


# --- requests as Slack sends them ------------------------------------------------------------------------


def signed(
    harness: StockbotHarness, body: bytes, *, secret: str = SECRET, at: datetime | None = None
) -> dict[str, str]:
    timestamp = str(int((at or harness.clock.now()).timestamp()))
    return {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": SignatureVerifier(secret).generate_signature(timestamp=timestamp, body=body)
        or "",
    }


async def post(harness: StockbotHarness, body: bytes, headers: dict[str, str]) -> tuple[int, str, Any]:
    assert harness.http is not None
    async with harness.http.post(harness.url + "/slack/events", data=body, headers=headers) as response:
        return response.status, await response.text(), response.headers


def command(fake: FakeSlack, name: str, text: str, *, user: str, channel: str = SALES) -> bytes:
    """Slack's published slash-command example, with our command, text, user and channel."""
    fields = dict(vector("slack_slash_command")["parsed"])
    fields.update(
        command=name,
        text=text,
        user_id=user,
        channel_id=channel,
        team_id=TEAM_ID,
        response_url=fake.response_url(),
    )
    return urlencode(fields).encode()


def click(fake: FakeSlack, action: dict[str, Any], *, user: str, ts: str, channel: str = SALES) -> bytes:
    """The block_actions vector, clicked by ``user`` on our card at ``channel``/``ts``."""
    payload = copy.deepcopy(vector("slack_block_actions")["payload"])
    payload["user"].update(id=user, team_id=TEAM_ID)
    payload["team"]["id"] = TEAM_ID
    payload["channel"]["id"] = channel
    payload["container"].update(channel_id=channel, message_ts=ts)
    payload["message"]["ts"] = ts
    payload["response_url"] = fake.response_url()
    payload["actions"] = [{**action, "block_id": ACTIONS_BLOCK_ID, "action_ts": "1764148000.000100"}]
    return urlencode({"payload": json.dumps(payload)}).encode()


def card_action(card: dict[str, Any], action_id: str, option: str | None = None) -> dict[str, Any]:
    """The element the user clicks, as Slack reports it in ``actions``."""
    (actions,) = [b for b in card["blocks"] if b["type"] == "actions"]
    element = next(e for e in actions["elements"] if e["action_id"] == action_id)
    if element["type"] == "static_select":
        chosen = next(o for o in element["options"] if o["value"].endswith(f":{option}"))
        return {"type": "static_select", "action_id": action_id, "selected_option": chosen}
    return {k: element[k] for k in ("type", "action_id", "text", "value")}


async def send_command(
    harness: StockbotHarness, fake: FakeSlack, name: str, text: str, user: str
) -> dict[str, Any]:
    """Post a signed command, wait for the work after ack, and return the ephemeral answer."""
    before = len(fake.ephemeral)
    status, body, _ = await post(harness, raw := command(fake, name, text, user=user), signed(harness, raw))
    assert status == 200, body
    await front(harness).settle(5)
    assert len(fake.ephemeral) == before + 1, fake.ephemeral
    answer = fake.ephemeral[-1]
    assert answer["user"] == user and answer["channel"] == SALES
    return answer


async def send_click(
    harness: StockbotHarness, fake: FakeSlack, action: dict[str, Any], user: str, ts: str
) -> dict[str, Any]:
    before = len(fake.ephemeral)
    raw = click(fake, action, user=user, ts=ts)
    status, body, _ = await post(harness, raw, signed(harness, raw))
    assert status == 200, body
    await front(harness).settle(5)
    assert len(fake.ephemeral) == before + 1, fake.ephemeral
    return fake.ephemeral[-1]


def answer_text(answer: dict[str, Any]) -> str:
    parts = [answer.get("text", "")]
    for block in answer["blocks"]:
        if "text" in block:
            parts.append(block["text"]["text"])
        parts += [e.get("text", "") for e in block.get("elements", [])]
    return "\n".join(parts)


def card_text(card: dict[str, Any]) -> str:
    return json.dumps(card["blocks"])


async def deliver(harness: StockbotHarness) -> None:
    """Deliver everything queued. Posts to one Slack channel are paced (about one a second), so the test
    clock moves a second at a time until nothing is pending."""
    assert harness.runtime is not None
    for _ in range(30):
        await harness.deliver()
        async with harness.runtime.engine.connect() as conn:
            if not (await counts(conn)).get("pending"):
                return
        harness.later(seconds=1)
    raise AssertionError("deliveries still pending after 30 s of test time")


async def open_alert(harness: StockbotHarness, fake: FakeSlack) -> tuple[dict[str, Any], str]:
    await harness.send(event(SKU, 0))
    await deliver(harness)
    (card,) = fake.posts(SALES)
    return card, card["ts"]


async def alert_row(harness: StockbotHarness) -> Any:
    assert harness.runtime is not None
    async with harness.runtime.engine.connect() as conn:
        return (await conn.execute(select(alerts).where(alerts.c.sku == SKU))).mappings().one()


async def audit(harness: StockbotHarness, kind: str) -> list[Any]:
    assert harness.runtime is not None
    async with harness.runtime.engine.connect() as conn:
        query = select(audit_events).where(audit_events.c.kind == kind).order_by(audit_events.c.id)
        return list((await conn.execute(query)).mappings().all())


# --- end to end -----------------------------------------------------------------------------------------


async def test_card_acknowledge_escalate_and_restock(slack: StockbotHarness, fake_slack: FakeSlack) -> None:
    card, ts = await open_alert(slack, fake_slack)
    assert [e["action_id"] for b in card["blocks"] if b["type"] == "actions" for e in b["elements"]] == [
        ACK_ACTION_ID,
        ESCALATE_ACTION_ID,
        SNOOZE_ACTION_ID,
        RESOLVE_ACTION_ID,
    ]

    answer = await send_click(slack, fake_slack, card_action(card, ACK_ACTION_ID), REP, ts)
    assert "You acknowledged alert" in answer_text(answer)
    assert (await alert_row(slack))["acknowledged_by"] == CLICKER  # a name every platform can show
    await deliver(slack)
    card = fake_slack.card(SALES, ts)
    assert f"Acknowledged by {CLICKER}" in card_text(card)
    assert ACK_ACTION_ID not in card_text(card)  # acknowledged cards lose the button

    refused = await send_click(slack, fake_slack, card_action(card, ESCALATE_ACTION_ID), REP, ts)
    assert "only manager roles may escalate" in answer_text(refused)
    (denied,) = await audit(slack, "action.refused")
    assert denied["actor"] == f"slack:{REP}" and denied["detail"]["action"] == "escalate"
    assert (await alert_row(slack))["escalation_step"] == 0

    escalated = await send_click(slack, fake_slack, card_action(card, ESCALATE_ACTION_ID), BOSS, ts)
    assert f"to level 1 (<#{MANAGERS}>)" in answer_text(escalated)
    await deliver(slack)
    assert f"Escalated to level 1 by {CLICKER}" in card_text(fake_slack.card(SALES, ts))
    assert len(fake_slack.posts(MANAGERS)) == 1  # the escalation step's channel got the card

    await slack.send(event(SKU, 6, at=slack.later(hours=2)))  # an event may not be ahead of the clock
    await deliver(slack)
    card = fake_slack.card(SALES, ts)
    assert "Back in stock" in card["text"]
    assert not [b for b in card["blocks"] if b["type"] == "actions"]
    assert (await alert_row(slack))["state"] == "resolved"
    assert fake_slack.errors == []


async def test_snooze_until_tomorrow_in_the_workspace_time_zone(
    slack: StockbotHarness, fake_slack: FakeSlack
) -> None:
    card, ts = await open_alert(slack, fake_slack)
    answer = await send_click(slack, fake_slack, card_action(card, SNOOZE_ACTION_ID, "tomorrow"), REP, ts)
    assert "You snoozed alert" in answer_text(answer)
    # T0 is 09:00 UTC = 03:00 in Chicago; tomorrow 9:00 there is 15:00 UTC (CST, UTC-6).
    assert (await alert_row(slack))["snoozed_until"] == datetime(2026, 11, 27, 15, 0, tzinfo=UTC)
    stranger = await send_click(slack, fake_slack, card_action(card, SNOOZE_ACTION_ID, "1h"), STRANGER, ts)
    assert "only manager or rep roles may snooze" in answer_text(stranger)


async def test_clicks_on_a_resolved_or_unknown_alert_are_explained(
    slack: StockbotHarness, fake_slack: FakeSlack
) -> None:
    card, ts = await open_alert(slack, fake_slack)
    await slack.send(event(SKU, 6, at=slack.later(hours=1)))
    answer = await send_click(slack, fake_slack, card_action(card, ACK_ACTION_ID), REP, ts)
    assert "already resolved" in answer_text(answer)
    missing = {**card_action(card, ACK_ACTION_ID), "value": "999999"}
    answer = await send_click(slack, fake_slack, missing, REP, ts)
    assert "there is no alert #999999" in answer_text(answer)
    unreadable = {**card_action(card, ACK_ACTION_ID), "value": "not-an-id"}
    answer = await send_click(slack, fake_slack, unreadable, REP, ts)
    assert "names no alert" in answer_text(answer)
    # Each refusal is audited by the core, as Teams' are.
    refused = await audit(slack, "action.refused")
    assert [r.detail["reason"] for r in refused] == [
        "alert #1 is already resolved (back in stock); nothing to acknowledge",
        "there is no alert #999999",
        "this button names no alert ('not-an-id'); use the buttons on a stockbot card",
    ]
    assert {r.actor for r in refused} == {f"slack:{REP}"}


# --- verification, retries ------------------------------------------------------------------------------


async def test_bad_signature_is_refused_audited_and_has_no_effect(
    slack: StockbotHarness, fake_slack: FakeSlack
) -> None:
    raw = command(fake_slack, "/stock", SKU, user=REP)
    headers = signed(slack, raw, secret="not-the-signing-secret-0123456789")
    status, body, _ = await post(slack, raw, headers)
    assert status == 401 and "does not match" in body
    (row,) = await audit(slack, "request.refused")
    assert row["actor"] == "slack:?" and row["subject"] == "/slack/events"
    assert "does not match" in row["detail"]["reason"]
    assert fake_slack.requests == []  # not even Bolt's auth.test: nothing passed the check

    status, _, _ = await post(slack, raw, {"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 401
    status, _, _ = await post(slack, raw + b"&text=other", signed(slack, raw))  # body changed after signing
    assert status == 401
    async with slack.http.get(slack.url + "/metrics") as response:  # type: ignore[union-attr]
        metrics = await response.text()
    assert re.search(
        r'stockbot_requests_refused_total\{front_end="slack",reason="signature"\} [1-9]', metrics
    )
    assert len(await audit(slack, "request.refused")) == 3


async def test_stale_timestamp_is_refused(slack: StockbotHarness, fake_slack: FakeSlack) -> None:
    raw = command(fake_slack, "/stock", SKU, user=REP)
    status, body, _ = await post(slack, raw, signed(slack, raw, at=slack.clock.now() - timedelta(minutes=6)))
    assert status == 401 and "stale" in body
    status, _, _ = await post(slack, raw, signed(slack, raw, at=slack.clock.now() + timedelta(minutes=6)))
    assert status == 401
    status, _, _ = await post(slack, raw, signed(slack, raw, at=slack.clock.now() - timedelta(minutes=4)))
    assert status == 200
    assert [r["detail"]["reason"][:5] for r in await audit(slack, "request.refused")] == ["stale", "stale"]


async def test_a_retried_request_is_not_applied_twice(slack: StockbotHarness, fake_slack: FakeSlack) -> None:
    card, ts = await open_alert(slack, fake_slack)
    raw = click(fake_slack, card_action(card, ESCALATE_ACTION_ID), user=BOSS, ts=ts)
    status, _, _ = await post(slack, raw, signed(slack, raw))
    assert status == 200
    for attempt in ("1", "2"):
        headers = {**signed(slack, raw), "X-Slack-Retry-Num": attempt, "X-Slack-Retry-Reason": "http_timeout"}
        status, _, response_headers = await post(slack, raw, headers)
        assert status == 200
        assert response_headers["X-Slack-No-Retry"] == "1"
    await front(slack).settle(5)
    assert (await alert_row(slack))["escalation_step"] == 1
    assert len(await audit(slack, "alert.escalated")) == 1
    assert len(fake_slack.ephemeral) == 1

    forged = {**signed(slack, raw, secret="forged-secret-0123456789abcdef"), "X-Slack-Retry-Num": "1"}
    status, _, _ = await post(slack, raw, forged)
    assert status == 401  # retries are verified like any request


# --- the shared vectors through the real request path ----------------------------------------------------


async def test_slack_signing_vector_is_accepted(stockbot: HarnessFactory, fake_slack: FakeSlack) -> None:
    case = vector("slack_request_signing")
    harness = await stockbot(**slack_overrides(fake_slack, signing_secret=case["signing_secret"]))
    sent_at = int(case["headers"]["X-Slack-Request-Timestamp"])
    harness.clock.set(datetime.fromtimestamp(sent_at + 30, UTC))
    raw = case["raw_body"].encode()
    headers = {"Content-Type": "application/x-www-form-urlencoded", **case["headers"]}
    assert headers["X-Slack-Signature"] == case["expected_signature"]

    status, body, _ = await post(harness, raw, headers)
    assert status == 200, body
    await front(harness).settle(5)
    (answer,) = fake_slack.ephemeral  # /webhook-collect is not ours: a short pointer to /stock and /oos
    assert answer["user"] == "U2CERLKJA" and answer["channel"] == "G8PSS9T3V"
    assert "`/webhook-collect`" in answer_text(answer)

    harness.clock.set(datetime.fromtimestamp(sent_at + 301, UTC))
    status, _, _ = await post(harness, raw, headers)
    assert status == 401  # the same request, replayed after the 5-minute window


async def test_slash_command_vector_resigned(slack: StockbotHarness, fake_slack: FakeSlack) -> None:
    case = vector("slack_slash_command")
    fields = dict(parse_qsl(case["raw_body"], keep_blank_values=True))
    assert fields == case["parsed"]
    fields.update(command="/stock", text="cab-pacman-up", response_url=fake_slack.response_url())
    raw = urlencode(fields).encode()
    status, body, _ = await post(slack, raw, signed(slack, raw))
    assert status == 200 and body == ""  # acked at once, answered after
    await front(slack).settle(5)
    (answer,) = fake_slack.ephemeral
    assert answer["channel"] == case["parsed"]["channel_id"] and answer["user"] == case["parsed"]["user_id"]
    assert "Pac-Man upright cabinet" in answer_text(answer)


async def test_block_actions_vector(slack: StockbotHarness, fake_slack: FakeSlack) -> None:
    case = vector("slack_block_actions")
    assert dict(parse_qsl(case["raw_body"]))["payload"] == json.dumps(case["payload"], separators=(",", ":"))
    raw = case["raw_body"].encode()
    status, _, _ = await post(slack, raw, signed(slack, raw))
    assert status == 200  # a button stockbot did not make: acknowledged, nothing done
    await front(slack).settle(5)
    assert fake_slack.ephemeral == [] and await audit(slack, "action.refused") == []

    card, ts = await open_alert(slack, fake_slack)
    answer = await send_click(slack, fake_slack, card_action(card, ACK_ACTION_ID), REP, ts)
    assert answer["channel"] == SALES and answer["user"] == REP
    assert (await alert_row(slack))["state"] == "acknowledged"


# --- /stock ---------------------------------------------------------------------------------------------


async def test_stock_by_sku_shows_levels_alert_and_last_change(
    slack: StockbotHarness, fake_slack: FakeSlack
) -> None:
    card, ts = await open_alert(slack, fake_slack)
    await send_click(slack, fake_slack, card_action(card, ACK_ACTION_ID), REP, ts)
    await send_click(slack, fake_slack, card_action(card, ESCALATE_ACTION_ID), BOSS, ts)
    text = answer_text(await send_command(slack, fake_slack, "/stock", SKU.lower(), REP))
    assert "*Mortal Kombat Legacy Kit cabinet* `CAB-MK-LEGACY`" in text
    assert "*Chicago DC*: 0 on hand / minimum 1 — :red_circle: Out of stock" in text
    assert "*Las Vegas Showroom*: 5 on hand / minimum 1 — :white_check_mark: In stock" in text
    assert f"acknowledged by {CLICKER}" in text
    assert f"escalated to level 1 (<#{MANAGERS}>) by {CLICKER}" in text
    assert re.search(r"Level last changed <!date\^\d+\^[^>]*> from erp", text)
    assert "No stock event received yet" in text  # Las Vegas: only the catalog's level


async def test_stock_by_words_nothing_found_and_help(slack: StockbotHarness, fake_slack: FakeSlack) -> None:
    text = answer_text(await send_command(slack, fake_slack, "/stock", "godzilla PINBALL", STRANGER))
    assert "PIN-GODZ-PRO" in text and "PIN-GODZ-PREM" in text and "More products" not in text

    answer = await send_command(slack, fake_slack, "/stock", "pinball", STRANGER)
    skus = re.findall(r"`(PIN-[A-Z0-9-]+)`", answer_text(answer))
    assert len(skus) == 5 and "More products match" in answer_text(answer)

    text = answer_text(await send_command(slack, fake_slack, "/stock", "zaxxon &amp; friends", STRANGER))
    assert "No product matches `zaxxon &amp; friends`" in text and "fewer" in text

    text = answer_text(await send_command(slack, fake_slack, "/stock", "", STRANGER))
    assert "/stock CAB-PACMAN-UP" in text and "/oos" in text
    assert fake_slack.errors == []


async def test_answers_fall_back_to_the_response_url(slack: StockbotHarness, fake_slack: FakeSlack) -> None:
    fake_slack.fail_next("chat.postEphemeral", "channel_not_found", status=200)
    raw = command(fake_slack, "/stock", SKU, user=REP, channel="C0NOTMEMBER")
    status, _, _ = await post(slack, raw, signed(slack, raw))
    assert status == 200
    await front(slack).settle(5)
    (response,) = fake_slack.responses
    assert response["response_type"] == "ephemeral" and "CAB-MK-LEGACY" in response["text"]


async def test_a_failure_after_ack_is_logged_and_the_user_told(
    slack: StockbotHarness, fake_slack: FakeSlack, caplog: pytest.LogCaptureFixture
) -> None:
    card, ts = await open_alert(slack, fake_slack)
    fake_slack.fail_next("chat.postEphemeral", "internal_error", status=500)
    payload = json.loads(
        dict(parse_qsl(click(fake_slack, card_action(card, ACK_ACTION_ID), user=REP, ts=ts).decode()))[
            "payload"
        ]
    )
    del payload["response_url"]  # nowhere else to answer: the work itself fails
    raw = urlencode({"payload": json.dumps(payload)}).encode()
    status, _, _ = await post(slack, raw, signed(slack, raw))
    assert status == 200
    await front(slack).settle(5)
    # exc_text too: bot.logs.RedactingFilter (on caplog's handler after test_ops) moves the traceback there.
    assert any("failed after ack" in r.getMessage() and (r.exc_info or r.exc_text) for r in caplog.records)
    (told,) = fake_slack.ephemeral
    assert "hit an error" in answer_text(told) and told["user"] == REP
    assert (await alert_row(slack))["state"] == "acknowledged"  # the action itself was applied once


# --- /oos -----------------------------------------------------------------------------------------------


async def test_oos_by_warehouse_staff_opens_an_alert(slack: StockbotHarness, fake_slack: FakeSlack) -> None:
    answer = await send_command(
        slack, fake_slack, "/oos", "cab-mk-legacy las vegas SHOWROOM water damage", WAREHOUSE
    )
    text = answer_text(answer)
    assert "Flagged *Mortal Kombat Legacy Kit cabinet* `CAB-MK-LEGACY` at *Las Vegas Showroom*" in text
    assert "opened" in text and "*Reason:* water damage" in text
    assert slack.runtime is not None
    async with slack.runtime.engine.connect() as conn:
        row = (await conn.execute(select(alerts))).mappings().one()
    assert (row["sku"], row["location"], row["trigger"], row["reason"]) == (
        SKU,
        "Las Vegas Showroom",
        "manual",
        "water damage",
    )
    (opened,) = await audit(slack, "alert.opened")
    assert opened["actor"] == f"slack:{WAREHOUSE}"
    await deliver(slack)
    assert len(fake_slack.posts(SALES)) == 1  # the card goes out like any other alert

    text = answer_text(await send_command(slack, fake_slack, "/oos", SKU, WAREHOUSE))
    assert "say which location" in text
    text = answer_text(await send_command(slack, fake_slack, "/oos", "NOPE-123 Chicago DC", WAREHOUSE))
    assert "no product with SKU 'NOPE-123'" in text
    assert "/oos CAB-PACMAN-UP Chicago DC" in answer_text(
        await send_command(slack, fake_slack, "/oos", "", REP)
    )


async def test_oos_by_a_rep_is_refused(slack: StockbotHarness, fake_slack: FakeSlack) -> None:
    text = answer_text(await send_command(slack, fake_slack, "/oos", f"{SKU} Chicago DC", REP))
    assert "Could not flag stock: only warehouse roles may flag" in text
    (refused,) = await audit(slack, "action.refused")
    assert refused["actor"] == f"slack:{REP}" and refused["detail"]["action"] == "flag"
    assert await audit(slack, "alert.opened") == []


# --- roles from user groups ------------------------------------------------------------------------------


async def test_user_groups_are_cached_for_five_minutes(slack: StockbotHarness, fake_slack: FakeSlack) -> None:
    card, ts = await open_alert(slack, fake_slack)
    await send_click(slack, fake_slack, card_action(card, ACK_ACTION_ID), BOSS, ts)
    await send_click(slack, fake_slack, card_action(card, SNOOZE_ACTION_ID, "1h"), BOSS, ts)
    assert len(fake_slack.calls("usergroups.users.list")) == 1
    slack.later(minutes=6)
    fake_slack.usergroups[MANAGER_GROUP] = []  # BOSS left the managers group
    answer = await send_click(slack, fake_slack, card_action(card, ESCALATE_ACTION_ID), BOSS, ts)
    assert "only manager roles may escalate" in answer_text(answer)
    assert len(fake_slack.calls("usergroups.users.list")) == 2


# --- configuration ----------------------------------------------------------------------------------------


async def test_without_a_slack_section_nothing_is_mounted(stockbot: HarnessFactory) -> None:
    harness = await stockbot()
    assert harness.runtime is not None and EXTRA_KEY not in harness.runtime.extras
    status, _, _ = await post(
        harness, b"payload=%7B%7D", {"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert status == 404


# --- Socket Mode ------------------------------------------------------------------------------------------


class FakeSocketMode:
    """Slack's Socket Mode WebSocket on 127.0.0.1: sends envelopes, collects what the app answers."""

    def __init__(self) -> None:
        self.connected = asyncio.Event()
        self.closed = asyncio.Event()
        self.received: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.ws: web.WebSocketResponse | None = None
        self.server: TestServer | None = None

    async def start(self) -> str:
        app = web.Application()
        app.router.add_get("/link", self._socket)
        self.server = TestServer(app, host="127.0.0.1")
        await self.server.start_server()
        return str(self.server.make_url("/link")).replace("http://", "ws://")

    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.ws = ws
        await ws.send_json({"type": "hello", "num_connections": 1, "connection_info": {"app_id": "A0STOCK"}})
        self.connected.set()
        async for message in ws:
            if message.type == WSMsgType.TEXT:
                await self.received.put(json.loads(message.data))
        self.closed.set()
        return ws

    async def send(self, envelope: dict[str, Any]) -> dict[str, Any]:
        assert self.ws is not None
        await self.ws.send_json(envelope)
        async with asyncio.timeout(5):
            return await self.received.get()

    async def close(self) -> None:
        if self.server:
            await self.server.close()


@pytest.fixture
async def socket_mode() -> AsyncIterator[FakeSocketMode]:
    fake = FakeSocketMode()
    yield fake
    await fake.close()


async def test_socket_mode_connects_answers_and_stops_with_the_app(
    stockbot: HarnessFactory, fake_slack: FakeSlack, socket_mode: FakeSocketMode
) -> None:
    fake_slack.socket_url = await socket_mode.start()
    harness = await stockbot(**slack_overrides(fake_slack, app_token=APP_TOKEN))
    async with asyncio.timeout(5):
        await socket_mode.connected.wait()
    (opened,) = fake_slack.calls("apps.connections.open")
    assert opened.headers["Authorization"] == f"Bearer {APP_TOKEN}"
    assert front(harness).socket is not None

    fields = dict(parse_qsl(command(fake_slack, "/stock", SKU, user=REP).decode()))
    envelope = {"envelope_id": "env-1", "type": "slash_commands", "accepts_response_payload": True}
    assert await socket_mode.send({**envelope, "payload": fields}) == {"envelope_id": "env-1"}
    await front(harness).settle(5)
    (answer,) = fake_slack.ephemeral
    assert "Mortal Kombat Legacy Kit cabinet" in answer_text(answer)

    retried = {
        **envelope,
        "envelope_id": "env-2",
        "payload": fields,
        "retry_attempt": 1,
        "retry_reason": "timeout",
    }
    assert (await socket_mode.send(retried))["envelope_id"] == "env-2"
    await front(harness).settle(5)
    assert len(fake_slack.ephemeral) == 1  # the retry was acknowledged and skipped

    await harness.close()
    async with asyncio.timeout(5):
        await socket_mode.closed.wait()
    assert fake_slack.errors == []


async def test_a_digest_card_acknowledges_all_its_alerts_in_one_click(
    stockbot: HarnessFactory, fake_slack: FakeSlack
) -> None:
    overrides = slack_overrides(fake_slack)
    overrides["routes"] = [{"channels": ["sales"], "digest": "15m"}]
    harness = await stockbot(**overrides)
    low = ["CAB-DK-JR", "CAB-CENTIPEDE"]  # minimum 1: on_hand 1 is low
    for sku in low:
        await harness.send(event(sku, 1, event_id=f"digest-{sku}"))
    await deliver(harness)
    assert fake_slack.posts(SALES) == []  # held for the digest
    harness.later(minutes=15)
    await deliver(harness)
    (card,) = fake_slack.posts(SALES)
    assert all(sku in card_text(card) for sku in low)
    button = card_action(card, "stockbot_ack_all")
    assert button["text"]["text"] == "Acknowledge all 2"
    answer = await send_click(harness, fake_slack, button, REP, card["ts"])
    assert "You acknowledged 2 alerts." in answer_text(answer)  # a plural form, not "alert(s)"
    assert harness.runtime is not None
    async with harness.runtime.engine.connect() as conn:
        states = (await conn.execute(select(alerts.c.state, alerts.c.acknowledged_by))).all()
    assert [state for state, _ in states] == ["acknowledged", "acknowledged"]
    assert len({who for _, who in states}) == 1  # the same person, once per alert


async def test_people_are_named_from_users_info_not_by_id(
    slack: StockbotHarness, fake_slack: FakeSlack
) -> None:
    fake_slack.add_user(REP, "Rita Rep")
    card, ts = await open_alert(slack, fake_slack)
    await send_click(slack, fake_slack, card_action(card, ACK_ACTION_ID), REP, ts)
    assert (await alert_row(slack))["acknowledged_by"] == "Rita Rep"  # SMS, e-mail and Teams show this
    await deliver(slack)
    assert "Acknowledged by Rita Rep" in card_text(fake_slack.card(SALES, ts))
    # Looked up once, then cached: a second action by the same person asks Slack nothing new.
    await send_click(slack, fake_slack, card_action(card, SNOOZE_ACTION_ID, "1h"), REP, ts)
    assert [c.query["user"] for c in fake_slack.calls("users.info")] == [REP]


async def test_answers_are_in_the_persons_slack_language_and_cards_in_the_channels(
    slack: StockbotHarness, fake_slack: FakeSlack
) -> None:
    fake_slack.add_user(REP, "Rita Rep", locale="es-LA")
    card, ts = await open_alert(slack, fake_slack)
    answer = answer_text(await send_click(slack, fake_slack, card_action(card, ACK_ACTION_ID), REP, ts))
    assert answer.startswith(":eyes: Ha confirmado la alerta n.º 1 (")
    text = answer_text(await send_command(slack, fake_slack, "/stock", SKU, REP))
    assert "*Chicago DC*: 0 en existencia / mínimo 1 — :red_circle: Agotado" in text
    await deliver(slack)
    assert "Acknowledged by Rita Rep" in card_text(fake_slack.card(SALES, ts))  # the channel's language
    # One users.info call (with include_locale) gave both the name and the language.
    calls = fake_slack.calls("users.info")
    assert [(c.query["user"], c.query.get("include_locale")) for c in calls] == [(REP, "1")]
    assert fake_slack.errors == []


# --- what /stock may claim ---------------------------------------------------------------------------------

UNREPORTED = (
    "sku,name,category,key_product,location,minimum\nCAB-GALAGA,Galaga cabinet,cabinet,no,Chicago DC,1\n"
)


async def test_stock_says_unknown_for_a_level_nobody_reported(
    slack: StockbotHarness, fake_slack: FakeSlack
) -> None:
    await slack.import_catalog(UNREPORTED)  # no on_hand, and no event yet
    answer = await send_command(slack, fake_slack, "/stock", "cab-galaga", REP)
    text = answer_text(answer)
    assert "*Chicago DC*: level unknown / minimum 1 — :grey_question: Unknown" in text
    assert "No stock event received yet, and the catalog gives no level" in text
    assert "In stock" not in text
    assert answer["text"] == "Galaga cabinet (CAB-GALAGA): level unknown at Chicago DC"


async def test_cards_and_stock_say_what_is_true_now(stockbot: HarnessFactory, fake_slack: FakeSlack) -> None:
    # Minimum 1, resolve_buffer 1: 0 opens an "out" alert; 2 is above the minimum but not above 1 + 1.
    harness = await stockbot(**slack_overrides(fake_slack), alerts={"resolve_buffer": 1})
    card, ts = await open_alert(harness, fake_slack)
    await harness.send(event(SKU, 2, at=harness.later(minutes=1)))
    await deliver(harness)
    card = fake_slack.card(SALES, ts)
    assert card["blocks"][0]["text"]["text"] == (
        ":large_green_circle: Recovering (was Out of stock): Mortal Kombat Legacy Kit cabinet"
    )
    assert "2 on hand, recovering: resolves above 2 (minimum 1)" in card_text(card)
    assert "2 on hand / minimum 1" not in card_text(card)
    text = answer_text(await send_command(harness, fake_slack, "/stock", SKU, REP))
    assert (
        "*Chicago DC*: 2 on hand / minimum 1 — :large_green_circle: Recovering (was Out of stock), "
        "resolves above 2" in text
    )

    # Flagged out by hand where the system shows 5: the card says who, and what the system shows.
    await send_command(harness, fake_slack, "/oos", f"{SKU} Las Vegas Showroom water damage", WAREHOUSE)
    await deliver(harness)
    flagged = fake_slack.posts(SALES)[-1]
    assert flagged["blocks"][0]["text"]["text"].startswith(":red_circle: Out of stock")
    assert "flagged out of stock by roadrunner although the system shows 5 on hand" in card_text(flagged)
    text = answer_text(await send_command(harness, fake_slack, "/stock", SKU, REP))
    assert "flagged out of stock by roadrunner although the system shows 5 on hand" in text
    assert fake_slack.errors == []


async def test_a_worse_severity_replies_in_the_cards_thread(
    slack: StockbotHarness, fake_slack: FakeSlack
) -> None:
    await slack.send(event(SKU, 1))  # low
    await deliver(slack)
    (card,) = fake_slack.posts(SALES)
    await slack.send(event(SKU, 0, at=slack.later(minutes=5)))  # out
    await deliver(slack)
    (reply,) = fake_slack.replies(SALES, card["ts"])
    assert reply["text"] == ":red_circle: Worse: now Out of stock, 0 on hand / minimum 1 (was Low stock)"
    assert fake_slack.card(SALES, card["ts"])["blocks"][0]["text"]["text"].startswith(
        ":red_circle: Out of stock"
    )
    assert len(fake_slack.posts(SALES)) == 1 and fake_slack.errors == []


# --- undoing mistakes ------------------------------------------------------------------------------------


async def test_managers_resolve_from_the_card_and_everyone_sees_who_and_why(
    slack: StockbotHarness, fake_slack: FakeSlack
) -> None:
    card, ts = await open_alert(slack, fake_slack)
    button = card_action(card, RESOLVE_ACTION_ID)
    refused = await send_click(slack, fake_slack, button, REP, ts)
    assert "only manager roles may resolve" in answer_text(refused)
    answer = await send_click(slack, fake_slack, button, BOSS, ts)
    assert "You resolved alert #1" in answer_text(answer)
    await deliver(slack)
    card = fake_slack.card(SALES, ts)
    assert card["blocks"][0]["text"]["text"].startswith(":ballot_box_with_check: Resolved by hand")
    assert "Back in stock" not in card_text(card)
    assert not [b for b in card["blocks"] if b["type"] == "actions"]
    replies = [r["text"] for r in fake_slack.replies(SALES, ts)]
    assert replies[-1] == f"Resolved by {CLICKER}: resolved from the Slack card"
    (row,) = await audit(slack, "alert.resolved")
    assert (row["actor"], row["detail"]["reason"]) == (f"slack:{BOSS}", "resolved from the Slack card")
    assert fake_slack.errors == []


async def test_oos_clear_takes_a_mistaken_flag_back(slack: StockbotHarness, fake_slack: FakeSlack) -> None:
    await send_command(slack, fake_slack, "/oos", f"{SKU} Las Vegas Showroom looked empty", WAREHOUSE)
    refused = answer_text(
        await send_command(slack, fake_slack, "/oos", f"clear {SKU} Las Vegas Showroom", REP)
    )
    assert "Could not clear the flag: only warehouse roles may clear" in refused
    text = answer_text(
        await send_command(
            slack, fake_slack, "/oos", "clear cab-mk-legacy las vegas showroom found them", WAREHOUSE
        )
    )
    assert (
        "Cleared the flag on *Mortal Kombat Legacy Kit cabinet* `CAB-MK-LEGACY` at *Las Vegas Showroom*"
        in text
    )
    assert "alert #1 is resolved: the system shows 5 on hand / minimum 1" in text
    (row,) = await audit(slack, "alert.flag_cleared")
    assert (row["actor"], row["detail"]["reason"]) == (f"slack:{WAREHOUSE}", "found them")
    text = answer_text(
        await send_command(slack, fake_slack, "/oos", f"clear {SKU} Las Vegas Showroom", WAREHOUSE)
    )
    assert "no open alert: there is no flag to clear" in text
    assert "/oos clear CAB-PACMAN-UP" in answer_text(
        await send_command(slack, fake_slack, "/oos", "help", REP)
    )


async def test_every_stock_lookup_is_audited(slack: StockbotHarness, fake_slack: FakeSlack) -> None:
    await send_command(slack, fake_slack, "/stock", "cab-mk-legacy", REP)
    await send_command(slack, fake_slack, "/stock", "pinball", STRANGER)
    await send_command(slack, fake_slack, "/stock", "unobtainium", REP)
    await send_command(slack, fake_slack, "/stock", "help", REP)  # help is not a lookup
    rows = await audit(slack, "stock.lookup")
    assert [(r["actor"], r["subject"], r["detail"]["results"], r["detail"]["more"]) for r in rows] == [
        (f"slack:{REP}", "cab-mk-legacy", 1, False),
        (f"slack:{STRANGER}", "pinball", 5, True),
        (f"slack:{REP}", "unobtainium", 0, False),
    ]
    assert fake_slack.calls("usergroups.users.list") == []  # who asked is enough: no role lookup
