"""Slack distribution end to end, on both databases: "Add to Slack" through the real app and Bolt's OAuth flow
against FakeSlack's ``oauth.v2.access`` (checked against the vendor spec), tokens encrypted in stockbot's
database, each workspace's requests and cards on its own token, and uninstalling.
"""

from __future__ import annotations

import json
import logging
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select

from stockbot.bot.config import ConfigError
from stockbot.bot.logs import RedactingFilter
from stockbot.bot.runtime import SECRET_KEY_VAR, check_config
from stockbot.storage.slack_installations import SlackInstallations
from stockbot.storage.tables import deliveries, slack_home_views, slack_installations
from tests.conftest import HarnessFactory
from tests.fakes import slack_api
from tests.fakes.shared import vector
from tests.fakes.slack_api import TEAM_ID, FakeSlack
from tests.helpers import StockbotHarness, event
from tests.helpers import test_config as config_of
from tests.test_slack_app import REP, SECRET, SKU, audit, deliver, front, post, signed, slack_overrides
from tests.test_slack_home import home_opened, json_signed

fake_slack = slack_api.fake_slack  # the fixture

EAST, WEST = "T0EAST", "T0WEST"
EAST_SALES, WEST_SALES = "C0EASTSALES", "C0WESTSALES"
EAST_REP, EAST_BOSS, WEST_REP = "U0EASTREP", "U0EASTBOSS", "U0WESTREP"
PUBLIC_URL = "https://stockbot.example.com"
KEY = Fernet.generate_key().decode()


@pytest.fixture(autouse=True)
def secret_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SECRET_KEY_VAR, KEY)


def distributed(fake: FakeSlack, **slack: Any) -> dict[str, Any]:
    return {
        "server": {"public_url": PUBLIC_URL},
        "slack": {
            "client_id": fake.client_id,
            "client_secret": fake.client_secret,
            "signing_secret": SECRET,
            "api_url": fake.api_url,
            "min_seconds_between_posts": 0,
            "workspaces": {
                EAST: {"name": "Acme East", "roles": {"rep": [EAST_REP], "manager": [EAST_BOSS]}},
                WEST: {"name": "Acme West", "roles": {"rep": [WEST_REP]}},
            },
            **slack,
        },
        "channels": {
            "east-sales": {"adapter": "slack", "address": f"{EAST}/{EAST_SALES}"},
            "west-sales": {"adapter": "slack", "address": f"{WEST}/{WEST_SALES}"},
        },
        "routes": [{"channels": ["east-sales", "west-sales"]}],
    }


async def install(harness: StockbotHarness, fake: FakeSlack, team: str, name: str, installer: str) -> str:
    """A person opens the install link, approves on Slack, and comes back: returns the success page."""
    assert harness.http is not None
    async with harness.http.get(harness.url + "/slack/install", allow_redirects=False) as response:
        assert response.status == 302, await response.text()
        location, cookie = response.headers["Location"], response.headers["Set-Cookie"]
    authorize = urlsplit(location)
    assert (
        f"{authorize.scheme}://{authorize.netloc}{authorize.path}" == "https://slack.com/oauth/v2/authorize"
    )
    query = {k: v[0] for k, v in parse_qs(authorize.query).items()}
    assert query["client_id"] == fake.client_id
    assert query["scope"] == "chat:write,commands,usergroups:read,users:read"
    assert query["redirect_uri"] == PUBLIC_URL + "/slack/oauth_redirect"
    state = query["state"]
    assert f"slack-app-oauth-state={state}" in cookie and "Secure" in cookie and "HttpOnly" in cookie

    back = urlencode({"code": fake.consent(team, name, installer), "state": state})
    headers = {"Cookie": f"slack-app-oauth-state={state}"}  # the browser sends the cookie back to us
    async with harness.http.get(f"{harness.url}/slack/oauth_redirect?{back}", headers=headers) as response:
        assert response.status == 200, await response.text()
        return await response.text()


def command(team: str, user: str, channel: str, text: str) -> bytes:
    fields = dict(vector("slack_slash_command")["parsed"])
    fields.update(command="/stock", text=text, user_id=user, channel_id=channel, team_id=team)
    fields.pop("response_url", None)
    return urlencode(fields).encode()


def event_body(team: str, inner: dict[str, Any]) -> bytes:
    return json.dumps(
        {
            "team_id": team,
            "api_app_id": "A0STOCKBOT",
            "type": "event_callback",
            "event_id": "Ev1",
            "event": inner,
        }
    ).encode()


