"""Sends each alert event as one SMS through Twilio Programmable Messaging.

API: https://www.twilio.com/docs/messaging/api/message-resource#create-a-message-resource
(``POST /2010-04-01/Accounts/{AccountSid}/Messages.json``, form body, HTTP Basic ``AccountSid:AuthToken``,
201 with the Message resource).

Address: an E.164 phone number, e.g. ``+15551234567`` (spaces, dashes, dots and brackets are ignored).
SMS is one-way: opened, escalated, resolved, reopened and test events each send a new, short message
(:func:`adapters.render.text.sms`, one GSM segment); nothing is updated in place. The receipt carries the
Message SID (``SM…``).

The twilio SDK's async client builds the request; its transport is replaced by :class:`_SessionTransport`,
which sends on our shared aiohttp session (so the SDK never opens an ``aiohttp.ClientSession`` of its own
and nothing is left unclosed) and at ``base_url`` (the SDK has no base-URL option).
"""

from __future__ import annotations

import re
from typing import Any, ClassVar
from urllib.parse import urlencode, urlsplit

import aiohttp
from pydantic import Field, SecretStr, model_validator
from twilio.base.exceptions import TwilioRestException, TwilioServiceException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from stockbot.adapters.base import (
    INTERRUPT_EVENTS,
    AdapterSettings,
    AlertMessage,
    PermanentError,
    RateLimit,
    Receipt,
    RetryableError,
    Target,
    classify_status,
    http_request,
)
from stockbot.adapters.render.text import sms

E164 = re.compile(r"^\+[1-9]\d{6,14}$")
_PHONE_PUNCTUATION = re.compile(r"[\s().-]")


class TwilioSmsSettings(AdapterSettings):
    base_url: str | None = "https://api.twilio.com"
    account_sid: str = Field(pattern=r"^AC[0-9a-fA-F]{32}$")
    auth_token: SecretStr
    # One of the two is required; with both, Twilio sends from from_number inside the Messaging Service.
    from_number: str | None = None
    messaging_service_sid: str | None = Field(default=None, pattern=r"^MG[0-9a-fA-F]{32}$")

    @model_validator(mode="after")
    def _needs_a_sender(self) -> TwilioSmsSettings:
        if not self.from_number and not self.messaging_service_sid:
            raise ValueError("set from_number (a Twilio number, E.164) or messaging_service_sid (MG…)")
        return self


def phone_number(address: str) -> str:
    """The E.164 form of ``address``, or PermanentError naming the expected format."""
    number = _PHONE_PUNCTUATION.sub("", address)
    if not E164.match(number):
        raise PermanentError(
            f"twilio_sms address must be an E.164 phone number like +15551234567, got {address!r}"
        )
    return number


class _SessionTransport(AsyncTwilioHttpClient):
    """The SDK's async transport, sending on our aiohttp session at our base URL.

    Retryable statuses are classified here rather than from the SDK's exception because only the response
    carries ``Retry-After``; other 4xx go back to the SDK, whose exception keeps Twilio's error code.
    """

    def __init__(self, http: aiohttp.ClientSession, base_url: str, timeout: float) -> None:
        # pool_connections=False: the SDK would otherwise open its own ClientSession here.
        super().__init__(pool_connections=False, timeout=timeout)
        self._http = http
        self._base_url = base_url.rstrip("/")

    async def request(
        self,
        method: str,
        url: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,
        allow_redirects: bool = False,
    ) -> Response:
        parts = urlsplit(url)
        headers = dict(headers or {})
        if auth:
            headers["Authorization"] = aiohttp.encode_basic_auth(*auth)
        rebased = self._base_url + parts.path + (f"?{parts.query}" if parts.query else "")
        result = await http_request(
            self._http,
            "twilio",
            method,
            rebased,
            params=urlencode(params, doseq=True) if params else None,
            data=data,
            headers=headers,
            allow_redirects=allow_redirects,
            timeout=timeout or self.timeout or 10.0,
            check=False,
        )
        if result.status in (408, 429) or result.status >= 500:
            classify_status("twilio", result.status, result.headers, result.text)
        return Response(result.status, result.text, result.headers)


def _classify(exc: TwilioRestException | TwilioServiceException) -> RetryableError | PermanentError:
    """Twilio's error code and text (e.g. 21211 invalid 'To'), without the request URI."""
    if isinstance(exc, TwilioServiceException):
        text = f"twilio error {exc.code}: {exc.title}" + (f" ({exc.detail})" if exc.detail else "")
    else:
        text = f"twilio error {exc.code}: {exc.msg}"
    status = int(exc.status or 0)
    if status in (408, 429) or status >= 500:
        return RetryableError(f"{text} (HTTP {status})", rate_limited=status == 429)
    return PermanentError(f"{text} (HTTP {status})")


class TwilioSmsAdapter:
    name: ClassVar[str] = "twilio_sms"
    # Twilio: one segment per second per long-code sender, whatever the recipient.
    rate_limits: ClassVar[tuple[RateLimit, ...]] = (RateLimit(1, 1.0),)
    rate_scope: ClassVar[str] = "account"
    events: ClassVar[frozenset[str]] = INTERRUPT_EVENTS
    Settings: ClassVar[type[AdapterSettings]] = TwilioSmsSettings

    def __init__(self, settings: TwilioSmsSettings, http: aiohttp.ClientSession) -> None:
        self.settings = settings
        transport = _SessionTransport(
            http, settings.base_url or "https://api.twilio.com", settings.timeout_seconds
        )
        self._client = Client(
            settings.account_sid,
            settings.auth_token.get_secret_value(),
            account_sid=settings.account_sid,
            http_client=transport,
        )

    async def send(self, message: AlertMessage, target: Target) -> Receipt:
        fields: dict[str, Any] = {"to": phone_number(target.address), "body": sms(message)}
        if self.settings.from_number:
            fields["from_"] = self.settings.from_number
        if self.settings.messaging_service_sid:
            fields["messaging_service_sid"] = self.settings.messaging_service_sid
        try:
            created = await self._client.messages.create_async(**fields)
        except (TwilioRestException, TwilioServiceException) as exc:
            raise _classify(exc) from exc
        return Receipt(external_id=created.sid, detail=f"twilio status {created.status}")
