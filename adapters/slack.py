"""Slack: one interactive Block Kit card per alert, edited in place, with a thread reply per later event.

API: https://api.slack.com/methods/chat.postMessage and https://api.slack.com/methods/chat.update
(slack_sdk's ``AsyncWebClient`` on our shared aiohttp session, one attempt: no SDK retry handlers).

Address: a channel id (``C0123ABCD``, private ``G…``, DM ``D…``) or ``#channel-name``. Invite the bot to the
channel (``/invite @stockbot``): the app does not ask for ``chat:write.public``.
Receipt: ``"<channel id>:<message ts>"``, e.g. ``C0123ABCD:1764149400.000100``.

Several workspaces: with ``[slack] client_id`` / ``client_secret`` instead of ``bot_token``, stockbot is
installed into each workspace from its "Add to Slack" link and keeps each workspace's bot token in the
database (encrypted; ``storage/slack_installations.py``, the ``slack_installations`` service). An address
then names its workspace first, ``T0123ABCD/C0456EFGH``, and the card is posted with that workspace's
token; the receipt keeps the workspace too (``T0123ABCD/C0456EFGH:1764149400.000100``).

First event: post the card. Every later event rewrites the card with chat.update (acknowledged cards lose
the Acknowledge button, resolved cards lose all buttons) and, for acknowledge / snooze / escalate / a worse
severity / resolve / reopen, posts one line in the card's thread. If the card was deleted, a fresh card is
posted and its id returned. Posts are paced to about one per second per channel, Slack's documented limit.
Buttons are answered by the Bolt front end; action ids are in :mod:`adapters.render.slack`.
"""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any, ClassVar, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import aiohttp
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

from stockbot.adapters.base import (
    ALL_EVENTS,
    AdapterSettings,
    AlertMessage,
    DeliveryError,
    PermanentError,
    RateLimit,
    Receipt,
    RetryableError,
    Target,
    parse_retry_after,
    register_secret,
)
from stockbot.adapters.ratelimit import RateLimiter
from stockbot.adapters.render.slack import alert_blocks, alert_text, thread_text

_TEAM = re.compile(r"^T[A-Z0-9]{2,}$")
_ADDRESS = re.compile(r"^(?:(T[A-Z0-9]{2,})/)?([CGD][A-Z0-9]{2,}|#[a-z0-9][a-z0-9._-]{0,79})$")
_EXTERNAL_ID = re.compile(r"^(?:(T[A-Z0-9]{2,})/)?([CGD][A-Z0-9]{2,}):(\d+\.\d+)$")
THREAD_EVENTS = frozenset({"acknowledged", "snoozed", "escalated", "worsened", "resolved", "reopened"})

