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
secret as HTTP Basic) and keeps it until shortly before it expires (an hour), through the shared token cache
(``adapters/oauth.py``). Intuit rotates refresh tokens: a refresh may hand back a new one and retire the old.
The adapter stores the newest through the ``token_store`` service (``bot/runtime.py`` builds it over the
database, encrypted with ``STOCKBOT_SECRET_KEY``) and reads it back before each refresh, so a restarted
process, or another replica on the same database, refreshes with the newest token rather than the retired
one it was configured with. The stored token remembers which configured ``refresh_token`` it descends from:
configure a new one (after reconnecting the app) and that one is used again. Without a ``token_store``
(an adapter built by hand) the rotated token lives in memory only. A refresh refused with ``invalid_grant``
means the chain is broken: reconnect the app and configure the new refresh token.

Credentials: ``client_id``/``client_secret`` from the app's Keys & credentials page on developer.intuit.com;
``refresh_token`` and ``realm_id`` (the company id) from connecting the app to the company once, e.g. with
Intuit's OAuth 2.0 Playground, scope ``com.intuit.quickbooks.accounting``. Sandbox companies use
``base_url = "https://sandbox-quickbooks.api.intuit.com"``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from dataclasses import dataclass
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
    json_object,
)
from stockbot.adapters.oauth import CachedToken, TokenGrant, TokenRequest, TokenStore
from stockbot.adapters.render.text import plain_text

_ITEM_ID = re.compile(r"^[0-9]{1,20}$")
NOTE_LIMIT = 2000  # Attachable.Note max length


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


@dataclass(frozen=True)
class Rotation:
    """A refresh token and how many rotations it is from the configured one (0: the configured one)."""

    refresh_token: str
    generation: int


class IntuitGrant(TokenGrant):
    """The refresh-token grant, with the client as HTTP Basic, keeping the newest refresh token."""

    vendor = "quickbooks"

    def __init__(self, settings: QuickBooksSettings, store: TokenStore | None) -> None:
        self.settings = settings
        self.store = store
        configured = settings.refresh_token.get_secret_value()
        # Which configured token a stored one descends from; a hash, so the store holds no second copy.
        self.seed = hashlib.sha256(configured.encode()).hexdigest()[:32]
        self.store_name = f"quickbooks:{settings.realm_id}:refresh_token"
        self.current = Rotation(configured, 0)

    async def request(self) -> TokenRequest:
        s = self.settings
        refresh_token = (await self.newest()).refresh_token
        client = base64.b64encode(f"{s.client_id}:{s.client_secret.get_secret_value()}".encode()).decode()
        form = {"grant_type": "refresh_token", "refresh_token": refresh_token}
        return TokenRequest(s.token_url, form, {"Authorization": f"Basic {client}"})

    def check(self, result: HttpResult) -> None:
        if result.status in (400, 401):
            raise PermanentError(
                f"quickbooks token refresh refused (HTTP {result.status}, {_oauth_error(result)}): check "
                "client_id/client_secret, or reconnect the app and configure a new refresh_token"
            )
        super().check(result)

    async def accept(self, answer: dict[str, Any]) -> dict[str, str]:
        rotated = answer.get("refresh_token")
        if isinstance(rotated, str) and rotated and rotated != self.current.refresh_token:
            # Kept in memory first: if storing fails, this process still holds the only valid token and
            # its higher generation wins over the stored one at the next refresh.
            self.current = Rotation(rotated, self.current.generation + 1)
            if self.store is not None:
                record = {"seed": self.seed, "generation": self.current.generation, "refresh_token": rotated}
                await self.store.put(self.store_name, json.dumps(record))
        return {}

    async def newest(self) -> Rotation:
        """This process's refresh token, or a newer one stored by an earlier run or another replica."""
        if self.store is not None:
            stored = _stored_rotation(await self.store.get(self.store_name), self.seed)
            if stored is not None and stored.generation >= self.current.generation:
                self.current = stored
        return self.current


def _stored_rotation(raw: str | None, seed: str) -> Rotation | None:
    record = json_object(raw or "")
    token, generation = record.get("refresh_token"), record.get("generation")
    if record.get("seed") != seed or not isinstance(token, str) or not isinstance(generation, int):
        return None  # nothing stored, or it descends from a refresh_token no longer configured
    return Rotation(token, generation)


class QuickBooksAdapter:
    name: ClassVar[str] = "quickbooks"
    events: ClassVar[frozenset[str]] = INTERRUPT_EVENTS
    Settings: ClassVar[type[AdapterSettings]] = QuickBooksSettings
    services: ClassVar[tuple[str, ...]] = ("token_store",)  # where the rotated refresh token is kept

    def __init__(
        self, settings: QuickBooksSettings, http: aiohttp.ClientSession, token_store: TokenStore | None = None
    ) -> None:
        self.settings = settings
        self.http = http
        self._token = CachedToken(IntuitGrant(settings, token_store), http, settings.timeout_seconds)

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
        token, _ = await self._token.get()
        result = await self._create_note(body, token.value)
        if result.status == 401:  # revoked or expired early: one fresh token, then the answer stands
            self._token.forget(token)
            token, _ = await self._token.get()
            result = await self._create_note(body, token.value)
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
