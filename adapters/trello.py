"""Puts a card on a Trello list for an alert and keeps that card current.

API: https://developer.atlassian.com/cloud/trello/rest/api-group-cards/ (Create a new Card, Update a Card,
Add a new comment to a Card).

Address: the id of the list the cards go on (24 hex digits; open a card on that list, add ``.json`` to its
URL and read ``idList``).

With the receipt's card id (later events of the same alert):
- resolve: the card moves to ``done_list_id`` when that is set, else it is archived (``closed=true``);
- reopen: the card comes back, open, to the address's list;
- acknowledge, escalate and any other event: a comment with the new status.

Trello has no priority field: urgent and high alerts go on top of the list, normal ones at the bottom.

Credentials: ``api_key`` and ``token`` from https://trello.com/power-ups/admin (a Power-Up → API key →
generate a token for the account the cards are created as). Trello's docs show them as ``key``/``token``
query parameters but also accept them in an ``Authorization: OAuth oauth_consumer_key=…, oauth_token=…``
header; we use the header, because a URL carrying secrets ends up in access logs (proxies', the fake's)
where redaction cannot reach. The card fields themselves are query parameters, as documented.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar
from urllib.parse import quote

import aiohttp
from pydantic import Field, SecretStr

from stockbot.adapters.base import (
    ALL_EVENTS,
    AdapterSettings,
    AlertMessage,
    PermanentError,
    Receipt,
    Target,
    http_request,
)
from stockbot.adapters.render.text import level_text, resolution_note, status_line, ticket

_TRELLO_ID = re.compile(r"^[0-9a-fA-F]{24}$")
# Our neutral priority word → where the card goes on its list (Trello has no priority field).
POSITION = {"normal": "bottom", "high": "top", "urgent": "top"}


class TrelloSettings(AdapterSettings):
    base_url: str = "https://api.trello.com"
    api_key: SecretStr
    token: SecretStr
    done_list_id: str | None = Field(default=None, pattern=r"^[0-9a-fA-F]{24}$")


def progress_note(message: AlertMessage) -> str:
    if message.is_resolved:
        return resolution_note(message)
    return f"{status_line(message)}. {level_text(message)}."


def create_params(message: AlertMessage, list_id: str) -> dict[str, str]:
    fields = ticket(message)
    return {
        "idList": list_id,
        "name": fields.title,
        "desc": fields.description,
        "pos": POSITION[fields.priority],
    }


def update_request(
    message: AlertMessage, target: Target, done_list_id: str | None
) -> tuple[str, str, dict[str, str], str]:
    """(method, path, query, what it does) of the request that brings an existing card up to date."""
    card = f"/1/cards/{quote(target.external_id or '', safe='')}"
    if message.is_resolved and done_list_id:
        return "PUT", card, {"idList": done_list_id}, "card moved to the done list"
    if message.is_resolved:
        return "PUT", card, {"closed": "true"}, "card archived"
    if message.event == "reopened":
        return "PUT", card, {"idList": target.address, "closed": "false"}, "card reopened"
    return "POST", f"{card}/actions/comments", {"text": progress_note(message)}, "comment added"


class TrelloAdapter:
    name: ClassVar[str] = "trello"
    events: ClassVar[frozenset[str]] = ALL_EVENTS
    Settings: ClassVar[type[AdapterSettings]] = TrelloSettings

    def __init__(self, settings: TrelloSettings, http: aiohttp.ClientSession) -> None:
        self.settings = settings
        self.http = http

    def _headers(self) -> dict[str, str]:
        key, token = self.settings.api_key.get_secret_value(), self.settings.token.get_secret_value()
        return {
            "Authorization": f'OAuth oauth_consumer_key="{key}", oauth_token="{token}"',
            "Accept": "application/json",
        }

    async def _call(self, method: str, path: str, params: dict[str, Any]) -> Any:
        result = await http_request(
            self.http,
            "trello",
            method,
            self.settings.base_url.rstrip("/") + path,
            params=params,
            headers=self._headers(),
            timeout=self.settings.timeout_seconds,
        )
        try:
            return result.json()
        except ValueError:
            return None

    async def send(self, message: AlertMessage, target: Target) -> Receipt:
        if not _TRELLO_ID.match(target.address):
            raise PermanentError(
                f"trello address must be a list id (24 hex digits), got {target.address[:40]!r}"
            )
        if target.external_id is not None:
            method, path, params, done = update_request(message, target, self.settings.done_list_id)
            await self._call(method, path, params)
            return Receipt(external_id=target.external_id, detail=done)
        card = await self._call("POST", "/1/cards", create_params(message, target.address))
        card_id = card.get("id") if isinstance(card, dict) else None
        if not card_id:
            raise PermanentError("trello answered without a card id")
        return Receipt(external_id=str(card_id), detail=f"card {card_id} created")
