"""One OAuth 2.0 access-token cache for every adapter that fetches tokens from a token endpoint.

Gmail (refresh-token grant), Outlook (client credentials), Salesforce (either), Zoho CRM (refresh token) and
QuickBooks Online (refresh token, client authenticated with HTTP Basic, rotated refresh tokens) share what is
the same everywhere, here: one form POST to ``token_url`` on our aiohttp session, the token kept until a
minute before it expires, one fetch at a time however many sends wait for it (single flight: the others
get the token that fetch brought), and what a 401 from the API means.

What differs is a :class:`TokenGrant` in the vendor's own module: the form and the client authentication,
how a refusal reads (Zoho answers some with HTTP 200), and what else the answer carries that the adapter
needs (Salesforce's ``instance_url``, Zoho's ``api_domain``, QuickBooks' rotated refresh token, which its
grant stores through the :class:`TokenStore` service so a restart does not start from a retired one).

A refusal at the token endpoint is permanent by default (4xx: bad credentials), a 429/5xx retryable. Forms
and headers carry secrets: they never reach an error message or a log line.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import aiohttp

from stockbot.adapters.base import (
    HttpResult,
    PermanentError,
    RetryableError,
    classify_status,
    http_request,
    json_object,
)

EXPIRY_MARGIN = 60.0  # seconds: renew a little early rather than send a token that expires in flight


class TokenStore(Protocol):
    """A process service (``token_store``) that keeps a value across restarts, encrypted at rest.

    ``bot/runtime.py`` builds it over the database; an adapter names it in its ``services`` ClassVar."""

    async def get(self, name: str) -> str | None: ...

    async def put(self, name: str, value: str) -> None: ...


@dataclass(frozen=True)
class TokenRequest:
    """What a grant sends: a form POST to ``url`` (``headers`` for client authentication, if any)."""

    url: str
    form: Mapping[str, str] = field(repr=False)
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class Token:
    """An access token, and what its grant kept from the same answer (e.g. ``api_root``)."""

    value: str = field(repr=False)
    expires_at: float  # time.monotonic()
    extras: Mapping[str, str] = field(default_factory=dict)


class TokenGrant:
    """A vendor's token endpoint. A subclass says what to send; the other hooks have defaults."""

    vendor: str = "oauth"
    default_lifetime: float = 3600.0  # seconds, for answers without ``expires_in``

    async def request(self) -> TokenRequest:
        raise NotImplementedError

    def check(self, result: HttpResult) -> None:
        """Raise for an answer that refuses the request; the default reads the status code alone."""
        classify_status(f"{self.vendor} token endpoint", result.status, result.headers, result.text)

    async def accept(self, answer: dict[str, Any]) -> dict[str, str]:
        """What else the adapter needs from a successful answer (default: nothing); raise if it is missing.
        Async because a grant may store something here (QuickBooks' rotated refresh token)."""
        return {}


class CachedToken:
    def __init__(self, grant: TokenGrant, http: aiohttp.ClientSession, timeout: float) -> None:
        self.grant = grant
        self.http = http
        self.timeout = timeout
        self._token: Token | None = None
        self._lock = asyncio.Lock()  # single flight: one token request at a time (Zoho rate-limits them)

    async def get(self) -> tuple[Token, bool]:
        """The cached token, or a new one; the flag says whether it was fetched for this caller."""
        async with self._lock:
            if self._token is not None and time.monotonic() < self._token.expires_at:
                return self._token, False
            self._token = await self._fetch()
            return self._token, True

    def forget(self, token: Token) -> None:
        """Drop ``token`` (the API refused it) unless a newer one has already replaced it."""
        if self._token is token:
            self._token = None

    def unauthorized(self, token: Token, fresh: bool) -> None:
        """Call when the API answered 401. A reused token may have expired or been revoked early: drop it
        and make the attempt retryable, so the next one fetches a new token. A token fetched for this very
        attempt was refused on its merits (scope, permissions): return, and the caller's status check
        makes the 401 permanent."""
        if fresh:
            return
        self.forget(token)
        raise RetryableError(
            f"{self.grant.vendor} refused the cached access token (HTTP 401); the retry fetches a new one"
        )

    async def _fetch(self) -> Token:
        grant = self.grant
        request = await grant.request()
        result = await http_request(
            self.http,
            f"{grant.vendor} token endpoint",
            "POST",
            request.url,
            data=dict(request.form),
            headers={"Accept": "application/json", **request.headers},
            timeout=self.timeout,
            check=False,
        )
        grant.check(result)
        answer = json_object(result.text)
        value = answer.get("access_token")
        if not isinstance(value, str) or not value:
            raise PermanentError(
                f"{grant.vendor} token endpoint answered HTTP {result.status} without an access_token: "
                "check token_url"
            )
        extras = await grant.accept(answer)
        lifetime = _seconds(answer.get("expires_in"), grant.default_lifetime)
        return Token(value, time.monotonic() + lifetime - EXPIRY_MARGIN, extras)


def _seconds(value: Any, default: float) -> float:
    try:
        return float(value) if value not in (None, "") else default
    except (TypeError, ValueError):
        return default
