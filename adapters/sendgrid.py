"""Sends each alert event as an e-mail through Twilio SendGrid's v3 Mail Send API.

API: https://www.twilio.com/docs/sendgrid/api-reference/mail-send/mail-send (``POST /v3/mail/send``,
``Authorization: Bearer <API key>``, 202 Accepted with an empty body and an ``X-Message-Id`` header).

Address: one e-mail address or a comma-separated list (``buyer@example.com, ops@example.com``); all of them
go in one envelope, so recipients see each other, as a team list would.
E-mail is one-way: opened, escalated, resolved, reopened and test events each send a new message with an
HTML and a plain-text part. With ``template_id`` (a dynamic template, ``d-…``) SendGrid renders the e-mail
from ``dynamic_template_data``: every AlertMessage field plus ``subject``, ``headline``, ``status_line`` and
``facts`` (label/value pairs), so the template needs no wording of its own.

The sendgrid SDK's client is synchronous, so only its ``Mail`` helper builds the body; the request goes out
on our aiohttp session. The receipt carries ``X-Message-Id`` (else the idempotency key).
"""

from __future__ import annotations

from typing import Any, ClassVar

import aiohttp
from pydantic import SecretStr
from sendgrid.helpers.mail import From, Mail, To

from stockbot.adapters.base import (
    INTERRUPT_EVENTS,
    AdapterSettings,
    AlertMessage,
    Receipt,
    Target,
    email_addresses,
    http_request,
)
from stockbot.adapters.render.text import (
    email_html,
    email_subject,
    fact_lines,
    headline,
    plain_text,
    status_line,
)


class SendGridSettings(AdapterSettings):
    base_url: str | None = "https://api.sendgrid.com"  # EU-pinned subusers: https://api.eu.sendgrid.com
    api_key: SecretStr
    from_email: str  # a verified sender or an address on an authenticated domain
    from_name: str | None = "stockbot"
    template_id: str | None = None


def template_data(message: AlertMessage) -> dict[str, Any]:
    """Everything a dynamic template may show: the raw alert fields and our rendered wording."""
    return {
        **message.to_json(),
        "subject": email_subject(message),
        "headline": headline(message),
        "status_line": status_line(message),
        "facts": [{"label": label, "value": value} for label, value in fact_lines(message)],
    }


def mail_body(message: AlertMessage, recipients: list[str], settings: SendGridSettings) -> dict[str, Any]:
    sender = From(settings.from_email, settings.from_name)
    to = [To(email) for email in recipients]
    if settings.template_id:
        mail = Mail(from_email=sender, to_emails=to)
        mail.template_id = settings.template_id
        mail.dynamic_template_data = template_data(message)
    else:
        mail = Mail(
            from_email=sender,
            to_emails=to,
            subject=email_subject(message),
            plain_text_content=plain_text(message),
            html_content=email_html(message),
        )
    return mail.get()


class SendGridAdapter:
    name: ClassVar[str] = "sendgrid"
    events: ClassVar[frozenset[str]] = INTERRUPT_EVENTS
    Settings: ClassVar[type[AdapterSettings]] = SendGridSettings

    def __init__(self, settings: SendGridSettings, http: aiohttp.ClientSession) -> None:
        self.settings = settings
        self.http = http

    async def send(self, message: AlertMessage, target: Target) -> Receipt:
        body = mail_body(message, email_addresses("sendgrid", target.address), self.settings)
        root = (self.settings.base_url or "https://api.sendgrid.com").rstrip("/")
        result = await http_request(
            self.http,
            "sendgrid",
            "POST",
            f"{root}/v3/mail/send",
            json=body,
            headers={"Authorization": f"Bearer {self.settings.api_key.get_secret_value()}"},
            timeout=self.settings.timeout_seconds,
        )
        # Header names are case-insensitive; the dict from http_request keeps the server's spelling.
        message_id = next((v for k, v in result.headers.items() if k.lower() == "x-message-id"), None)
        return Receipt(external_id=message_id or target.idempotency_key, detail=f"HTTP {result.status}")
