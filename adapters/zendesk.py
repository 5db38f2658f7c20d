"""Opens a Zendesk ticket of type "problem" for an alert and keeps that ticket current.

API: https://developer.zendesk.com/api-reference/ticketing/tickets/tickets/ (Create Ticket, Update Ticket).

Address, one of:
- ``default``: no group; the API user is the requester and the account's routing applies;
- a group id (``360001234567``): the ticket is assigned to that group;
- an e-mail (``dana@example.com``): that person is the requester, so the alert text and the closing note
  are public comments and Zendesk's triggers mail them to that person.

With the receipt's ticket id (later events of the same alert):
- acknowledge, snooze, update: a private comment with the new status;
- escalate: a private comment and priority ``urgent``;
- resolve: status ``solved`` with the closing note. Zendesk refuses to solve a ticket without an assignee
  (HTTP 422) unless "Auto-assign tickets upon solve" is on (Admin Center → Objects and rules → Tickets);
- reopen: status ``open`` with a private comment.

Credentials: ``email`` + ``api_token`` (Admin Center → Apps and integrations → APIs → Zendesk API → add an
API token), or ``oauth_token`` (an OAuth access token, sent as Bearer) instead.
"""

from __future__ import annotations

import base64
import re
from typing import Any, ClassVar
from urllib.parse import quote

import aiohttp
from pydantic import Field, SecretStr, model_validator

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

# Our neutral priority word → Zendesk's own (Zendesk also has "low", which alerts never need).
PRIORITY = {"normal": "normal", "high": "high", "urgent": "urgent"}
_GROUP_ID = re.compile(r"^[0-9]{1,19}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class ZendeskSettings(AdapterSettings):
    subdomain: str | None = Field(default=None, pattern=r"^[a-z0-9][a-z0-9-]*$")
    email: str | None = None
    api_token: SecretStr | None = None
    oauth_token: SecretStr | None = None

    @model_validator(mode="after")
    def _complete(self) -> ZendeskSettings:
        if not (self.subdomain or self.base_url):
            raise ValueError("set subdomain (the NAME in NAME.zendesk.com) or base_url")
        if self.oauth_token is None and not (self.email and self.api_token):
            raise ValueError("set email and api_token (Zendesk API token), or oauth_token")
        return self

    @property
    def root(self) -> str:
        return (self.base_url or f"https://{self.subdomain}.zendesk.com").rstrip("/")


def address_fields(address: str) -> tuple[dict[str, Any], bool]:
    """Ticket fields the address sets, and whether the alert's own comments are public (a named requester)."""
    if address == "default":
        return {}, False
    if _GROUP_ID.match(address):
        return {"group_id": int(address)}, False
    if _EMAIL.match(address):
        return {"requester": {"email": address}}, True
    raise PermanentError(
        f"zendesk address must be 'default', a group id (digits) or a requester e-mail, got {address[:40]!r}"
    )


def tag(label: str) -> str:
    # Zendesk splits tags on spaces and lower-cases them: make each label one stable tag.
    return re.sub(r"[^\w-]+", "_", label.lower()).strip("_")


def progress_note(message: AlertMessage) -> str:
    if message.is_resolved:
        return resolution_note(message)
    return f"{status_line(message)}. {level_text(message)}."


def create_body(message: AlertMessage, address: str) -> dict[str, Any]:
    fields = ticket(message)
    extra, public = address_fields(address)
    return {
        "ticket": {
            "subject": fields.title,
            "comment": {"body": fields.description, "public": public},
            "type": "problem",
            "priority": PRIORITY[fields.priority],
            "tags": [tag(label) for label in fields.labels],
            "external_id": f"stockbot-alert-{message.alert_id}",
            **extra,
        }
    }


def update_body(message: AlertMessage, address: str) -> dict[str, Any]:
    _, public = address_fields(address)
    update: dict[str, Any] = {"comment": {"body": progress_note(message), "public": False}}
    if message.is_resolved:
        update["status"] = "solved"
        update["comment"]["public"] = public  # the requester hears that stock is back
    elif message.event == "reopened":
        update["status"] = "open"
    elif message.event == "escalated":
        update["priority"] = "urgent"
    return {"ticket": update}


class ZendeskAdapter:
    name: ClassVar[str] = "zendesk"
    events: ClassVar[frozenset[str]] = ALL_EVENTS
    Settings: ClassVar[type[AdapterSettings]] = ZendeskSettings

    def __init__(self, settings: ZendeskSettings, http: aiohttp.ClientSession) -> None:
        self.settings = settings
        self.http = http

    def _headers(self) -> dict[str, str]:
        s = self.settings
        if s.oauth_token is not None:
            auth = f"Bearer {s.oauth_token.get_secret_value()}"
        else:
            assert s.api_token is not None  # the settings validator guarantees one or the other
            pair = f"{s.email}/token:{s.api_token.get_secret_value()}".encode()
            auth = f"Basic {base64.b64encode(pair).decode()}"
        return {"Authorization": auth, "Accept": "application/json"}

    async def send(self, message: AlertMessage, target: Target) -> Receipt:
        if target.external_id is None:
            method, path, body = "POST", "/api/v2/tickets", create_body(message, target.address)
        else:
            path = f"/api/v2/tickets/{quote(target.external_id, safe='')}"
            method, body = "PUT", update_body(message, target.address)
        result = await http_request(
            self.http,
            "zendesk",
            method,
            self.settings.root + path,
            json=body,
            headers=self._headers(),
            timeout=self.settings.timeout_seconds,
        )
        if target.external_id is not None:
            return Receipt(external_id=target.external_id, detail=f"ticket updated (HTTP {result.status})")
        try:
            ticket_id = result.json()["ticket"]["id"]
        except (ValueError, TypeError, KeyError):
            raise PermanentError(f"zendesk answered HTTP {result.status} without a ticket id") from None
        return Receipt(external_id=str(ticket_id), detail=f"ticket {ticket_id} created")