async def rows(harness: StockbotHarness, table: Any) -> list[Any]:
    assert harness.runtime is not None
    async with harness.runtime.engine.connect() as conn:
        return list((await conn.execute(select(table))).mappings().all())


def bearer(call: Any) -> str:
    return str(call.headers["Authorization"]).removeprefix("Bearer ")


async def test_install_store_encrypted_act_and_post_per_workspace_then_uninstall(
    stockbot: HarnessFactory, fake_slack: FakeSlack
) -> None:
    harness = await stockbot(**distributed(fake_slack))
    page = await install(harness, fake_slack, EAST, "Acme East", installer=EAST_BOSS)
    assert "Thank you" in page
    await install(harness, fake_slack, WEST, "Acme West", installer=WEST_REP)
    east, west = fake_slack.token_of(EAST), fake_slack.token_of(WEST)

    # oauth.v2.access was called with the app's credentials (HTTP Basic) and the code, as the spec says.
    (exchange, _) = fake_slack.calls("oauth.v2.access")
    assert exchange.headers["Authorization"].startswith("Basic ") and "code" in exchange.body
    assert fake_slack.errors == []

    # Stored encrypted: the database never holds the token, the key turns it back.
    stored = {row["team_id"]: row for row in await rows(harness, slack_installations)}
    assert set(stored) == {EAST, WEST}
    assert east not in stored[EAST]["secrets"] and "xoxb-" not in stored[EAST]["secrets"]
    assert json.loads(Fernet(KEY.encode()).decrypt(stored[EAST]["secrets"].encode()))["bot_token"] == east
    assert (stored[EAST]["team_name"], stored[EAST]["installer_user_id"]) == ("Acme East", EAST_BOSS)
    installed = await audit(harness, "slack.installed")
    assert [(r["actor"], r["subject"]) for r in installed] == [
        (f"slack:{EAST_BOSS}", f"slack:{EAST}"),
        (f"slack:{WEST_REP}", f"slack:{WEST}"),
    ]

    # A slash command from the East workspace is answered with East's token.
    raw = command(EAST, EAST_REP, EAST_SALES, SKU)
    status, body, _ = await post(harness, raw, signed(harness, raw))
    assert status == 200, body
    await front(harness).settle(5)
    (answer,) = fake_slack.calls("chat.postEphemeral")
    assert bearer(answer) == east and answer.body["channel"] == EAST_SALES
    assert "Mortal Kombat Legacy Kit cabinet" in json.dumps(answer.body["blocks"])

    # A card goes to each workspace's channel with that workspace's token.
    await harness.send(event(SKU, 0))
    await deliver(harness)
    posted = {call.body["channel"]: bearer(call) for call in fake_slack.calls("chat.postMessage")}
    assert posted == {EAST_SALES: east, WEST_SALES: west}
    receipts = {row["channel"]: row["external_id"] for row in await rows(harness, deliveries)}
    assert receipts["east-sales"].startswith(f"{EAST}/{EAST_SALES}:")

    # The Home tab in East, on East's token, with East's roles: the East manager may escalate.
    raw = event_body(EAST, json.loads(home_opened(EAST_BOSS))["event"])
    status, body, _ = await post(harness, raw, json_signed(harness, raw))
    assert status == 200, body
    await front(harness).settle(5)
    (published,) = fake_slack.calls("views.publish")
    assert bearer(published) == east
    assert "stockbot_escalate" in json.dumps(fake_slack.home(EAST_BOSS, EAST))

    # East removes the app: its tokens and Home viewers are deleted, and it is audited.
    raw = event_body(EAST, {"type": "app_uninstalled", "event_ts": "1764148000.000300"})
    status, body, _ = await post(harness, raw, json_signed(harness, raw))
    assert status == 200, body
    fake_slack.revoke(EAST)
    assert [row["team_id"] for row in await rows(harness, slack_installations)] == [WEST]
    assert await rows(harness, slack_home_views) == []
    (removed,) = await audit(harness, "slack.uninstalled")
    assert removed["actor"] == f"slack:{EAST}" and removed["subject"] == f"slack:{EAST}"
    assert removed["detail"] == {"reason": "app_uninstalled", "had_tokens": True}

    # Slack would no longer send East's requests; one that arrives anyway is told to reinstall.
    raw = command(EAST, EAST_REP, EAST_SALES, SKU)
    status, body, _ = await post(harness, raw, signed(harness, raw))
    assert status == 200 and "reinstall" in body
    assert len(fake_slack.calls("chat.postEphemeral")) == 1

    # Later cards for East fail for good with the fix named; West goes on.
    await harness.send(event(SKU, 6, at=harness.later(hours=1), event_id="back"))
    await deliver(harness)
    failed = [row for row in await rows(harness, deliveries) if row["status"] == "failed"]
    assert [row["channel"] for row in failed] == ["east-sales"]
    assert (
        "has not installed stockbot" in failed[0]["last_error"]
        and "/slack/install" in failed[0]["last_error"]
    )
    assert all(bearer(call) == west for call in fake_slack.calls("chat.update"))
    assert fake_slack.errors == []


