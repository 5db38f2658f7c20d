"""Sends each alert event as an e-mail through Mailgun's Messages API.

API: https://documentation.mailgun.com/docs/mailgun/api-reference/send/mailgun/messages/post-v3--domain-name--messages
(``POST /v3/{domain}/messages``, multipart/form-data, HTTP Basic ``api:<API key>``, 200 with
``{"id": "<…@domain>", "message": "Queued. Thank you."}``).

Address: one e-mail address or a comma-separated list; each becomes a ``to`` field of one message.
E-mail is one-way: opened, escalated, resolved, reopened and test events each send a new message with an
HTML and a plain-text part, tagged ``stockbot`` and carrying the alert id as the user variable
``stockbot-alert-id`` (it comes back in Mailgun's event webhooks). The receipt carries Mailgun's message id.

``base_url``: https://api.mailgun.net, or https://api.eu.mailgun.net for a domain in the EU region
(the wrong region answers 401/404, which is permanent).
"""

from __future__ import annotations

import email.utils
from typing import ClassVar
from urllib.parse import quote

import aiohttp
from pydantic import SecretStr

from stockbot.adapters.base import (
    INTERRUPT_EVENTS,
    AdapterSettings,
    AlertMessage,
    Receipt,
    Target,
    email_addresses,
    http_request,
    json_object,
)
from stockbot.adapters.render.text import email_html, email_subject, plain_text


class MailgunSettings(AdapterSettings):
    base_url: str | None = "https://api.mailgun.net"
    api_key: SecretStr
    domain: str  # the sending domain as set up in Mailgun, e.g. mg.example.com
    from_email: str  # an address on that domain
    from_name: str | None = "stockbot"


def message_form(message: AlertMessage, recipients: list[str], settings: MailgunSettings) -> aiohttp.FormData:
    # Mailgun documents multipart/form-data; aiohttp would pick urlencoded for plain fields otherwise.
    form = aiohttp.FormData(default_to_multipart=True)
    form.add_field("from", email.utils.formataddr((settings.from_name or "", settings.from_email)))
    for recipient in recipients:
        form.add_field("to", recipient)
    form.add_field("subject", email_subject(message))
    form.add_field("text", plain_text(message))
    form.add_field("html", email_html(message))
    form.add_field("o:tag", "stockbot")
    form.add_field("v:stockbot-alert-id", str(message.alert_id))
    return form


class MailgunAdapter:
    name: ClassVar[str] = "mailgun"
    events: ClassVar[frozenset[str]] = INTERRUPT_EVENTS
    Settings: ClassVar[type[AdapterSettings]] = MailgunSettings

    def __init__(self, settings: MailgunSettings, http: aiohttp.ClientSession) -> None:
        self.settings = settings
        self.http = http

    async def send(self, message: AlertMessage, target: Target) -> Receipt:
        form = message_form(message, email_addresses("mailgun", target.address), self.settings)
        root = (self.settings.base_url or "https://api.mailgun.net").rstrip("/")
        result = await http_request(
            self.http,
            "mailgun",
            "POST",
            f"{root}/v3/{quote(self.settings.domain, safe='')}/messages",
            data=form,
            headers={
                "Authorization": aiohttp.encode_basic_auth("api", self.settings.api_key.get_secret_value())
            },
            timeout=self.settings.timeout_seconds,
        )
        answer = json_object(result.text)  # a 200 means queued: never fail on an odd body
        return Receipt(
            external_id=answer.get("id") or target.idempotency_key, detail=answer.get("message", "")
        )
