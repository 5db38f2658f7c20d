"""Production mode (``[teams] app_id`` set) end to end, offline: real RS256 tokens both ways.

A local issuer (``tests/fakes/bot_framework_auth.py``) plays Microsoft's login side: the OpenID metadata, the
JWKS with its own RSA key, and the client-credentials token endpoint. stockbot is pointed at it through the
same ``[teams]`` keys a government tenant uses (``authority``, ``openid_metadata_url``), checks every
inbound token against it, and sends its own token with every reply, post and update; the fake Bot Connector
refuses any call without a token the issuer signed for the app.
"""

from __future__ import annotations

import json
import logging
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import select

from stockbot.adapters.render.teams import VERB_ACK
from stockbot.adapters.teams_config import CLOUDS
from stockbot.bot.config import ConfigError, parse_config
from stockbot.storage import teams as conversations
from stockbot.storage.tables import audit_events
from tests.conftest import HarnessFactory
from tests.fakes.bot_connector import FakeBotConnector, card_errors
from tests.fakes.bot_framework_auth import LocalIssuer, new_key
from tests.helpers import StockbotHarness, event
from tests.test_teams_app import APP_ID, CHANNEL, ROLES, TENANT, activity, click, install, mention

SECRET = "client-secret-value-0123"


@pytest.fixture
async def connector() -> AsyncIterator[FakeBotConnector]:
    fake = FakeBotConnector()
    await fake.start()
    yield fake
    await fake.close()


@pytest.fixture
async def issuer() -> AsyncIterator[LocalIssuer]:
    fake = LocalIssuer(app_id=APP_ID, app_password=SECRET)
    await fake.start()
    yield fake
    await fake.close()


def teams_section(issuer: LocalIssuer, **extra: Any) -> dict[str, Any]:
    return {
        "app_id": APP_ID,
        "app_password": SECRET,
        "tenant_id": TENANT,
        "authority": issuer.authority,
        "openid_metadata_url": issuer.openid_metadata_url,
        **extra,
    }


async def send(
    harness: StockbotHarness, body: dict[str, Any], token: str | None
) -> tuple[int, Any, dict[str, str]]:
    assert harness.http is not None
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with harness.http.post(harness.url + "/api/messages", json=body, headers=headers) as response:
        text = await response.text()
        parsed = json.loads(text) if text and "json" in response.content_type else text
        return response.status, parsed, dict(response.headers)


async def refusals(harness: StockbotHarness) -> list[dict[str, Any]]:
    assert harness.runtime is not None
    query = select(audit_events).where(audit_events.c.kind == "request.refused").order_by(audit_events.c.id)
    async with harness.runtime.engine.connect() as conn:
        return [dict(row) for row in (await conn.execute(query)).mappings().all()]


def bearers(connector: FakeBotConnector) -> set[str | None]:
    return {r.headers.get("Authorization") for r in connector.requests}


async def test_install_card_and_click_with_real_tokens_both_ways(
    stockbot: HarnessFactory, connector: FakeBotConnector, issuer: LocalIssuer
) -> None:
    connector.require_bearer(issuer.bearer_problem)
    harness = await stockbot(
        teams=teams_section(issuer),
        channels={"sales_teams": {"adapter": "teams", "address": CHANNEL}},
        routes=[{"channels": ["sales_teams"]}],
        roles=ROLES,
    )
    assert harness.runtime is not None

    def token() -> str:
        return issuer.token(service_url=connector.service_url)

    # Installed: the reference is stored and the welcome reply carries stockbot's own token.
    status, _, _ = await send(harness, install(connector), token())
    assert status == 202
    assert await conversations.load_reference(harness.runtime.engine, CHANNEL) is not None
    assert "stockbot is installed here" in connector.calls("post")[-1].body["text"]

    # An inventory event: the proactive card is posted with the token too.
    await harness.send(event("CAB-MK-LEGACY", 0))
    assert await harness.deliver() == 1
    (card_id,) = [a for a in connector.activity_ids(CHANNEL) if "attachments" in connector.activity(a)]
    alert_id = connector.card(card_id)["actions"][0]["data"]["alert_id"]

    # A click: answered with the refreshed card; the outbox then updates the posted card in place.
    status, answer, _ = await send(harness, click(connector, VERB_ACK, alert_id, card_id=card_id), token())
    assert status == 200 and answer["statusCode"] == 200, answer
    assert card_errors(answer["value"]) == []
    assert "Acknowledged by Rita Rep" in json.dumps(answer["value"])
    harness.later(seconds=5)
    assert await harness.deliver() == 1
    (update,) = connector.calls("update")
    assert update.match["activityId"] == card_id
    assert "Acknowledged by Rita Rep" in json.dumps(connector.card(card_id))

    # Every Bot Connector call carried the one token stockbot fetched (client credentials, once).
    assert connector.errors == [] and issuer.errors == []
    (fetched,) = issuer.calls("token")
    assert fetched.path == f"/{TENANT}/oauth2/v2.0/token"
    assert fetched.body["scope"] == "https://api.botframework.com/.default"
    assert bearers(connector) == {f"Bearer {issuer.issued[0]}"}
    # The metadata and the keys were read once, and kept.
    assert len(issuer.calls("metadata")) == 1 and len(issuer.calls("keys")) == 1
    assert await refusals(harness) == []