async def test_revoked_bot_tokens_are_deleted_and_audited(
    stockbot: HarnessFactory, fake_slack: FakeSlack
) -> None:
    harness = await stockbot(**distributed(fake_slack))
    await install(harness, fake_slack, EAST, "Acme East", installer=EAST_BOSS)
    user_only = event_body(EAST, {"type": "tokens_revoked", "tokens": {"oauth": [EAST_REP], "bot": []}})
    status, _, _ = await post(harness, user_only, json_signed(harness, user_only))
    assert status == 200
    assert len(await rows(harness, slack_installations)) == 1  # only a user's token: stockbot keeps none

    raw = event_body(EAST, {"type": "tokens_revoked", "tokens": {"oauth": [], "bot": ["U0STOCKBOT"]}})
    status, _, _ = await post(harness, raw, json_signed(harness, raw))
    assert status == 200
    assert await rows(harness, slack_installations) == []
    (removed,) = await audit(harness, "slack.uninstalled")
    assert removed["detail"]["reason"] == "tokens_revoked"


async def test_one_configured_workspace_uninstalling_is_audited_and_logged(
    stockbot: HarnessFactory, fake_slack: FakeSlack, caplog: pytest.LogCaptureFixture
) -> None:
    harness = await stockbot(**slack_overrides(fake_slack))
    raw = home_opened(REP)
    await post(harness, raw, json_signed(harness, raw))
    await front(harness).settle(5)
    raw = event_body(TEAM_ID, {"type": "app_uninstalled"})
    status, _, _ = await post(harness, raw, json_signed(harness, raw))
    assert status == 200
    (removed,) = await audit(harness, "slack.uninstalled")
    assert removed["detail"] == {"reason": "app_uninstalled", "had_tokens": False}
    assert await rows(harness, slack_home_views) == []
    assert any("bot_token no longer works" in r.getMessage() for r in caplog.records)


async def test_an_installation_without_its_browser_cookie_is_refused_and_audited(
    stockbot: HarnessFactory, fake_slack: FakeSlack
) -> None:
    harness = await stockbot(**distributed(fake_slack))
    assert harness.http is not None
    async with harness.http.get(harness.url + "/slack/install", allow_redirects=False) as response:
        state = parse_qs(urlsplit(response.headers["Location"]).query)["state"][0]
    back = urlencode({"code": fake_slack.consent(EAST), "state": state})
    async with harness.http.get(f"{harness.url}/slack/oauth_redirect?{back}") as response:
        assert response.status == 400  # a link forwarded to someone else's browser
    async with harness.http.get(
        f"{harness.url}/slack/oauth_redirect?{urlencode({'code': 'x', 'state': 'forged'})}",
        headers={"Cookie": "slack-app-oauth-state=forged"},
    ) as response:
        assert response.status == 401  # a state stockbot never issued
    assert fake_slack.calls("oauth.v2.access") == [] and await rows(harness, slack_installations) == []
    reasons = [row["detail"]["reason"] for row in await audit(harness, "request.refused")]
    assert reasons == [
        "installation not completed: invalid_browser",
        "installation not completed: invalid_state",
    ]


