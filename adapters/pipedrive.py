"""Creates a Pipedrive activity (type ``task`` by default) for an alert and marks it done when stock is back.

API v2: https://developers.pipedrive.com/docs/api/v1/Activities#addActivity (``POST /api/v2/activities``,
``PATCH /api/v2/activities/{id}``; answers ``{"success": true, "data": {activity}}``). The v1 activity
endpoints (``POST /v1/activities``, ``PUT /v1/activities/{id}``) are deprecated and gone from Pipedrive's
official client (https://developers.pipedrive.com/changelog/post/deprecation-of-selected-api-v1-endpoints).
v2 differs where it matters here: PATCH rather than PUT, ``done`` is a boolean (v1 took 0/1), the assignee
is ``owner_id`` (v1's ``user_id``), and numbers are not coerced from strings.

Address: ``default`` (the token's user gets the activity) or a Pipedrive user id (digits, Company settings →
Manage users, the number in the user's URL) to assign it to. A sales rep, not a deal, is who needs to hear
that stock ran out.

With the receipt's activity id (later events of the same alert) the activity is updated in place: subject
and note always (the note shows who acknowledged or escalated; the activity's ``priority`` is a per-company
list, so it is left alone); resolve sets ``done`` true, reopen sets it false again.

Credentials: ``api_token`` (Personal preferences → API; sent in the ``x-api-token`` header, which Pipedrive
recommends over the ``api_token`` query parameter because it keeps the token out of URLs and logs), or
``oauth_token``, an OAuth access token sent as Bearer (then ``base_url`` is the company domain the token
was issued for, e.g. ``https://acme.pipedrive.com``). ``base_url`` is the host alone: the ``/api/v2`` path
is the adapter's.
"""

from __future__ import annotations

import html
import re
from typing import Any, ClassVar
from urllib.parse import quote

import aiohttp
from pydantic import SecretStr, model_validator

from stockbot.adapters.base import (
    ALL_EVENTS,
    AdapterSettings,
    AlertMessage,
    PermanentError,
    Receipt,
    Target,
    http_request,
    json_object,
)
from stockbot.adapters.render.text import plain_text, ticket

_USER_ID = re.compile(r"^[0-9]{1,19}$")


class PipedriveSettings(AdapterSettings):
    base_url: str = "https://api.pipedrive.com"
    api_token: SecretStr | None = None
    oauth_token: SecretStr | None = None
    activity_type: str = "task"  # an ActivityType key_string: call, meeting, task, deadline, email, lunch…

    @model_validator(mode="after")
    def _one_credential(self) -> PipedriveSettings:
        if (self.api_token is None) == (self.oauth_token is None):
            raise ValueError("set exactly one of api_token and oauth_token")
        if self.base_url.rstrip("/").endswith("/api"):
            # The v1 docs had base_url end in /api; v2 paths carry it themselves (/api/v2/activities).
            host = self.base_url.rstrip("/").removesuffix("/api")
            raise ValueError(f"base_url is the host alone for API v2: write {host!r}, without /api")
        return self


def owner_fields(address: str) -> dict[str, int]:
    if address == "default":
        return {}
    if _USER_ID.match(address):
        return {"owner_id": int(address)}
    raise PermanentError(f"pipedrive address must be 'default' or a user id (digits), got {address[:40]!r}")


def note_html(message: AlertMessage) -> str:
    # Pipedrive renders the note as HTML: plain newlines would run the facts together.
    return "<br>".join(html.escape(line) for line in plain_text(message).splitlines())


def create_body(message: AlertMessage, address: str, activity_type: str) -> dict[str, Any]:
    return {
        "subject": ticket(message).title,
        "type": activity_type,
        "due_date": message.opened_at.date().isoformat(),
        "note": note_html(message),
        "done": False,
        **owner_fields(address),
    }


def update_body(message: AlertMessage) -> dict[str, Any]:
    body: dict[str, Any] = {"subject": ticket(message).title, "note": note_html(message)}
    if message.is_resolved:
        body["done"] = True
    elif message.event == "reopened":
        body["done"] = False
    return body


class PipedriveAdapter:
    name: ClassVar[str] = "pipedrive"
    events: ClassVar[frozenset[str]] = ALL_EVENTS
    Settings: ClassVar[type[AdapterSettings]] = PipedriveSettings

    def __init__(self, settings: PipedriveSettings, http: aiohttp.ClientSession) -> None:
        self.settings = settings
        self.http = http

    def _headers(self) -> dict[str, str]:
        s = self.settings
        if s.api_token is not None:
            return {"x-api-token": s.api_token.get_secret_value(), "Accept": "application/json"}
        assert s.oauth_token is not None  # the settings validator guarantees one or the other
        return {"Authorization": f"Bearer {s.oauth_token.get_secret_value()}", "Accept": "application/json"}

    async def send(self, message: AlertMessage, target: Target) -> Receipt:
        owner_fields(target.address)  # a bad address is a config error on every event, not only the first
        if target.external_id is None:
            body = create_body(message, target.address, self.settings.activity_type)
            method, path = "POST", "/api/v2/activities"
        else:
            method, path = "PATCH", f"/api/v2/activities/{quote(target.external_id, safe='')}"
            body = update_body(message)
        result = await http_request(
            self.http,
            "pipedrive",
            method,
            self.settings.base_url.rstrip("/") + path,
            json=body,
            headers=self._headers(),
            timeout=self.settings.timeout_seconds,
        )
        answer = json_object(result.text)
        data = answer.get("data")
        if not answer.get("success") or not isinstance(data, dict) or "id" not in data:
            error = str(answer.get("error") or "no activity in the answer")[:120]
            raise PermanentError(f"pipedrive answered HTTP {result.status}: {error}")
        if target.external_id is not None:
            return Receipt(external_id=target.external_id, detail="activity updated")
        return Receipt(external_id=str(data["id"]), detail=f"activity {data['id']} created")
