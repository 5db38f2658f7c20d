"""An OAuth 2.0 access token from a token endpoint (a form POST), cached until shortly before it expires.

Shared by adapters that fetch plain bearer tokens (Gmail's refresh-token grant, Microsoft's client
credentials). Concurrent sends share one fetch. A refusal at the token endpoint is a PermanentError (bad
credentials), through :func:`adapters.base.http_request`'s classification.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp

from stockbot.adapters.base import PermanentError, http_request, json_object

EXPIRY_MARGIN = 60.0  # seconds: renew a little early rather than send a token that expires in flight


class CachedToken:
    def __init__(self, vendor: str, default_lifetime: float = 3600.0) -> None:
        self.vendor = vendor
        self.default_lifetime = default_lifetime
        self._token: str | None = None
        self._expires_at = 0.0
        self._lock = asyncio.Lock()

    async def get(
        self, http: aiohttp.ClientSession, url: str, form: dict[str, Any], timeout: float
    ) -> tuple[str, bool]:
        """The cached token, or a new one; the flag says whether it was fetched just now."""
        async with self._lock:
            if self._token and time.monotonic() < self._expires_at:
                return self._token, False
            result = await http_request(
                http, f"{self.vendor} token endpoint", "POST", url, data=form, timeout=timeout
            )
            answer = json_object(result.text)
            if not answer.get("access_token"):
                raise PermanentError(
                    f"{self.vendor} token endpoint answered 2xx without an access_token: check token_url"
                )
            self._token = str(answer["access_token"])
            lifetime = float(answer.get("expires_in") or self.default_lifetime)
            self._expires_at = time.monotonic() + lifetime - EXPIRY_MARGIN
            return self._token, True

    def forget(self) -> None:
        """Drop the token (the API refused it): the next send fetches a new one."""
        self._token = None
