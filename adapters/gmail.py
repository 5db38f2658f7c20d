"""Sends each alert event as an e-mail from a Gmail / Google Workspace mailbox through the Gmail API.

API: https://developers.google.com/gmail/api/reference/rest/v1/users.messages/send
(``POST /gmail/v1/users/{userId}/messages/send`` with ``{"raw": <base64url RFC 2822 message>}``, OAuth 2.0
bearer token with the ``gmail.send`` scope, 200 with the Message resource ``{"id", "threadId", …}``).

Tokens: the OAuth 2.0 refresh-token grant (https://developers.google.com/identity/protocols/oauth2/web-server#offline)
at ``token_url``; the access token is cached in the adapter until shortly before it expires. A refusal at the
token endpoint (bad client or revoked refresh token) is permanent. A 401 from Gmail with a cached token drops
it and is retryable (the next attempt fetches a new one); with a token fetched for this very send it is
permanent.

Address: one e-mail address or a comma-separated list (one message, all in ``To``).
E-mail is one-way: opened, escalated, resolved, reopened and test events each send a new
multipart/alternative message (plain text and HTML). The receipt carries Gmail's message id.
"""

from __future__ import annotations

import base64
import email.policy
import email.utils
from email.message import EmailMessage
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
    classify_status,
    email_addresses,
    http_request,
    json_object,
)
from stockbot.adapters.oauth import CachedToken, TokenGrant, TokenRequest
from stockbot.adapters.render.text import email_html, email_subject, plain_text


class GmailSettings(AdapterSettings):
    base_url: str | None = "https://gmail.googleapis.com"
    token_url: str = "https://oauth2.googleapis.com/token"
    client_id: str
    client_secret: SecretStr
    refresh_token: SecretStr  # granted with scope https://www.googleapis.com/auth/gmail.send
    user_id: str = "me"
    from_email: str  # the mailbox itself or one of its verified send-as aliases (Gmail rewrites others)
    from_name: str | None = "stockbot"


def mime_message(message: AlertMessage, recipients: list[str], settings: GmailSettings) -> EmailMessage:
    mail = EmailMessage()
    mail["From"] = email.utils.formataddr((settings.from_name or "", settings.from_email))
    mail["To"] = ", ".join(recipients)
    mail["Subject"] = email_subject(message)
    mail["Date"] = email.utils.formatdate(usegmt=True)
    mail["X-Stockbot-Alert-Id"] = str(message.alert_id)
    mail.set_content(plain_text(message))
    mail.add_alternative(email_html(message), subtype="html")
    return mail


class GoogleRefreshGrant(TokenGrant):
    vendor = "gmail"

    def __init__(self, settings: GmailSettings) -> None:
        self.settings = settings

    async def request(self) -> TokenRequest:
        s = self.settings
        form = {
            "client_id": s.client_id,
            "client_secret": s.client_secret.get_secret_value(),
            "refresh_token": s.refresh_token.get_secret_value(),
            "grant_type": "refresh_token",
        }
        return TokenRequest(s.token_url, form)


def raw_message(mail: EmailMessage) -> str:
    """RFC 2822 with CRLF line ends, base64url as Gmail's ``raw`` field wants it."""
    return base64.urlsafe_b64encode(mail.as_bytes(policy=email.policy.SMTP)).decode("ascii")


class GmailAdapter:
    name: ClassVar[str] = "gmail"
    events: ClassVar[frozenset[str]] = INTERRUPT_EVENTS
    Settings: ClassVar[type[AdapterSettings]] = GmailSettings

    def __init__(self, settings: GmailSettings, http: aiohttp.ClientSession) -> None:
        self.settings = settings
        self.http = http
        self._token = CachedToken(GoogleRefreshGrant(settings), http, settings.timeout_seconds)

    async def send(self, message: AlertMessage, target: Target) -> Receipt:
        mail = mime_message(message, email_addresses("gmail", target.address), self.settings)
        token, fresh = await self._token.get()
        root = (self.settings.base_url or "https://gmail.googleapis.com").rstrip("/")
        result = await http_request(
            self.http,
            "gmail",
            "POST",
            f"{root}/gmail/v1/users/{quote(self.settings.user_id, safe='@')}/messages/send",
            json={"raw": raw_message(mail)},
            headers={"Authorization": f"Bearer {token.value}"},
            timeout=self.settings.timeout_seconds,
            check=False,
        )
        if result.status == 401:
            self._token.unauthorized(token, fresh)
        classify_status("gmail", result.status, result.headers, result.text)
        sent = json_object(result.text)  # a 200 means sent: never fail on an odd body
        return Receipt(
            external_id=sent.get("id") or target.idempotency_key, detail=f"thread {sent.get('threadId')}"
        )