async def test_forged_expired_and_foreign_tokens_are_refused_and_audited(
    stockbot: HarnessFactory, connector: FakeBotConnector, issuer: LocalIssuer
) -> None:
    harness = await stockbot(teams=teams_section(issuer), roles=ROLES)
    here = connector.service_url
    cases = {
        "forged": (issuer.token(service_url=here, key=new_key()), "the signature does not verify"),
        "expired": (issuer.token(service_url=here, expires_in=-600), "expired"),
        "wrong audience": (
            issuer.token(service_url=here, audience="11111111-2222-3333-4444-555555555555"),
            "its audience is not this bot's app id",
        ),
        "wrong issuer": (
            issuer.token(service_url=here, issuer="https://evil.example.com"),
            "its issuer is not one of [teams] token_issuers",
        ),
        "no kid": (
            issuer.token(service_url=here, headers={"kid": None}),
            "its header names no signing key (kid)",
        ),
        "unknown key": (
            issuer.token(service_url=here, key=new_key(), headers={"kid": "someone-elses-key"}),
            "signed with a key the Bot Framework does not list",
        ),
        "other serviceUrl": (
            issuer.token(service_url="https://smba.evil.example.com/amer/"),
            "the activity's serviceUrl does not match the token",
        ),
    }
    for name, (token, _) in cases.items():
        status, body, _ = await send(harness, mention(connector, "stock pacman"), token)
        assert status == 401, (name, body)
    rows = await refusals(harness)
    assert [r["detail"]["reason"].rpartition(": ")[2] for r in rows] == [why for _, why in cases.values()]
    assert {(r["actor"], r["subject"]) for r in rows} == {("teams:?", "/api/messages")}
    assert connector.requests == [] and issuer.calls("token") == []  # nothing answered, nothing stored
    assert harness.runtime is not None and await conversations.listing(harness.runtime.engine) == []
    # An unknown key id re-reads the keys at most once per cooldown: one read for all those tokens.
    assert len(issuer.calls("keys")) == 1

    # The same token with the right serviceUrl is accepted.
    status, _, _ = await send(harness, mention(connector, "help"), issuer.token(service_url=here))
    assert status == 202


async def test_a_us_government_bot(stockbot: HarnessFactory, connector: FakeBotConnector) -> None:
    """cloud = "gcc_high" fills the US Government issuer and scope; the login endpoints are overridden to
    the local issuer, as a tenant behind a proxy would."""
    gov = LocalIssuer(
        app_id=APP_ID,
        app_password=SECRET,
        issuer="https://api.botframework.us",
        resource="https://api.botframework.us",
    )
    await gov.start()
    try:
        connector.require_bearer(gov.bearer_problem)
        harness = await stockbot(teams=teams_section(gov, cloud="gcc_high"))
        personal = "a:1Xq9-personal-chat-with-rita"
        hello = activity(connector, "message", conversation=personal, scope="personal", text="help")
        status, _, _ = await send(harness, hello, gov.token(service_url=connector.service_url))
        assert status == 202
        assert "`stock CAB-PACMAN-UP`" in connector.calls("post")[-1].body["text"]
        (fetched,) = gov.calls("token")
        assert fetched.body["scope"] == "https://api.botframework.us/.default"
        assert connector.errors == [] and gov.errors == []

        public = gov.token(service_url=connector.service_url, issuer="https://api.botframework.com")
        status, _, _ = await send(harness, hello, public)
        assert status == 401
        (row,) = await refusals(harness)
        assert row["detail"]["reason"].endswith("its issuer is not one of [teams] token_issuers")
    finally:
        await gov.close()