# Slack's ``error`` codes, classified once. Anything not listed is permanent: repeating a request Slack
# refused for a reason we do not know only repeats the refusal. The hint tells the admin what to fix.
_RETRYABLE_CODES = frozenset(
    {"ratelimited", "rate_limited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}
)
_HINTS = {
    "channel_not_found": "check the channel id in [channels] address (C…/G…) and that the bot can see it",
    "not_in_channel": "invite the bot to the channel: /invite @stockbot",
    "is_archived": "the channel is archived; unarchive it or route alerts to another channel",
    "invalid_auth": "check bot_token in the [slack] section (xoxb-…)",
    "not_authed": "set bot_token in the [slack] section",
    "token_revoked": "the bot token was revoked; reinstall the app and update bot_token",
    "token_expired": "the bot token expired; turn token rotation off or reinstall the app",
    "account_inactive": "the app's bot user is deactivated; reinstall the app",
    "missing_scope": "add the scope to the app (manifests/slack/manifest.yaml) and reinstall it",
    "msg_too_long": "the message is too long for Slack",
    "invalid_blocks": "Slack rejected the card's Block Kit",
    "invalid_blocks_format": "Slack rejected the card's Block Kit",
    "restricted_action": "a workspace admin restricts posting in this channel",
}


class WorkspaceRoles(BaseModel):
    """``[slack.workspaces.T….roles]``: who holds each role in that workspace (user ids, user-group ids)."""

    model_config = ConfigDict(extra="forbid")

    rep: list[str] = []
    warehouse: list[str] = []
    manager: list[str] = []


class WorkspaceSettings(BaseModel):
    """``[slack.workspaces.T0123ABCD]``: one workspace stockbot is installed in."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = None  # for people reading the config and the logs
    roles: WorkspaceRoles = WorkspaceRoles()


class SlackSettings(AdapterSettings):
    """The ``[slack]`` section; the Bolt front end reads ``signing_secret`` / ``app_token`` from it too.

    One workspace: ``bot_token``. Several (distribution, "Add to Slack"): ``client_id`` and ``client_secret``,
    with ``[slack.workspaces.T…]`` naming each workspace's roles. ``base_url`` is accepted as an alias of
    ``api_url`` (the documented key).
    """

    # A mistyped token must not be echoed into a config error.
    model_config = ConfigDict(hide_input_in_errors=True)

    bot_token: SecretStr | None = None
    signing_secret: SecretStr | None = None
    app_token: SecretStr | None = None  # xapp-…, only for Socket Mode
    client_id: str | None = None  # distribution: Basic Information → App Credentials
    client_secret: SecretStr | None = None
    # Where Slack sends the installer back; default: [server] public_url + /slack/oauth_redirect.
    redirect_url: str | None = None
    workspaces: dict[str, WorkspaceSettings] = {}
    api_url: str = "https://slack.com/api/"
    workspace_timezone: str = "UTC"
    min_seconds_between_posts: float = Field(1.0, ge=0)
    # App Home: at most one refresh per person this often, however many alerts change meanwhile.
    home_refresh_seconds: float = Field(10.0, ge=0)

    @property
    def distributed(self) -> bool:
        """Installed per workspace through OAuth, each workspace's token kept in the database."""
        return self.client_id is not None

    def workspace_roles(self) -> dict[str, list[str]]:
        """``[slack.workspaces.T….roles]`` as workspace-qualified ids (``T…/U…``), for ``[roles]``."""
        return {
            role: [f"{team}/{i}" for team, ws in self.workspaces.items() for i in getattr(ws.roles, role)]
            for role in ("rep", "warehouse", "manager")
        }

    def address_problem(self, address: str) -> str | None:
        """Why ``address`` cannot be a channel of this configuration, or None (config check)."""
        found = _ADDRESS.match(address.strip())
        if not found:
            return "a Slack channel is a channel id like C0123ABCD (or T0123ABCD/C0456EFGH with client_id)"
        if self.distributed and not found.group(1):
            return (
                f"say which workspace the channel is in: TEAM_ID/{found.group(2)} (with client_id, "
                "stockbot is installed per workspace and posts with that workspace's token)"
            )
        if not self.distributed and found.group(1):
            return (
                f"write the channel id alone ({found.group(2)}): workspace-qualified addresses are for an "
                "app installed in several workspaces ([slack] client_id and client_secret, not bot_token)"
            )
        return None

    @field_validator("bot_token")
    @classmethod
    def _bot_token(cls, token: SecretStr | None) -> SecretStr | None:
        if token is None:
            return None
        if not token.get_secret_value().startswith(("xoxb-", "xoxe.xoxb-")):
            raise ValueError(
                "use the app's Bot User OAuth Token (starts with xoxb-), from OAuth & Permissions"
            )
        return token

    @field_validator("client_id", "client_secret")
    @classmethod
    def _present(cls, value: Any) -> Any:
        text = value.get_secret_value() if isinstance(value, SecretStr) else value
        if value is not None and not text.strip():
            raise ValueError("is empty; copy it from the app's Basic Information → App Credentials")
        return value

    @field_validator("workspaces")
    @classmethod
    def _team_ids(cls, workspaces: dict[str, WorkspaceSettings]) -> dict[str, WorkspaceSettings]:
        for team in workspaces:
            if not _TEAM.match(team):
                raise ValueError(
                    f"{team!r} is not a Slack team id; write [slack.workspaces.T0123ABCD] (it starts with "
                    "T: stockbot logs it at installation; Slack's web client shows it in its URL)"
                )
        return workspaces

    @field_validator("redirect_url")
    @classmethod
    def _redirect(cls, url: str | None) -> str | None:
        if url is not None and not url.startswith(("https://", "http://")):
            raise ValueError(f"{url!r} is not a URL, e.g. https://stockbot.example.com/slack/oauth_redirect")
        return url

    @model_validator(mode="after")
    def _one_way_in(self) -> SlackSettings:
        """Either one workspace's bot token, or an app installed per workspace: never both, never neither."""
        if self.bot_token is not None and self.client_id is not None:
            raise ValueError(
                "give bot_token (one workspace) or client_id and client_secret (installed per workspace from "
                "the Add to Slack link), not both"
            )
        if (self.client_id is None) != (self.client_secret is None):
            missing = "client_secret" if self.client_secret is None else "client_id"
            raise ValueError(
                f"{missing} is missing: installing per workspace needs client_id and client_secret"
            )
        if self.bot_token is None and self.client_id is None:
            raise ValueError(
                "set bot_token (the Bot User OAuth Token, xoxb-…, for one workspace) or client_id and "
                "client_secret (installed into each workspace from /slack/install)"
            )
        if self.workspaces and not self.distributed:
            raise ValueError(
                "workspaces is for an app installed in several workspaces (client_id and client_secret); "
                "with bot_token, list people in [roles]"
            )
        return self

    @field_validator("app_token")
    @classmethod
    def _app_token(cls, token: SecretStr | None) -> SecretStr | None:
        if token is not None and not token.get_secret_value().startswith("xapp-"):
            raise ValueError("use an app-level token (starts with xapp-) with the connections:write scope")
        return token

    @field_validator("api_url", "base_url")
    @classmethod
    def _url(cls, url: str | None) -> str | None:
        if url is None:
            return None
        if not url.startswith(("https://", "http://")):
            raise ValueError(f"{url!r} is not a URL; the default is https://slack.com/api/")
        return url.rstrip("/") + "/"  # slack_sdk appends the method name to this root

    @field_validator("workspace_timezone")
    @classmethod
    def _zone(cls, name: str) -> str:
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"{name!r} is not an IANA time zone, e.g. Europe/Berlin or America/Chicago"
            ) from None
        return name

    @model_validator(mode="after")
    def _base_url_alias(self) -> SlackSettings:
        if self.base_url and "api_url" not in self.model_fields_set:
            self.api_url = self.base_url
        return self


