"""POSTs the alert as JSON to any URL, signed like inbound events (``X-Stockbot-Signature``).

Address: the URL. ``[channels.X] secret`` signs the body; without one the request is unsigned.
The receiver gets ``{"type": "stockbot.alert", "event": ..., "alert": {...}}`` and an
``Idempotency-Key`` header that stays the same across retries of one delivery.
"""

from __future__ import annotations

import json
from typing import ClassVar

import aiohttp

from stockbot.adapters.base import (
    ALL_EVENTS,
    AdapterSettings,
    AlertMessage,
    PermanentError,
    Receipt,
    Target,
    http_request,
)
from stockbot.adapters.signing import HEADER, sign


class WebhookSettings(AdapterSettings):
    pass


class WebhookAdapter:
    name: ClassVar[str] = "webhook"
    events: ClassVar[frozenset[str]] = ALL_EVENTS
    Settings: ClassVar[type[AdapterSettings]] = WebhookSettings

    def __init__(self, settings: WebhookSettings, http: aiohttp.ClientSession) -> None:
        self.settings = settings
        self.http = http

    async def send(self, message: AlertMessage, target: Target) -> Receipt:
        if not target.address.startswith(("http://", "https://")):
            raise PermanentError(f"webhook address must be an http(s) URL, got {target.address[:40]!r}")
        body = json.dumps(
            {"type": "stockbot.alert", "event": message.event, "alert": message.to_json()},
            separators=(",", ":"),
        ).encode()
        headers = {"Content-Type": "application/json", "Idempotency-Key": target.idempotency_key}
        if target.secret:
            headers[HEADER] = sign(target.secret, body)
        result = await http_request(
            self.http,
            "webhook",
            "POST",
            target.address,
            data=body,
            headers=headers,
            timeout=self.settings.timeout_seconds,
        )
        return Receipt(
            external_id=target.external_id or f"webhook-{message.alert_id}",
            detail=f"HTTP {result.status}",
        )
