"""Microsoft Teams without a bot: the alert card posted to a Workflows (or legacy incoming-webhook) URL.

Docs: https://learn.microsoft.com/en-us/microsoftteams/platform/webhooks-and-connectors/how-to/connectors-using
(Office 365 connectors are being retired; a Workflows "When a Teams webhook request is received" flow takes
the same envelope and answers 202).

Address: the webhook URL itself. It is a credential (Workflows URLs carry a ``sig=`` signature), so it is
never put in an error or a receipt. A webhook is one-way: nothing can update the message or receive a
button click, so every interrupting event (opened, escalated, resolved, …) is a new post, and the card's
buttons are replaced by one "Open in stockbot" link when the alert has a link.
"""

from __future__ import annotations

from typing import Any, ClassVar
from urllib.parse import urlsplit

import aiohttp

from stockbot.adapters.base import (
    INTERRUPT_EVENTS,
    AdapterSettings,
    AlertMessage,
    PermanentError,
    Receipt,
    RetryableError,
    Target,
    http_request,
    redact,
)
from stockbot.adapters.render.teams import alert_card, attachment


class TeamsWebhookSettings(AdapterSettings):
    pass


def _check_legacy_answer(text: str) -> None:
    """The retiring O365 connector answers 200 even when delivery failed, with the error as text."""
    text = text.strip()
    if not text or text == "1" or "error" not in text.lower():
        return
    snippet = redact(text[:200])
    if "429" in text or "throttl" in text.lower():
        raise RetryableError(f"teams_webhook: throttled ({snippet})", rate_limited=True)
    raise PermanentError(f"teams_webhook: delivery failed ({snippet})")


def webhook_card(message: AlertMessage) -> dict[str, Any]:
    """The alert card without Universal Actions: a webhook has no bot to send the clicks to."""
    card = alert_card(message)
    card.pop("actions", None)
    if message.link:
        card["actions"] = [{"type": "Action.OpenUrl", "title": "Open in stockbot", "url": message.link}]
    return card


class TeamsWebhookAdapter:
    name: ClassVar[str] = "teams_webhook"
    events: ClassVar[frozenset[str]] = INTERRUPT_EVENTS
    Settings: ClassVar[type[AdapterSettings]] = TeamsWebhookSettings

    def __init__(self, settings: TeamsWebhookSettings, http: aiohttp.ClientSession) -> None:
        self.settings = settings
        self.http = http

    async def send(self, message: AlertMessage, target: Target) -> Receipt:
        parts = urlsplit(target.address)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise PermanentError(
                "teams_webhook address must be the https URL of a Teams Workflows or incoming webhook"
            )
        body = {"type": "message", "attachments": [attachment(webhook_card(message))]}
        # Workflows answers 202 Accepted, the legacy connector 200 "1"; http_request raises on anything else.
        result = await http_request(
            self.http,
            "teams_webhook",
            "POST",
            target.address,
            json=body,
            timeout=self.settings.timeout_seconds,
        )
        if result.status == 200:
            _check_legacy_answer(result.text)
        return Receipt(external_id=None, detail=f"HTTP {result.status}")
