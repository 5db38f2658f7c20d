"""The Slack adapter against FakeSlack: card, update in place, thread replies, error table, pacing."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import aiohttp
import pytest
from pydantic import ValidationError
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from stockbot.adapters.base import PermanentError, Receipt, RetryableError, Target, register_secret
from stockbot.adapters.render.slack import (
    ACK_ACTION_ID,
    ESCALATE_ACTION_ID,
    RESOLVE_ACTION_ID,
    SNOOZE_ACTION_ID,
)
from stockbot.adapters.slack import SlackAdapter, SlackSettings
from tests.fakes import slack_api
from tests.fakes.messages import OPENED, resolved_message, sample_message
from tests.fakes.slack_api import FakeSlack

fake_slack = slack_api.fake_slack  # the fixture, until conftest provides it

TOKEN = "xoxb-test-1234567890-abcdefABCDEF"
CHANNEL = "C0STOCK42"


def _adapter(fake: FakeSlack, http: aiohttp.ClientSession, **settings: Any) -> SlackAdapter:
    register_secret(TOKEN)
    raw = {"bot_token": TOKEN, "api_url": fake.api_url, "min_seconds_between_posts": 0, **settings}
    return SlackAdapter(SlackSettings.model_validate(raw), http)


def _target(external_id: str | None = None, address: str = CHANNEL) -> Target:
    return Target(channel="sales", address=address, idempotency_key="alert-42-1", external_id=external_id)


def _action_ids(blocks: list[dict[str, Any]]) -> list[str]:
    return [e["action_id"] for b in blocks if b["type"] == "actions" for e in b["elements"]]


async def _open(fake: FakeSlack, adapter: SlackAdapter) -> tuple[Receipt, str]:
    receipt = await adapter.send(sample_message(), _target())
    assert receipt.external_id is not None
    channel, ts = receipt.external_id.split(":")
    assert channel == CHANNEL
    return receipt, ts


async def test_first_event_posts_a_card(fake_slack: FakeSlack, http: aiohttp.ClientSession) -> None:
    receipt, ts = await _open(fake_slack, _adapter(fake_slack, http))
    assert fake_slack.errors == []
    assert receipt.external_id == f"{CHANNEL}:{ts}"
    card = fake_slack.card(CHANNEL, ts)
    assert "PIN-GODZ-PRO" in card["text"]
    assert _action_ids(card["blocks"]) == [
        ACK_ACTION_ID,
        ESCALATE_ACTION_ID,
        SNOOZE_ACTION_ID,
        RESOLVE_ACTION_ID,
    ]
    (call,) = fake_slack.calls("chat.postMessage")
    assert call.headers["Authorization"] == f"Bearer {TOKEN}"


async def test_acknowledge_updates_the_card_and_replies_in_thread(
    fake_slack: FakeSlack, http: aiohttp.ClientSession
) -> None:
    adapter = _adapter(fake_slack, http)
    receipt, ts = await _open(fake_slack, adapter)
    acked = sample_message(
        event="acknowledged",
        state="acknowledged",
        actor="U123ABC",
        acknowledged_by="U123ABC",
        acknowledged_at=OPENED + timedelta(minutes=4),
    )
    again = await adapter.send(acked, _target(receipt.external_id))
    assert fake_slack.errors == []
    assert again.external_id == receipt.external_id
    (update,) = fake_slack.calls("chat.update")
    assert (update.body["channel"], update.body["ts"]) == (CHANNEL, ts)
    card = fake_slack.card(CHANNEL, ts)
    assert "edited" in card
    assert _action_ids(card["blocks"]) == [ESCALATE_ACTION_ID, SNOOZE_ACTION_ID, RESOLVE_ACTION_ID]
    assert [r["text"] for r in fake_slack.replies(CHANNEL, ts)] == ["Acknowledged by <@U123ABC>"]
    assert len(fake_slack.posts(CHANNEL)) == 1


async def test_resolve_removes_the_buttons(fake_slack: FakeSlack, http: aiohttp.ClientSession) -> None:
    adapter = _adapter(fake_slack, http)
    receipt, ts = await _open(fake_slack, adapter)
    await adapter.send(resolved_message(), _target(receipt.external_id))
    assert fake_slack.errors == []
    card = fake_slack.card(CHANNEL, ts)
    assert _action_ids(card["blocks"]) == []
    assert "Back in stock" in card["text"]
    assert [r["text"] for r in fake_slack.replies(CHANNEL, ts)] == [
        "Back in stock: 6 on hand after 3 h 35 min"
    ]


async def test_updated_event_edits_without_a_reply(
    fake_slack: FakeSlack, http: aiohttp.ClientSession
) -> None:
    adapter = _adapter(fake_slack, http)
    receipt, ts = await _open(fake_slack, adapter)
    await adapter.send(sample_message(event="updated", on_hand=1), _target(receipt.external_id))
    assert fake_slack.errors == []
    assert "1 on hand / minimum 2" in fake_slack.card(CHANNEL, ts)["text"]
    assert fake_slack.replies(CHANNEL, ts) == []


async def test_deleted_card_is_posted_again(fake_slack: FakeSlack, http: aiohttp.ClientSession) -> None:
    adapter = _adapter(fake_slack, http)
    old = f"{CHANNEL}:1700000000.000100"  # a card the fake never saw: chat.update says message_not_found
    receipt = await adapter.send(sample_message(event="escalated", escalation_level=1), _target(old))
    assert fake_slack.errors == []
    assert receipt.external_id != old
    assert receipt.external_id == f"{CHANNEL}:{fake_slack.posts(CHANNEL)[0]['ts']}"


async def test_channel_name_gives_a_channel_id_receipt(
    fake_slack: FakeSlack, http: aiohttp.ClientSession
) -> None:
    adapter = _adapter(fake_slack, http)
    receipt = await adapter.send(sample_message(), _target(address="#stock-alerts"))
    channel_id = fake_slack.channel_id("#stock-alerts")
    assert receipt.external_id and receipt.external_id.startswith(f"{channel_id}:")
    await adapter.send(sample_message(event="updated"), _target(receipt.external_id, "#stock-alerts"))
    assert fake_slack.calls("chat.update")[0].body["channel"] == channel_id
    assert fake_slack.errors == []


@pytest.mark.parametrize("address", ["", "stock alerts", "https://hooks.slack.com/x", "#Stock Alerts"])
async def test_bad_address_is_permanent(
    address: str, fake_slack: FakeSlack, http: aiohttp.ClientSession
) -> None:
    with pytest.raises(PermanentError, match="channel id like C0123ABCD"):
        await _adapter(fake_slack, http).send(sample_message(), _target(address=address))
    assert fake_slack.requests == []


ERRORS = [
    pytest.param("ratelimited", 429, 3, RetryableError, 3.0, id="ratelimited-429"),
    pytest.param("ratelimited", 200, None, RetryableError, None, id="ratelimited-in-200"),
    pytest.param("internal_error", 500, None, RetryableError, None, id="500"),
    pytest.param("service_unavailable", 503, 2, RetryableError, 2.0, id="503"),
    pytest.param("fatal_error", 200, None, RetryableError, None, id="fatal_error"),
    pytest.param("channel_not_found", 200, None, PermanentError, None, id="channel_not_found"),
    pytest.param("not_in_channel", 200, None, PermanentError, None, id="not_in_channel"),
    pytest.param("invalid_auth", 200, None, PermanentError, None, id="invalid_auth"),
    pytest.param("token_revoked", 200, None, PermanentError, None, id="token_revoked"),
    pytest.param("missing_scope", 200, None, PermanentError, None, id="missing_scope"),
    pytest.param("invalid_blocks", 200, None, PermanentError, None, id="invalid_blocks"),
    pytest.param("something_new", 200, None, PermanentError, None, id="unknown-code"),
]


@pytest.mark.parametrize(("code", "status", "retry_after", "error", "expected_after"), ERRORS)
async def test_error_table(
    code: str,
    status: int,
    retry_after: float | None,
    error: type[Exception],
    expected_after: float | None,
    fake_slack: FakeSlack,
    http: aiohttp.ClientSession,
) -> None:
    fake_slack.fail_next("chat.postMessage", code, status=status, retry_after=retry_after)
    with pytest.raises(error) as raised:
        await _adapter(fake_slack, http).send(sample_message(), _target())
    assert code in str(raised.value)
    assert TOKEN not in str(raised.value)
    if expected_after is not None:
        assert raised.value.retry_after == pytest.approx(expected_after)  # type: ignore[attr-defined]
    assert len(fake_slack.calls("chat.postMessage")) == 1  # one attempt: slack_sdk must not retry
    assert fake_slack.errors == []


async def test_permanent_errors_say_how_to_fix(fake_slack: FakeSlack, http: aiohttp.ClientSession) -> None:
    fake_slack.fail_next("chat.postMessage", "not_in_channel", status=200)
    with pytest.raises(PermanentError, match="/invite @stockbot"):
        await _adapter(fake_slack, http).send(sample_message(), _target())


async def test_failed_update_is_classified(fake_slack: FakeSlack, http: aiohttp.ClientSession) -> None:
    adapter = _adapter(fake_slack, http)
    receipt, _ = await _open(fake_slack, adapter)
    fake_slack.fail_next("chat.update", "ratelimited", status=429, retry_after=5)
    with pytest.raises(RetryableError) as raised:
        await adapter.send(resolved_message(), _target(receipt.external_id))
    assert raised.value.retry_after == pytest.approx(5)
    fake_slack.fail_next("chat.update", "is_archived", status=200)
    with pytest.raises(PermanentError, match="archived"):
        await adapter.send(resolved_message(), _target(receipt.external_id))


async def test_posts_to_one_channel_are_paced(fake_slack: FakeSlack, http: aiohttp.ClientSession) -> None:
    adapter = _adapter(fake_slack, http, min_seconds_between_posts=0.3)
    # A first post opens the connection, so the timed posts below differ only by the pacing, not by one of
    # them also connecting (on a busy machine that alone can take tens of milliseconds).
    await adapter.send(sample_message(), _target(address="C0WARMUP1"))
    targets = [_target(), _target(), _target(address="C0OTHER01")]
    loop = asyncio.get_running_loop()
    started = loop.time()
    await asyncio.gather(*(adapter.send(sample_message(), t) for t in targets))
    assert fake_slack.errors == []
    first, second = (float(m["ts"]) for m in fake_slack.posts(CHANNEL))
    assert second - first >= 0.3 - 0.05  # arrival times at the fake: allow for scheduling jitter
    assert loop.time() - started < 0.6  # the other channel did not wait behind this one (two slots)
    assert len(fake_slack.posts("C0OTHER01")) == 1


def test_settings_normalise_and_explain() -> None:
    settings = SlackSettings.model_validate({"bot_token": TOKEN, "api_url": "http://127.0.0.1:9/api"})
    assert settings.api_url == "http://127.0.0.1:9/api/"
    assert SlackSettings.model_validate({"bot_token": TOKEN}).api_url == "https://slack.com/api/"
    aliased = SlackSettings.model_validate({"bot_token": TOKEN, "base_url": "http://127.0.0.1:9/api"})
    assert aliased.api_url == "http://127.0.0.1:9/api/"
    with pytest.raises(ValidationError, match="IANA time zone"):
        SlackSettings.model_validate({"bot_token": TOKEN, "workspace_timezone": "Mars/Olympus"})
    with pytest.raises(ValidationError, match="xoxb-") as raised:
        SlackSettings.model_validate({"bot_token": "8f742231b10e8888abcd99yyyzzz85a5"})
    assert "8f742231b10e8888abcd99yyyzzz85a5" not in str(raised.value)
    with pytest.raises(ValidationError, match="xapp-"):
        SlackSettings.model_validate({"bot_token": TOKEN, "app_token": "xoxb-wrong"})


# --- the fake itself: it must catch what real Slack would refuse, and answer what Bolt needs ---------------


async def test_fake_checks_token_spec_and_block_kit(
    fake_slack: FakeSlack, http: aiohttp.ClientSession
) -> None:
    anonymous = AsyncWebClient(base_url=fake_slack.api_url, session=http, retry_handlers=[])
    with pytest.raises(SlackApiError):
        await anonymous.chat_postMessage(channel=CHANNEL, text="hi")
    client = AsyncWebClient(token=TOKEN, base_url=fake_slack.api_url, session=http, retry_handlers=[])
    with pytest.raises(SlackApiError):
        await client.api_call("chat.update", json={"channel": CHANNEL, "text": "no ts"})
    too_long = [{"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}]
    with pytest.raises(SlackApiError):
        await client.chat_postMessage(channel=CHANNEL, text="hi", blocks=too_long)
    assert len(fake_slack.errors) == 3
    assert "Authorization" in fake_slack.errors[0]
    assert "'ts' is a required property" in fake_slack.errors[1]
    assert "3001 characters" in fake_slack.errors[2]


async def test_fake_accepts_form_bodies(fake_slack: FakeSlack, http: aiohttp.ClientSession) -> None:
    client = AsyncWebClient(token=TOKEN, base_url=fake_slack.api_url, session=http, retry_handlers=[])
    blocks = '[{"type":"section","text":{"type":"mrkdwn","text":"*Out of stock:* SKU-1234"}}]'
    form = {"channel": CHANNEL, "text": "Out of stock", "blocks": blocks, "unfurl_links": "false"}
    answer = await client.api_call("chat.postMessage", data=form)
    assert fake_slack.errors == []
    assert fake_slack.card(CHANNEL, answer["ts"])["blocks"][0]["type"] == "section"


async def test_fake_answers_what_bolt_and_the_front_end_call(
    fake_slack: FakeSlack, http: aiohttp.ClientSession
) -> None:
    client = AsyncWebClient(token=TOKEN, base_url=fake_slack.api_url, session=http, retry_handlers=[])
    auth = await client.auth_test()
    assert (auth["team_id"], auth["user_id"], auth["bot_id"]) == (
        slack_api.TEAM_ID,
        slack_api.BOT_USER_ID,
        slack_api.BOT_ID,
    )
    fake_slack.add_user("U123ABC", "dana", tz="America/Chicago")
    assert (await client.users_info(user="U123ABC"))["user"]["tz"] == "America/Chicago"
    fake_slack.usergroups["S0WAREHOUSE"] = ["U123ABC"]
    assert (await client.usergroups_users_list(usergroup="S0WAREHOUSE"))["users"] == ["U123ABC"]
    await client.chat_postEphemeral(channel=CHANNEL, user="U123ABC", text="Only you can see this")
    assert fake_slack.ephemeral[0]["user"] == "U123ABC"
    view = {"type": "modal", "title": {"type": "plain_text", "text": "Report"}, "blocks": []}
    opened = await client.views_open(trigger_id="123.456.abc", view=view)
    assert opened["view"]["type"] == "modal"
    assert fake_slack.views[0]["view"] == view
    assert fake_slack.errors == []
    with pytest.raises(SlackApiError):  # the spec requires a trigger_id
        await client.api_call("views.open", json={"view": view})
    assert "trigger_id" in fake_slack.errors[0]


async def test_a_workspace_address_needs_installations(
    fake_slack: FakeSlack, http: aiohttp.ClientSession
) -> None:
    """``T…/C…`` names a workspace installed through "Add to Slack"; with one configured token there is no
    such token to post with (config check says so at start; this is the adapter's own answer)."""
    with pytest.raises(PermanentError, match="configured for one workspace"):
        await _adapter(fake_slack, http).send(sample_message(), _target(address=f"T0EAST/{CHANNEL}"))
    assert fake_slack.requests == []
