"""POSTs the alert as JSON to any URL, signed like inbound events (``X-Stockbot-Signature``).

Address: the URL. ``[channels.X] secret`` signs the body; without one the request is unsigned. Up to 4
requests are in flight to one URL (``[channels.X] concurrency``; 1 keeps every alert in the order raised).
The receiver gets ``{"type": "stockbot.alert", "delivery_id": ..., "event": ..., "alert": {...}}``. The
``delivery_id`` (also sent as the ``Idempotency-Key`` header) names one delivery and stays the same across
its retries, a re-drive and a resend after a crash: delivery is at least once, so receivers dedupe on it. A
digest's POST carries its own id and, in ``digest_of``, the ids of the deliveries it stands for.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

import aiohttp
from pydantic_core import PydanticSerializationError, to_json

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

# Built once: json.dumps builds an encoder per call when given any option.
_escaping = json.JSONEncoder(separators=(",", ":")).encode


def _encode(envelope: dict[str, Any]) -> bytes:
    """Compact JSON in UTF-8, from pydantic-core's encoder: a third of the time of json's, on every
    delivery. Text it refuses (an unpaired surrogate) goes through json, which escapes it."""
    try:
        return to_json(envelope)
    except PydanticSerializationError:
        return _escaping(envelope).encode()


class WebhookSettings(AdapterSettings):
    pass


class WebhookAdapter:
    name: ClassVar[str] = "webhook"
    events: ClassVar[frozenset[str]] = ALL_EVENTS
    Settings: ClassVar[type[AdapterSettings]] = WebhookSettings
    # No vendor limit to keep to, and one at a time caps a destination at one request per round trip
    # (about 500/s to a local receiver with the server busy): 4 in flight by default. Alerts may then reach
    # the receiver out of the order they were raised in, but an alert's post always before its updates
    # (they are claimed only once it is recorded); receivers dedupe on delivery_id, as ever.
    concurrency: ClassVar[int] = 4

    def __init__(self, settings: WebhookSettings, http: aiohttp.ClientSession) -> None:
        self.settings = settings
        self.http = http

    async def send(self, message: AlertMessage, target: Target) -> Receipt:
        if not target.address.startswith(("http://", "https://")):
            raise PermanentError(f"webhook address must be an http(s) URL, got {target.address[:40]!r}")
        envelope = {
            "type": "stockbot.alert",
            "delivery_id": target.idempotency_key,
            "event": message.event,
            "alert": message.to_json(),
        }
        if target.options.get("digest_of"):
            envelope["digest_of"] = list(target.options["digest_of"])
        body = _encode(envelope)
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
