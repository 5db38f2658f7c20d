"""Relays alerts to any service Apprise knows (ntfy, Gotify, Pushover, Discord, Matrix, ...) by its URL.

Library: https://github.com/caronc/apprise (URL formats: https://github.com/caronc/apprise/wiki). Optional:
``pip install 'stockbot[apprise]'``; without it the registry (:func:`adapters.require_extra`) refuses a
channel that uses this adapter when the config is read, so ``stockbot config check`` and start-up say so.

Address: one Apprise URL, e.g. ``ntfys://ntfy.example.com/stock``, ``pover://USER@TOKEN`` or
``json://hooks.example.com/stock``. Such URLs usually carry the service's credentials, so the address is
never quoted in an error: only its scheme is (``apprise could not deliver to ntfys://…``).

Apprise services are one-way notifications: every event worth interrupting someone for (opened, escalated,
resolved, reopened, test) is a new notification, titled with the headline; nothing is updated in place.

Errors: Apprise answers only "delivered or not". Since Apprise 2 the answer also carries each attempt's log
lines, and its HTTP-based plugins log a failed answer as ``error=<status>``; a 4xx other than 408/429 found
there is permanent. Everything else (a 429 or 5xx, a refused connection, Apprise 1.x's bare ``False``) is
retryable, without a ``retry_after``: Apprise does not pass on ``Retry-After``. Apprise itself is sync: it
runs in a worker thread (inside ``Apprise.async_notify``), bounded by ``timeout_seconds``.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any, ClassVar

import aiohttp
import apprise

from stockbot.adapters.base import (
    INTERRUPT_EVENTS,
    AdapterSettings,
    AlertMessage,
    DeliveryError,
    PermanentError,
    Receipt,
    RetryableError,
    Target,
)
from stockbot.adapters.render.text import headline, plain_text

# Apprise's notification types colour and iconify the message on most services.
NOTIFY_TYPE = {"low": "warning", "out": "warning", "critical": "failure"}
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]{0,31})://")
_HTTP_ERROR = re.compile(r"\berror=([1-5][0-9]{2})\b")


class AppriseSettings(AdapterSettings):
    pass


def where(address: str) -> str:
    """The address as errors may show it: its scheme only, since the rest often holds credentials."""
    found = _SCHEME.match(address)
    return f"{found.group(1).lower()}://…" if found else "an address without a scheme"


def http_status(result: Any) -> int | None:
    """The HTTP status a failed Apprise 2 result logged (``error=404``), or None if it logged none."""
    logs = getattr(result, "logs", None)
    if not callable(logs):  # Apprise 1.x answers a bare bool
        return None
    statuses = [int(m.group(1)) for entry in logs() for m in _HTTP_ERROR.finditer(str(entry.message))]
    return statuses[-1] if statuses else None


def failure(result: Any, address: str) -> DeliveryError:
    status = http_status(result)
    text = f"apprise could not deliver to {where(address)}"
    if status is not None and 400 <= status < 500 and status not in (408, 429):
        return PermanentError(f"{text}: HTTP {status}")
    return RetryableError(f"{text}: HTTP {status}" if status else text)


async def notify(apprise_object: Any, message: AlertMessage, timeout: float) -> Any:
    """The one place Apprise runs: its own async entry point when it has one, else ``notify`` in a thread."""
    notify_type = "success" if message.is_resolved else NOTIFY_TYPE.get(message.severity, "info")
    kwargs = {"title": headline(message), "body": plain_text(message), "notify_type": notify_type}
    if hasattr(apprise_object, "async_notify"):
        call = apprise_object.async_notify(**kwargs)
    else:
        call = asyncio.to_thread(apprise_object.notify, **kwargs)
    # The worker thread cannot be interrupted; past the timeout we stop waiting for it and report.
    return await asyncio.wait_for(call, timeout)


class AppriseAdapter:
    name: ClassVar[str] = "apprise"
    events: ClassVar[frozenset[str]] = INTERRUPT_EVENTS
    Settings: ClassVar[type[AdapterSettings]] = AppriseSettings

    def __init__(self, settings: AppriseSettings, http: aiohttp.ClientSession | None) -> None:
        self.settings = settings  # Apprise brings its own HTTP client (requests); ``http`` is unused

    async def send(self, message: AlertMessage, target: Target) -> Receipt:
        if not _SCHEME.match(target.address):
            raise PermanentError("apprise address must be an Apprise URL (scheme://...)")
        apprise_object = apprise.Apprise()
        if not apprise_object.add(target.address):
            raise PermanentError(f"apprise does not accept the {where(target.address)} URL of this channel")
        timeout = self.settings.timeout_seconds
        try:
            result = await notify(apprise_object, message, timeout)
        except TimeoutError:
            raise RetryableError(
                f"apprise: {where(target.address)} did not answer within {timeout:g}s"
            ) from None
        try:
            if not result:
                raise failure(result, target.address)
        finally:
            # Apprise 2 results may keep their captured log lines in a temporary file until closed.
            close = getattr(result, "close", None)
            if callable(close):
                close()
        return Receipt(external_id=target.external_id, detail=f"notified {where(target.address)}")