class BotTokens(Protocol):
    """The ``slack_installations`` service: each installed workspace's bot token (storage/)."""

    async def bot_token(self, team_id: str) -> str | None: ...


class SlackAdapter:
    name: ClassVar[str] = "slack"
    # Slack: about one message per second per channel (docs.slack.dev, "Rate limits").
    rate_limits: ClassVar[tuple[RateLimit, ...]] = (RateLimit(1, 1.0),)
    events: ClassVar[frozenset[str]] = ALL_EVENTS
    Settings: ClassVar[type[AdapterSettings]] = SlackSettings
    services: ClassVar[tuple[str, ...]] = ("slack_installations",)  # tokens of workspaces installed by OAuth

    def __init__(
        self,
        settings: SlackSettings,
        http: aiohttp.ClientSession,
        slack_installations: BotTokens | None = None,
    ) -> None:
        self.settings = settings
        self.http = http
        self.installations = slack_installations
        token = settings.bot_token.get_secret_value() if settings.bot_token else None
        self.client = self._new_client(token) if token else None
        self._clients: dict[str, AsyncWebClient] = {}  # by token: a reinstalled workspace gets a new one
        # chat.postMessage about once a second per channel: an update's thread reply is a post too.
        self.pacer = RateLimiter(min_gap=settings.min_seconds_between_posts)
        self._posting: dict[str, asyncio.Lock] = {}  # one post at a time per channel

    def _new_client(self, token: str) -> AsyncWebClient:
        client = AsyncWebClient(
            token=token,
            base_url=self.settings.api_url,
            session=self.http,
            retry_handlers=[],  # one attempt; the dispatcher owns retries
        )
        # The shared session decides about proxies, as for every other adapter (the SDK would otherwise
        # read HTTPS_PROXY itself, ignoring NO_PROXY).
        client.proxy = None
        return client

    async def _client_for(self, team: str | None) -> AsyncWebClient:
        """The configured token's client, or the installed workspace's for a ``T…/`` address."""
        if team is None:
            if self.client is None:
                raise PermanentError(
                    "slack address names no workspace: with [slack] client_id write it as T0123ABCD/C0456EFGH"
                )
            return self.client
        if self.installations is None:
            raise PermanentError(
                f"slack address names workspace {team}, but stockbot is configured for one workspace "
                "(bot_token); use client_id/client_secret and STOCKBOT_SECRET_KEY to install per workspace"
            )
        token = await self.installations.bot_token(team)
        if token is None:
            raise PermanentError(
                f"slack workspace {team} has not installed stockbot (or removed it): install it from "
                "/slack/install, then re-drive with `stockbot deliveries retry`"
            )
        if token not in self._clients:
            register_secret(token)  # never in a log line or an error
            self._clients[token] = self._new_client(token)
        return self._clients[token]

    async def send(self, message: AlertMessage, target: Target) -> Receipt:
        card = {
            "text": alert_text(message),
            "blocks": alert_blocks(message, self.settings.workspace_timezone),
        }
        found = _EXTERNAL_ID.match(target.external_id or "")
        if not found:  # first message; an id from another adapter also lands here and starts a new card
            team, channel = _address(target.address)
            return await self._post_card(await self._client_for(team), team, channel, card)
        team, channel, ts = found.groups()
        client = await self._client_for(team)
        updated = await self._call(
            client, "chat.update", expect="message_not_found", channel=channel, ts=ts, **card
        )
        if updated is None:
            return await self._post_card(client, team, channel, card)  # the card was deleted: start anew
        if message.event in THREAD_EVENTS:
            text = thread_text(message, self.settings.workspace_timezone)
            await self._post(client, team, channel, thread_ts=ts, text=text)
        return Receipt(external_id=target.external_id, detail=f"updated {channel}:{ts}")

    async def _post_card(
        self, client: AsyncWebClient, team: str | None, channel: str, card: dict[str, Any]
    ) -> Receipt:
        data = await self._post(client, team, channel, **card)
        ts = data.get("ts")
        if not isinstance(ts, str):
            raise PermanentError("slack chat.postMessage answered ok without a message ts")
        # The answer names the channel by id even when we posted to #name; chat.update needs the id.
        external_id = f"{data.get('channel') or channel}:{ts}"
        if team:
            external_id = f"{team}/{external_id}"
        return Receipt(external_id=external_id, detail=f"posted {external_id}")

    async def _post(
        self, client: AsyncWebClient, team: str | None, channel: str, **fields: Any
    ) -> dict[str, Any]:
        # Posts to one channel go one at a time, and the gap counts from the end of the last one: so it
        # holds where Slack counts it, however long a request took to get there.
        key = f"{team}/{channel}" if team else channel
        loop = asyncio.get_running_loop()
        async with self._posting.setdefault(key, asyncio.Lock()):
            wait = self.pacer.next_slot(key, loop.time()) - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            try:
                return await self._call(client, "chat.postMessage", channel=channel, **fields) or {}
            finally:
                self.pacer.book(key, loop.time())

    async def _call(
        self, client: AsyncWebClient, method: str, *, expect: str | None = None, **fields: Any
    ) -> dict[str, Any] | None:
        """One Web API call. Returns the answer, or None when Slack answered the error code ``expect``."""
        try:
            async with asyncio.timeout(self.settings.timeout_seconds):
                response = await client.api_call(method, json=fields)
        except SlackApiError as exc:
            code = _error_code(exc.response.data)
            if expect is not None and code == expect:
                return None
            raise _api_error(method, exc.response.status_code, exc.response.headers, code) from exc
        except TimeoutError as exc:
            raise RetryableError(
                f"slack {method}: no answer within {self.settings.timeout_seconds:g}s"
            ) from exc
        except aiohttp.ClientError as exc:
            raise RetryableError(f"slack {method}: connection failed ({type(exc).__name__})") from exc
        except SlackClientError as exc:
            raise PermanentError(f"slack {method}: {type(exc).__name__}") from exc
        return response.data if isinstance(response.data, dict) else {}


