"""Records each alert event as a note on the product's Item in QuickBooks Online.

QuickBooks Online has NO task, activity or notification entity: its Accounting API cannot open a to-do for
anyone. The closest real write is a note-only ``Attachable`` linked to the Item (``AttachableRef`` →
``EntityRef {type: Item, value: <id>}``), which shows under the Item's attachments. So this adapter is a
record-keeping channel, not a way to reach a person: route people to Slack, e-mail or SMS as well.

API: https://developer.intuit.com/app/developer/qbo/docs/api/accounting/all-entities/attachable (Create an
attachable, ``POST /v3/company/{realmId}/attachable?minorversion=75``; answers 200 with the Attachable).

Address: the Item's id in QuickBooks (digits; shown in the URL when the item is opened, or via a query).

Notes cannot be edited into a status, so every event (opened, escalated, resolved, ...) is a new note; the
receipt carries the new Attachable's id.

Auth: OAuth 2.0. The adapter trades ``refresh_token`` for an access token at ``token_url`` (client id and
secret as HTTP Basic) and keeps it until shortly before it expires (an hour). Intuit rotates refresh tokens:
the token endpoint may hand back a new one, which the adapter keeps, in memory only. A restarted process
starts again from the configured ``refresh_token``; once Intuit has retired that one (token refresh answers
``invalid_grant``), reconnect the app and configure the newest refresh token.

Credentials: ``client_id``/``client_secret`` from the app's Keys & credentials page on developer.intuit.com;
``refresh_token`` and ``realm_id`` (the company id) from connecting the app to the company once, e.g. with
Intuit's OAuth 2.0 Playground, scope ``com.intuit.quickbooks.accounting``. Sandbox companies use
``base_url = "https://sandbox-quickbooks.api.intuit.com"``.
"""

from __future__ import annotations

import asyncio
import base64
import re
import time
from typing import Any, ClassVar

import aiohttp
from pydantic import Field, SecretStr

from stockbot.adapters.base import (
    INTERRUPT_EVENTS,
    AdapterSettings,
    AlertMessage,
    HttpResult,
    PermanentError,
    Receipt,
    Target,
    classify_status,
    http_request,
)
from stockbot.adapters.render.text import plain_text

_ITEM_ID = re.compile(r"^[0-9]{1,20}$")
NOTE_LIMIT = 2000  # Attachable.Note max length
EXPIRY_MARGIN = 60.0  # seconds before the access token's end at which a fresh one is fetched


class QuickBooksSettings(AdapterSettings):
    base_url: str = "https://quickbooks.api.intuit.com"
    token_url: str = "https://oauth.platform.intuit.com/oauth2/v1/tokens/bearer"
    client_id: str
    client_secret: SecretStr
    refresh_token: SecretStr
    realm_id: str = Field(pattern=r"^[0-9]+$")
    minor_version: str = Field(default="75", pattern=r"^[0-9]+$")


def note_body(message: AlertMessage, item_id: str) -> dict[str, Any]:
    note = plain_text(message)
    if len(note) > NOTE_LIMIT:
        note = note[: NOTE_LIMIT - 1] + "…"
    return {"Note": note, "AttachableRef": [{"EntityRef": {"type": "Item", "value": item_id}}]}


class QuickBooksAdapter:
    name: ClassVar[str] = "quickbooks"
    events: ClassVar[frozenset[str]] = INTERRUPT_EVENTS
    Settings: ClassVar[type[AdapterSettings]] = QuickBooksSettings

    def __init__(self, settings: QuickBooksSettings, http: aiohttp.ClientSession) -> None:
        self.settings = settings
        self.http = http
        self._refresh_token = settings.refresh_token.get_secret_value()
        self._access_token: str | None = None
        self._expires_at = 0.0
        self._token_lock = asyncio.Lock()

    async def _token(self, stale: str | None = None) -> str:
        """A valid access token; ``stale`` is one the API just refused, so it is not handed out again."""
        async with self._token_lock:
            token = self._access_token
            if token is not None and time.monotonic() < self._expires_at and token != stale:
                return token
            s = self.settings
            client = base64.b64encode(f"{s.client_id}:{s.client_secret.get_secret_value()}".encode()).decode()
            result = await http_request(
                self.http,
                "quickbooks token",
                "POST",
                s.token_url,
                data={"grant_type": "refresh_token", "refresh_token": self._refresh_token},
                headers={"Authorization": f"Basic {client}", "Accept": "application/json"},
                timeout=s.timeout_seconds,
                check=False,
            )
            if result.status in (400, 401):
                raise PermanentError(
                    f"quickbooks token refresh refused (HTTP {result.status}, {_oauth_error(result)}): check "
                    "client_id/client_secret, or reconnect the app and configure a new refresh_token"
                )
            classify_status("quickbooks token", result.status, result.headers, result.text)
            try:
                answer = result.json()
                access_token, lifetime = str(answer["access_token"]), float(answer.get("expires_in", 3600))
            except (ValueError, TypeError, KeyError):
                raise PermanentError("quickbooks token endpoint answered without an access_token") from None
            self._access_token = access_token
            self._expires_at = time.monotonic() + lifetime - EXPIRY_MARGIN
            self._refresh_token = str(answer.get("refresh_token") or self._refresh_token)
            return access_token

    async def _create_note(self, body: dict[str, Any], token: str) -> HttpResult:
        s = self.settings
        return await http_request(
            self.http,
            "quickbooks",
            "POST",
            f"{s.base_url.rstrip('/')}/v3/company/{s.realm_id}/attachable",
            params={"minorversion": s.minor_version},
            json=body,
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
            timeout=s.timeout_seconds,
            check=False,
        )

    async def send(self, message: AlertMessage, target: Target) -> Receipt:
        if not _ITEM_ID.match(target.address):
            raise PermanentError(
                f"quickbooks address must be an Item id (digits), got {target.address[:40]!r}"
            )
        body = note_body(message, target.address)
        token = await self._token()
        result = await self._create_note(body, token)
        if result.status == 401:  # revoked or expired early: one fresh token, then the answer stands
            result = await self._create_note(body, await self._token(stale=token))
        classify_status("quickbooks", result.status, result.headers, result.text)
        try:
            note_id = str(result.json()["Attachable"]["Id"])
        except (ValueError, TypeError, KeyError):
            raise PermanentError(
                f"quickbooks answered HTTP {result.status} without an Attachable id"
            ) from None
        return Receipt(external_id=note_id, detail=f"note {note_id} attached to item {target.address}")


def _oauth_error(result: HttpResult) -> str:
    # RFC 6749 §5.2 error codes (invalid_grant, invalid_client) name the cause without any secret.
    try:
        answer = result.json()
    except ValueError:
        return "no error code"
    code = answer.get("error") if isinstance(answer, dict) else None
    return re.sub(r"[^a-z_]", "", str(code))[:40] if code else "no error code"