async def test_tokens_never_reach_the_logs(
    stockbot: HarnessFactory, fake_slack: FakeSlack, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.handler.addFilter(RedactingFilter())  # what `stockbot serve` puts on its log handler
    caplog.set_level(logging.DEBUG)
    harness = await stockbot(**distributed(fake_slack))
    await install(harness, fake_slack, EAST, "Acme East", installer=EAST_BOSS)
    await harness.send(event(SKU, 0))
    await deliver(harness)
    token = fake_slack.token_of(EAST)
    assert caplog.records and token not in caplog.text and fake_slack.client_secret not in caplog.text


async def test_the_store_keeps_only_ciphertext_and_a_wrong_key_reads_nothing(sqlite_url: str) -> None:
    from slack_sdk.oauth.installation_store import Installation

    from stockbot.storage.db import create_engine, upgrade

    engine = create_engine(sqlite_url)
    try:
        await upgrade(engine)
        store = SlackInstallations(engine, KEY)
        token = "xoxb-T0EAST-1-abcdefabcdef"
        await store.async_save(Installation(team_id=EAST, bot_token=token, bot_id="B1", user_id="U1"))
        assert await store.bot_token(EAST) == token
        assert await store.bot_token(WEST) is None
        other = SlackInstallations(engine, Fernet.generate_key().decode())
        assert await other.bot_token(EAST) is None  # the key was replaced: reinstall, no crash
        new = Fernet.generate_key().decode()
        rotated = SlackInstallations(engine, f"{new},{KEY}")
        assert await rotated.bot_token(EAST) == token  # NEW,OLD: the old key still reads…
        assert await SlackInstallations(engine, new).bot_token(EAST) == token  # …and it was stored anew
    finally:
        await engine.dispose()


# --- configuration ---------------------------------------------------------------------------------------


def config_problems(fake: FakeSlack, **changes: Any) -> str:
    raw = distributed(fake)
    for key, value in changes.items():
        section, _, field = key.partition("__")
        if value is None:
            raw[section].pop(field, None)
        else:
            raw[section][field] = value
    with pytest.raises(ConfigError) as caught:
        config_of("sqlite+aiosqlite:///:memory:", **raw)
    return str(caught.value)


def test_distribution_config_is_validated(fake_slack: FakeSlack) -> None:
    assert "not both" in config_problems(fake_slack, slack__bot_token="xoxb-1-2-3")
    assert "client_secret is missing" in config_problems(fake_slack, slack__client_secret=None)
    assert "set bot_token" in config_problems(fake_slack, slack__client_id=None, slack__client_secret=None)
    assert "slack.workspaces: 'acme' is not a Slack team id" in config_problems(
        fake_slack, slack__workspaces={"acme": {}}
    )
    problem = config_problems(fake_slack, channels__bare={"adapter": "slack", "address": "C0BARE"})
    assert "channels.bare.address: say which workspace the channel is in: TEAM_ID/C0BARE" in problem
    assert "slack.redirect_url" in config_problems(fake_slack, server__public_url=None)
    # With a redirect_url of its own, no public_url is needed.
    raw = distributed(fake_slack)
    raw["server"] = {}
    raw["slack"]["redirect_url"] = "https://stockbot.example.com/slack/oauth_redirect"
    config_of("sqlite+aiosqlite:///:memory:", **raw)


def test_one_workspace_keeps_plain_channel_ids(fake_slack: FakeSlack) -> None:
    raw = {
        "slack": {"bot_token": "xoxb-1-2-3", "api_url": fake_slack.api_url},
        "channels": {"sales": {"adapter": "slack", "address": "T0EAST/C0SALES"}},
    }
    with pytest.raises(ConfigError, match=r"channels.sales.address: write the channel id alone \(C0SALES\)"):
        config_of("sqlite+aiosqlite:///:memory:", **raw)


def test_workspace_roles_hold_only_in_their_workspace(fake_slack: FakeSlack) -> None:
    from stockbot.bot.permissions import Actor, roles_of

    config = config_of("sqlite+aiosqlite:///:memory:", **distributed(fake_slack))
    assert config.roles.manager == [f"{EAST}/{EAST_BOSS}"]
    assert roles_of(config.roles, Actor(EAST_BOSS, "slack", team=EAST)) == {"manager"}
    assert roles_of(config.roles, Actor(EAST_BOSS, "slack", team=WEST)) == set()


def test_the_secret_key_is_required(fake_slack: FakeSlack) -> None:
    config = config_of("sqlite+aiosqlite:///:memory:", **distributed(fake_slack))
    with pytest.raises(ConfigError, match=r"STOCKBOT_SECRET_KEY is not set: \[slack\] client_id"):
        check_config(config, env={})


def test_config_check_names_the_install_link(tmp_path: Any) -> None:
    from tests.test_cli import stockbot as run

    path = tmp_path / "stockbot.toml"
    path.write_text(
        f'[storage]\nurl = "sqlite:///{tmp_path / "cli.db"}"\n[server]\npublic_url = "{PUBLIC_URL}"\n'
        '[slack]\nclient_id = "1111.2222"\nclient_secret = "client-secret-0123456789"\n'
        f'[slack.workspaces.{EAST}]\nname = "Acme East"\n'
        f'[channels.east]\nadapter = "slack"\naddress = "{EAST}/{EAST_SALES}"\n'
    )
    out = run("config", "check", config=path).stdout
    assert f"installed per workspace from {PUBLIC_URL}/slack/install" in out
    assert f"workspace {EAST} (Acme East)" in out and "client-secret" not in out
