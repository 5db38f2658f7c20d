"""Slack: one interactive Block Kit card per alert, edited in place, with a thread reply per later event.

API: https://api.slack.com/methods/chat.postMessage and https://api.slack.com/methods/chat.update
(slack_sdk's ``AsyncWebClient`` on our shared aiohttp session, one attempt: no SDK retry handlers).

Address: a channel id (``C0123ABCD``, private ``G…``, DM ``D…``) or ``#channel-name``. Invite the bot to the
channel (``/invite @stockbot``): the app does not ask for ``chat:write.public``.
Receipt: ``"<channel id>:<message ts>"``, e.g. ``C0123ABCD:1764149400.000100``.

First event: post the card. Every later event rewrites the card with chat.update (acknowledged cards lose
the Acknowledge button, resolved cards lose all buttons) and, for acknowledge / snooze / escalate / resolve /
reopen, posts one line in the card's thread. If the card was deleted, a fresh card is posted and its id
returned. Posts are paced to about one per second per channel, Slack's documented limit.
Buttons are answered by the Bolt front end; action ids are in :mod:`adapters.render.slack`.
"""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any, ClassVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import aiohttp
from pydantic import ConfigDict, Field, SecretStr, field_validator, model_validator
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
)
from stockbot.adapters.ratelimit import RateLimiter
from stockbot.adapters.render.slack import alert_blocks, alert_text, thread_text

_ADDRESS = re.compile(r"^(?:[CGD][A-Z0-9]{2,}|#[a-z0-9][a-z0-9._-]{0,79})$")
_EXTERNAL_ID = re.compile(r"^([CGD][A-Z0-9]{2,}):(\d+\.\d+)$")
THREAD_EVENTS = frozenset({"acknowledged", "snoozed", "escalated", "resolved", "reopened"})

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


class SlackSettings(AdapterSettings):
    """The ``[slack]`` section; the Bolt front end reads ``signing_secret`` / ``app_token`` from it too.

    ``base_url`` is accepted as an alias of ``api_url`` (the documented key).
    """

    # A mistyped token must not be echoed into a config error.
    model_config = ConfigDict(hide_input_in_errors=True)

    bot_token: SecretStr
    signing_secret: SecretStr | None = None
    app_token: SecretStr | None = None  # xapp-…, only for Socket Mode
    api_url: str = "https://slack.com/api/"
    workspace_timezone: str = "UTC"
    min_seconds_between_posts: float = Field(1.0, ge=0)

    @field_validator("bot_token")
    @classmethod
    def _bot_token(cls, token: SecretStr) -> SecretStr:
        if not token.get_secret_value().startswith(("xoxb-", "xoxe.xoxb-")):
            raise ValueError(
                "use the app's Bot User OAuth Token (starts with xoxb-), from OAuth & Permissions"
            )
        return token

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


class SlackAdapter:
    name: ClassVar[str] = "slack"
    # Slack: about one message per second per channel (docs.slack.dev, "Rate limits").
    rate_limits: ClassVar[tuple[RateLimit, ...]] = (RateLimit(1, 1.0),)
    events: ClassVar[frozenset[str]] = ALL_EVENTS
    Settings: ClassVar[type[AdapterSettings]] = SlackSettings

    def __init__(self, settings: SlackSettings, http: aiohttp.ClientSession) -> None:
        self.settings = settings
        self.client = AsyncWebClient(
            token=settings.bot_token.get_secret_value(),
            base_url=settings.api_url,
            session=http,
            retry_handlers=[],  # one attempt; the dispatcher owns retries
        )
        # The shared session decides about proxies, as for every other adapter (the SDK would otherwise
        # read HTTPS_PROXY itself, ignoring NO_PROXY).
        self.client.proxy = None
        # chat.postMessage about once a second per channel: an update's thread reply is a post too.
        self.pacer = RateLimiter(min_gap=settings.min_seconds_between_posts)
        self._posting: dict[str, asyncio.Lock] = {}  # one post at a time per channel

    async def send(self, message: AlertMessage, target: Target) -> Receipt:
        card = {
            "text": alert_text(message),
            "blocks": alert_blocks(message, self.settings.workspace_timezone),
        }
        found = _EXTERNAL_ID.match(target.external_id or "")
        if not found:  # first message; an id from another adapter also lands here and starts a new card
            return await self._post_card(_address(target.address), card)
        channel, ts = found.groups()
        updated = await self._call("chat.update", expect="message_not_found", channel=channel, ts=ts, **card)
        if updated is None:
            return await self._post_card(channel, card)  # the card was deleted: start a new one
        if message.event in THREAD_EVENTS:
            text = thread_text(message, self.settings.workspace_timezone)
            await self._post(channel, thread_ts=ts, text=text)
        return Receipt(external_id=target.external_id, detail=f"updated {channel}:{ts}")

    async def _post_card(self, channel: str, card: dict[str, Any]) -> Receipt:
        data = await self._post(channel, **card)
        ts = data.get("ts")
        if not isinstance(ts, str):
            raise PermanentError("slack chat.postMessage answered ok without a message ts")
        # The answer names the channel by id even when we posted to #name; chat.update needs the id.
        external_id = f"{data.get('channel') or channel}:{ts}"
        return Receipt(external_id=external_id, detail=f"posted {external_id}")

    async def _post(self, channel: str, **fields: Any) -> dict[str, Any]:
        # Posts to one channel go one at a time, and the gap counts from the end of the last one: so it
        # holds where Slack counts it, however long a request took to get there.
        loop = asyncio.get_running_loop()
        async with self._posting.setdefault(channel, asyncio.Lock()):
            wait = self.pacer.next_slot(channel, loop.time()) - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            try:
                return await self._call("chat.postMessage", channel=channel, **fields) or {}
            finally:
                self.pacer.book(channel, loop.time())

    async def _call(self, method: str, *, expect: str | None = None, **fields: Any) -> dict[str, Any] | None:
        """One Web API call. Returns the answer, or None when Slack answered the error code ``expect``."""
        try:
            async with asyncio.timeout(self.settings.timeout_seconds):
                response = await self.client.api_call(method, json=fields)
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


def _address(address: str) -> str:
    address = address.strip()
    if not _ADDRESS.match(address):
        raise PermanentError(
            f"slack address must be a channel id like C0123ABCD or #channel-name, got {address[:40]!r}"
        )
    return address


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