async def test_unreachable_signing_keys_are_503_not_a_refusal(
    stockbot: HarnessFactory, connector: FakeBotConnector, issuer: LocalIssuer
) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}/v1/.well-known/openidconfiguration"
    harness = await stockbot(teams=teams_section(issuer, openid_metadata_url=closed))
    token = issuer.token(service_url=connector.service_url)
    status, body, headers = await send(harness, mention(connector, "help"), token)
    assert status == 503 and headers["Retry-After"] == "30"
    assert body["detail"] == "stockbot cannot check Bot Framework tokens now"
    assert await refusals(harness) == [] and connector.requests == []
    status, _, _ = await send(harness, mention(connector, "help"), token)
    assert status == 503  # answered from the failure just seen, without trying again at once
    # A token without a key id is still refused at once: nothing to look up.
    status, _, _ = await send(
        harness, mention(connector, "help"), issuer.token(service_url="x", headers={"kid": None})
    )
    assert status == 401 and len(await refusals(harness)) == 1


async def test_refused_credentials_of_our_own_are_503_and_logged(
    stockbot: HarnessFactory,
    connector: FakeBotConnector,
    issuer: LocalIssuer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    harness = await stockbot(teams=teams_section(issuer, app_password="a-rotated-old-secret"))
    token = issuer.token(service_url=connector.service_url)
    with caplog.at_level(logging.ERROR, logger="stockbot.teams"):
        status, body, _ = await send(harness, mention(connector, "help"), token)
    assert status == 503 and body["detail"] == "stockbot could not get its own Bot Framework token"
    assert any("invalid_client" in r.getMessage() for r in caplog.records)
    assert not any("a-rotated-old-secret" in r.getMessage() for r in caplog.records)
    assert connector.requests == [] and await refusals(harness) == []


# --- the [teams] keys ---------------------------------------------------------------------------------------


def test_cloud_presets_match_the_sdks_constants() -> None:
    from microsoft_agents.hosting.core.authorization import AuthenticationConstants as sdk

    public, gov = CLOUDS["public"], CLOUDS["gcc_high"]
    assert public.token_issuers == (sdk.AGENTS_SDK_TOKEN_ISSUER,)
    assert gov.token_issuers == (sdk.GOV_AGENTS_SDK_TOKEN_ISSUER,)
    assert public.openid_metadata_url == sdk.PUBLIC_ABS_OPENID_METADATA_URL
    assert gov.openid_metadata_url == sdk.GOV_ABS_OPENID_METADATA_URL
    assert public.scope == sdk.AGENTS_SDK_SCOPE + "/.default"
    assert CLOUDS["dod"] == gov
    assert public.token_url(None) == "https://login.microsoftonline.com/botframework.com/oauth2/v2.0/token"
    assert gov.token_url(TENANT) == f"https://login.microsoftonline.us/{TENANT}/oauth2/v2.0/token"


@pytest.mark.parametrize(
    ("teams", "expected"),
    [
        ({"cloud": "usgov"}, "teams: cloud: 'usgov' is not a Microsoft cloud stockbot knows"),
        (
            {"cloud": "public", "scope": "https://api.botframework.us/.default"},
            "teams: the Bot Framework endpoints mix Microsoft clouds (authority (from cloud 'public')",
        ),
        ({"scope": "https://api.botframework.com"}, 'write the resource followed by "/.default"'),
        (
            {
                "cloud": "gcc_high",
                "authority": "https://login.microsoftonline.us/MicrosoftServices.onmicrosoft.us",
            },
            "teams: authority: write only the login endpoint, e.g. https://login.microsoftonline.us",
        ),
        ({"openid_metadata_url": "http://login.example.com/x"}, "must be an https:// URL"),
        ({"token_issuers": []}, "token_issuers: list at least one issuer"),
    ],
)
def test_the_cloud_keys_are_checked_at_config_time(teams: dict[str, Any], expected: str) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_config({"teams": teams}, env={})
    assert expected in str(raised.value)


def test_each_key_overrides_the_preset() -> None:
    config = parse_config(
        {
            "teams": {
                "cloud": "dod",
                "authority": "https://login-proxy.agency.example/",
                "token_issuers": ["https://api.botframework.us", "https://issuer.agency.example"],
            }
        },
        env={},
    )
    endpoints = config.settings_for("teams").endpoints  # type: ignore[attr-defined]
    assert endpoints.authority == "https://login-proxy.agency.example"
    assert endpoints.token_issuers == ("https://api.botframework.us", "https://issuer.agency.example")
    assert endpoints.scope == "https://api.botframework.us/.default"  # from the preset
    assert endpoints.openid_metadata_url == CLOUDS["dod"].openid_metadata_url
