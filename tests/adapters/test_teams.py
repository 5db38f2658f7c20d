"""Teams through the Agents SDK against a fake Bot Connector: post, update in place, errors, pacing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from pydantic import ValidationError

from stockbot.adapters.base import PermanentError, RetryableError, Target
from stockbot.adapters.ratelimit import RateLimiter
from stockbot.adapters.render.teams import VERB_ACK, VERB_ESCALATE
from stockbot.adapters.teams import TeamsAdapter, TeamsSettings
from tests.fakes.bot_connector import FakeBotConnector
from tests.fakes.bot_framework_auth import LocalIssuer
from tests.fakes.messages import resolved_message, sample_message

CHANNEL = "19:stock-alerts@thread.tacv2"
PERSONAL = "a:1Xq9-personal-chat-with-dana"


@pytest.fixture
async def connector() -> AsyncIterator[FakeBotConnector]:
    fake = FakeBotConnector()
    await fake.start()
    yield fake
    await fake.close()


def _adapter(
    connector: FakeBotConnector, http: aiohttp.ClientSession, **settings: Any
) -> tuple[TeamsAdapter, dict[str, dict[str, Any]]]:
    stored = {cid: connector.reference(cid) for cid in (CHANNEL, PERSONAL)}

    async def lookup(conversation_id: str) -> dict[str, Any] | None:
        return stored.get(conversation_id)

    config = TeamsSettings.model_validate({"min_seconds_between_posts": 0, "timeout_seconds": 5, **settings})
    return TeamsAdapter(config, http, conversations=lookup), stored


def _target(address: str = CHANNEL, external_id: str | None = None) -> Target:
    return Target(channel="teams-ops", address=address, idempotency_key="alert-42-1", external_id=external_id)


def _verbs(card: dict[str, Any]) -> list[str]:
    return [a["verb"] for a in card.get("actions", []) if a["type"] == "Action.Execute"]


async def test_first_event_posts_a_valid_card_to_the_stored_conversation(
    connector: FakeBotConnector, http: aiohttp.ClientSession
) -> None:
    adapter, _ = _adapter(connector, http)
    receipt = await adapter.send(sample_message(), _target())
    assert connector.errors == []
    (post,) = connector.calls("post")
    assert post.match["conversationId"] == CHANNEL
    assert post.path.startswith("/amer/v3/conversations/")  # the serviceUrl's path is kept
    assert post.body["from"]["id"].startswith("28:") and post.body["recipient"]["id"].startswith("29:")
    assert "Authorization" not in post.headers  # anonymous mode: no token asked for, none sent
    assert not connector.calls("token")
    assert receipt.external_id == connector.activity_ids(CHANNEL)[0]
    card = connector.card(receipt.external_id)
    assert "PIN-GODZ-PRO" in card["fallbackText"]
    assert _verbs(card) == [VERB_ACK, VERB_ESCALATE]


async def test_later_events_update_the_same_card_in_place(
    connector: FakeBotConnector, http: aiohttp.ClientSession
) -> None:
    adapter, _ = _adapter(connector, http)
    first = await adapter.send(sample_message(), _target())
    acked = sample_message(event="acknowledged", state="acknowledged", acknowledged_by="dana")
    second = await adapter.send(acked, _target(external_id=first.external_id))
    third = await adapter.send(resolved_message(), _target(external_id=first.external_id))

    assert connector.errors == []
    assert len(connector.calls("post")) == 1
    updates = connector.calls("update")
    assert [u.match["activityId"] for u in updates] == [first.external_id] * 2
    assert first.external_id == second.external_id == third.external_id
    card = connector.card(first.external_id)  # what the channel shows now
    assert card["body"][0]["items"][1]["text"] == "Back in stock after 3 h 35 min"
    assert "actions" not in card
    assert "Acknowledged by dana" in str(updates[0].body["attachments"][0]["content"])


async def test_personal_chat_without_a_stored_locale(
    connector: FakeBotConnector, http: aiohttp.ClientSession
) -> None:
    adapter, stored = _adapter(connector, http)
    del stored[PERSONAL]["locale"]  # the SDK would PUT "locale": null, which the Activity schema refuses
    first = await adapter.send(sample_message(), _target(PERSONAL))
    await adapter.send(resolved_message(), _target(PERSONAL, first.external_id))
    assert connector.errors == []
    assert connector.calls("update")[0].body["locale"] == "en-US"


@pytest.mark.parametrize("operation", ["post", "update"])
async def test_429_is_retryable_with_retry_after(
    connector: FakeBotConnector, http: aiohttp.ClientSession, operation: str
) -> None:
    adapter, _ = _adapter(connector, http)
    external_id = (
        (await adapter.send(sample_message(), _target())).external_id if operation == "update" else None
    )
    connector.fail_next(429, '{"error":{"code":"Throttled"}}', {"Retry-After": "3"}, operation=operation)
    with pytest.raises(RetryableError) as raised:
        await adapter.send(sample_message(event="updated"), _target(external_id=external_id))
    assert raised.value.retry_after == pytest.approx(3)
    assert "429" in str(raised.value)


async def test_a_failed_turn_posts_nothing_into_the_chat(
    connector: FakeBotConnector, http: aiohttp.ClientSession
) -> None:
    # The SDK's default on_turn_error would post "Exception caught : …" to the conversation.
    adapter, _ = _adapter(connector, http)
    connector.fail_next(500, "upstream broke", operation="post")
    with pytest.raises(RetryableError):
        await adapter.send(sample_message(), _target())
    assert len(connector.calls("post")) == 1
    assert connector.state.activities == {}


async def test_unknown_conversation_is_permanent_and_sends_nothing(
    connector: FakeBotConnector, http: aiohttp.ClientSession
) -> None:
    adapter, _ = _adapter(connector, http)
    with pytest.raises(PermanentError, match=r"no Teams conversation 19:gone@thread\.tacv2 is stored"):
        await adapter.send(sample_message(), _target("19:gone@thread.tacv2"))
    assert connector.requests == []


async def test_without_a_conversation_store_every_send_is_permanent(http: aiohttp.ClientSession) -> None:
    adapter = TeamsAdapter(TeamsSettings(), http)
    with pytest.raises(PermanentError, match="no conversation store"):
        await adapter.send(sample_message(), _target())


async def test_a_reference_without_user_is_refused(
    connector: FakeBotConnector, http: aiohttp.ClientSession
) -> None:
    adapter, stored = _adapter(connector, http)
    del stored[CHANNEL]["user"]
    with pytest.raises(PermanentError, match="lacks user"):
        await adapter.send(sample_message(), _target())


async def test_removed_app_is_permanent_with_a_hint(
    connector: FakeBotConnector, http: aiohttp.ClientSession
) -> None:
    adapter, _ = _adapter(connector, http)
    body = '{"error":{"code":"BotNotInConversationRoster","message":"The bot is not part of the roster."}}'
    connector.fail_next(403, body, operation="post")
    with pytest.raises(PermanentError, match="install the app there again"):
        await adapter.send(sample_message(), _target())


async def test_updating_a_deleted_card_is_permanent(
    connector: FakeBotConnector, http: aiohttp.ClientSession
) -> None:
    adapter, _ = _adapter(connector, http)
    with pytest.raises(PermanentError, match="404"):
        await adapter.send(resolved_message(), _target(external_id="1764140000000"))


async def test_concurrent_update_412_is_retryable(
    connector: FakeBotConnector, http: aiohttp.ClientSession
) -> None:
    adapter, _ = _adapter(connector, http)
    first = await adapter.send(sample_message(), _target())
    connector.fail_next(412, '{"error":{"code":"PreconditionFailed"}}', operation="update")
    with pytest.raises(RetryableError, match="412"):
        await adapter.send(resolved_message(), _target(external_id=first.external_id))


async def test_base_url_replaces_the_stored_service_url(
    connector: FakeBotConnector, http: aiohttp.ClientSession
) -> None:
    adapter, stored = _adapter(connector, http, base_url=connector.service_url)
    stored[CHANNEL]["serviceUrl"] = "https://smba.trafficmanager.net/amer/"  # never reached
    await adapter.send(sample_message(), _target())
    assert len(connector.calls("post")) == 1


async def test_posts_to_one_conversation_are_spaced(
    connector: FakeBotConnector, http: aiohttp.ClientSession
) -> None:
    adapter, _ = _adapter(connector, http, min_seconds_between_posts=0.3)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await asyncio.gather(*(adapter.send(sample_message(alert_id=n), _target()) for n in (1, 2, 3)))
    assert loop.time() - started >= 0.6
    await adapter.send(sample_message(), _target(PERSONAL))  # another conversation has its own budget
    assert len(connector.calls("post")) == 4


def test_budget_keeps_within_teams_limits() -> None:
    budget = RateLimiter(TeamsAdapter.rate_limits, min_gap=0.0)
    slots = []
    for _ in range(61):
        at = budget.next_slot("c", 100.0)
        budget.book("c", at)
        slots.append(at)
    assert slots[:7] == [100.0] * 7  # 7 a second …
    assert slots[7] == 101.0  # … and 8 in 2 seconds
    assert all(sum(1 for s in slots if t - 1 < s <= t) <= 7 for t in slots)
    assert all(sum(1 for s in slots if t - 30 < s <= t) <= 60 for t in slots)
    assert slots[60] >= 130.0  # the 61st waits for the 30-second window
    assert budget.next_slot("other", 100.0) == 100.0


def test_budget_minimum_gap() -> None:
    budget = RateLimiter(TeamsAdapter.rate_limits, min_gap=0.5)
    budget.book("c", 10.0)
    assert budget.next_slot("c", 10.1) == pytest.approx(10.5)
    assert budget.next_slot("c", 20.0) == 20.0


async def test_a_long_pacing_wait_is_retryable_not_slept(
    connector: FakeBotConnector, http: aiohttp.ClientSession
) -> None:
    adapter, _ = _adapter(connector, http, min_seconds_between_posts=60, timeout_seconds=1)
    await adapter.send(sample_message(), _target())
    with pytest.raises(RetryableError) as raised:
        await adapter.send(sample_message(event="updated"), _target())
    assert raised.value.retry_after == pytest.approx(60, abs=1)


def test_settings_need_the_password_with_an_app_id() -> None:
    with pytest.raises(ValidationError, match="app_password is required"):
        TeamsSettings(app_id="00000000-0000-0000-0000-000000000b07")


APP_ID = "00000000-0000-0000-0000-000000000b07"
TENANT = "00000000-0000-0000-0000-0000000000aa"


@pytest.fixture
async def issuer() -> AsyncIterator[LocalIssuer]:
    fake = LocalIssuer(app_id=APP_ID, app_password="teams-secret-value")
    await fake.start()
    yield fake
    await fake.close()


async def test_production_mode_sends_the_bots_own_bearer_token(
    connector: FakeBotConnector, issuer: LocalIssuer, http: aiohttp.ClientSession
) -> None:
    connector.require_bearer(issuer.bearer_problem)
    credentials = {"app_id": APP_ID, "app_password": "teams-secret-value", "tenant_id": TENANT}
    adapter, _ = _adapter(connector, http, **credentials, authority=issuer.authority)
    first = await adapter.send(sample_message(), _target())
    await adapter.send(resolved_message(), _target(external_id=first.external_id))
    assert connector.errors == [] and issuer.errors == []
    (token,) = issuer.calls("token")  # fetched once, cached for the update
    assert token.path == f"/{TENANT}/oauth2/v2.0/token"
    assert token.body["scope"] == "https://api.botframework.com/.default"
    assert token.body["grant_type"] == "client_credentials" and token.body["client_id"] == APP_ID
    (post,) = connector.calls("post")
    (update,) = connector.calls("update")
    assert post.headers["Authorization"] == update.headers["Authorization"] == f"Bearer {issuer.issued[0]}"
    assert adapter._identity().get_app_id() == APP_ID


async def test_a_refused_cached_token_is_dropped_and_the_retry_fetches_another(
    connector: FakeBotConnector, issuer: LocalIssuer, http: aiohttp.ClientSession
) -> None:
    connector.require_bearer(issuer.bearer_problem)
    credentials = {"app_id": APP_ID, "app_password": "teams-secret-value", "tenant_id": TENANT}
    adapter, _ = _adapter(connector, http, **credentials, authority=issuer.authority)
    first = await adapter.send(sample_message(), _target())
    # The connector refuses the cached token (revoked early): retryable, and the next try has a new one.
    connector.fail_next(401, '{"error": {"code": "Unauthorized"}}', operation="update")
    with pytest.raises(RetryableError, match="refused the cached access token"):
        await adapter.send(sample_message(event="updated"), _target(external_id=first.external_id))
    await adapter.send(sample_message(event="updated"), _target(external_id=first.external_id))
    assert len(issuer.calls("token")) == 2
    assert connector.calls("update")[-1].headers["Authorization"] == f"Bearer {issuer.issued[1]}"
    # A token that never worked, refused, is refused on its merits (the app registration): permanent.
    fresh, _ = _adapter(connector, http, **credentials, authority=issuer.authority)
    connector.fail_next(401, '{"error": {"code": "Unauthorized"}}', operation="post")
    with pytest.raises(PermanentError, match="401"):
        await fresh.send(sample_message(), _target())
    assert connector.errors == [] and issuer.errors == []


async def test_a_us_government_bot_asks_for_the_us_government_scope(
    connector: FakeBotConnector, http: aiohttp.ClientSession
) -> None:
    issuer = LocalIssuer(
        app_id=APP_ID,
        app_password="gov-secret-value",
        issuer="https://api.botframework.us",
        resource="https://api.botframework.us",
    )
    await issuer.start()
    try:
        connector.require_bearer(issuer.bearer_problem)
        # A multi-tenant bot: the token comes from the cloud's channel-auth tenant.
        credentials = {"app_id": APP_ID, "app_password": "gov-secret-value", "cloud": "gcc_high"}
        adapter, _ = _adapter(connector, http, **credentials, authority=issuer.authority)
        await adapter.send(sample_message(), _target())
        assert connector.errors == [] and issuer.errors == []
        (token,) = issuer.calls("token")
        assert token.path == "/MicrosoftServices.onmicrosoft.us/oauth2/v2.0/token"
        assert token.body["scope"] == "https://api.botframework.us/.default"
    finally:
        await issuer.close()


async def test_refused_credentials_are_permanent_and_say_so(
    connector: FakeBotConnector, issuer: LocalIssuer, http: aiohttp.ClientSession
) -> None:
    credentials = {"app_id": APP_ID, "app_password": "not-the-secret", "tenant_id": TENANT}
    adapter, _ = _adapter(connector, http, **credentials, authority=issuer.authority)
    with pytest.raises(PermanentError) as raised:
        await adapter.send(sample_message(), _target())
    assert "Bot Framework token endpoint" in str(raised.value) and "401" in str(raised.value)
    assert "not-the-secret" not in str(raised.value)
    assert connector.requests == []  # nothing was posted without a token


async def test_an_escalation_steps_people_are_mentioned(
    connector: FakeBotConnector, http: aiohttp.ClientSession
) -> None:
    adapter, _ = _adapter(connector, http)
    mentioned = "8c0a7b3e-0000-4000-8000-00000000aa01"  # an Entra object id from [policies] mention
    await adapter.send(sample_message(event="escalated", mentions=(mentioned,)), _target())
    assert connector.errors == []  # the activity, entities included, is checked against the connector schema
    (post,) = connector.calls("post")
    assert post.body["text"] == f"cc <at>{mentioned}</at>"
    (entity,) = post.body["entities"]
    assert (entity["type"], entity["mentioned"]["id"]) == ("mention", mentioned)