def _address(address: str) -> tuple[str | None, str]:
    """(workspace or None, channel) of a channel address."""
    found = _ADDRESS.match(address.strip())
    if not found:
        raise PermanentError(
            f"slack address must be a channel id like C0123ABCD or #channel-name, got {address[:40]!r}"
        )
    return found.group(1), found.group(2)


def _error_code(data: Any) -> str:
    """Slack's ``error`` code; the body may be unparsed text when a proxy or a fake sent text/plain."""
    if isinstance(data, str | bytes):
        try:
            data = json.loads(data)
        except ValueError:
            return ""
    return str(data.get("error") or "") if isinstance(data, dict) else ""


def _api_error(method: str, status: int, headers: Any, code: str) -> DeliveryError:
    """Slack's answer → our error, by HTTP status first (429, 5xx) and then by its ``error`` code."""
    text = f"slack {method}: {code or 'unexpected answer'} (HTTP {status})"
    if status in (408, 429) or status >= 500 or code in _RETRYABLE_CODES:
        retry_after = parse_retry_after(headers.get("Retry-After") if headers else None)
        limited = status == 429 or code in ("ratelimited", "rate_limited")
        return RetryableError(text, retry_after, rate_limited=limited)
    hint = _HINTS.get(code)
    return PermanentError(f"{text}: {hint}" if hint else text)
