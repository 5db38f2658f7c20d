"""Sends each alert event as an e-mail from a Microsoft 365 mailbox through Microsoft Graph ``sendMail``.

API: https://learn.microsoft.com/en-us/graph/api/user-sendmail?view=graph-rest-1.0
(``POST /v1.0/users/{id | userPrincipalName}/sendMail``, JSON ``{"message": …}``, 202 Accepted with an
empty body). The app-only token this adapter holds must use ``/users/{sender}``: ``/me`` needs a user.
The app registration needs the *application* permission ``Mail.Send`` with admin consent (restrict it to
the sender mailbox with an application access policy).

Tokens: the OAuth 2.0 client-credentials grant at ``token_url``
(https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token, scope ``https://graph.microsoft.com/.default``),
cached until shortly before expiry. It is a plain form POST on our aiohttp session rather than msal's
``ConfidentialClientApplication`` because msal refuses any authority that is not https (so it cannot be
pointed at a local fake), first runs OpenID discovery against the authority, is synchronous (requests, so a
thread), and replays cached 429/5xx answers itself, which would hide them from our single-attempt contract.
A refusal at the token endpoint is permanent; a 401 from Graph with a cached token drops it and is retryable.

Address: one e-mail address or a comma-separated list (one message, all in ``toRecipients``).
E-mail is one-way: opened, escalated, resolved, reopened and test events each send a new message. Graph's
JSON message has a single body, so it carries the HTML rendering (Outlook derives the text view);
critical alerts are sent with importance ``high``. Graph returns no id: the receipt carries the
idempotency key.
"""

from __future__ import annotations

from typing import Any, ClassVar
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
)
from stockbot.adapters.oauth import CachedToken, TokenGrant, TokenRequest
from stockbot.adapters.render.text import email_html, email_subject, ticket

IMPORTANCE = {"normal": "normal", "high": "high", "urgent": "high"}  # ticket priority → Graph importance


class OutlookSettings(AdapterSettings):
    base_url: str | None = "https://graph.microsoft.com"
    # {tenant} is replaced by tenant_id; national clouds change this, base_url and scope together.
    token_url: str = "https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token"
    scope: str = "https://graph.microsoft.com/.default"
    tenant_id: str
    client_id: str
    client_secret: SecretStr
    sender: str  # the sending mailbox: user id (GUID) or userPrincipalName


def graph_message(message: AlertMessage, recipients: list[str]) -> dict[str, Any]:
    return {
        "message": {
            "subject": email_subject(message),
            "body": {"contentType": "HTML", "content": email_html(message)},
            "toRecipients": [{"emailAddress": {"address": email}} for email in recipients],
            "importance": IMPORTANCE[ticket(message).priority],
        },
        "saveToSentItems": True,  # the sent copy is the mailbox owner's record of what went out
    }


class ClientCredentialsGrant(TokenGrant):
    vendor = "outlook"
    default_lifetime = 3599.0

    def __init__(self, settings: OutlookSettings) -> None:
        self.settings = settings

    async def request(self) -> TokenRequest:
        s = self.settings
        form = {
            "client_id": s.client_id,
            "client_secret": s.client_secret.get_secret_value(),
            "scope": s.scope,
            "grant_type": "client_credentials",
        }
        return TokenRequest(s.token_url.replace("{tenant}", quote(s.tenant_id, safe="")), form)


class OutlookAdapter:
    name: ClassVar[str] = "outlook"
    events: ClassVar[frozenset[str]] = INTERRUPT_EVENTS
    Settings: ClassVar[type[AdapterSettings]] = OutlookSettings

    def __init__(self, settings: OutlookSettings, http: aiohttp.ClientSession) -> None:
        self.settings = settings
        self.http = http
        self._token = CachedToken(ClientCredentialsGrant(settings), http, settings.timeout_seconds)

    async def send(self, message: AlertMessage, target: Target) -> Receipt:
        body = graph_message(message, email_addresses("outlook", target.address))
        token, fresh = await self._token.get()
        root = (self.settings.base_url or "https://graph.microsoft.com").rstrip("/")
        result = await http_request(
            self.http,
            "outlook",
            "POST",
            f"{root}/v1.0/users/{quote(self.settings.sender, safe='@')}/sendMail",
            json=body,
            headers={"Authorization": f"Bearer {token.value}"},
            timeout=self.settings.timeout_seconds,
            check=False,
        )
        if result.status == 401:
            self._token.unauthorized(token, fresh)
        classify_status("outlook", result.status, result.headers, result.text)
        return Receipt(external_id=target.idempotency_key, detail=f"HTTP {result.status}")
