"""Creates a HubSpot CRM task for an alert and completes it when stock is back.

API: https://developers.hubspot.com/docs/api/crm/tasks (CRM v3 objects: create ``POST /crm/v3/objects/tasks``,
update ``PATCH /crm/v3/objects/tasks/{taskId}``). The legacy ``/engagements/v1`` API is on the sunset track.

Address: ``default`` (the task has no owner) or a HubSpot owner id (digits, from ``GET /crm/v3/owners``:
the ``id``, not the ``userId``), set as ``hubspot_owner_id``.

With the receipt's task id (later events of the same alert) the task is PATCHed in place: subject and body
always (the body shows who acknowledged or escalated); escalate also sets priority HIGH, resolve sets
status COMPLETED, reopen sets NOT_STARTED again.

Credentials: a private app access token (Settings → Integrations → Private apps; HubSpot's spec lists the
scope ``crm.objects.contacts.write`` for tasks), sent as Bearer.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any, ClassVar
from urllib.parse import quote

import aiohttp
from pydantic import SecretStr

from stockbot.adapters.base import (
    ALL_EVENTS,
    AdapterSettings,
    AlertMessage,
    PermanentError,
    Receipt,
    Target,
    http_request,
)
from stockbot.adapters.render.text import ticket

# hs_task_priority has LOW / MEDIUM / HIGH; a low-stock warning is MEDIUM, anything out of stock HIGH.
PRIORITY = {"normal": "MEDIUM", "high": "HIGH", "urgent": "HIGH"}
_OWNER_ID = re.compile(r"^[0-9]{1,19}$")


class HubSpotSettings(AdapterSettings):
    base_url: str = "https://api.hubapi.com"
    access_token: SecretStr


def owner_properties(address: str) -> dict[str, str]:
    if address == "default":
        return {}
    if _OWNER_ID.match(address):
        return {"hubspot_owner_id": address}
    raise PermanentError(f"hubspot address must be 'default' or an owner id (digits), got {address[:40]!r}")


def _timestamp(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def create_body(message: AlertMessage, address: str) -> dict[str, Any]:
    fields = ticket(message)
    properties = {
        "hs_task_subject": fields.title,
        "hs_task_body": fields.description,
        "hs_task_priority": PRIORITY[fields.priority],
        "hs_task_status": "NOT_STARTED",
        "hs_task_type": "TODO",
        # hs_timestamp is the task's due date, which HubSpot requires: due at once.
        "hs_timestamp": _timestamp(message.updated_at),
        **owner_properties(address),
    }
    # The spec requires "associations"; an alert is about a product, not a contact or deal, so none.
    return {"properties": properties, "associations": []}


def update_body(message: AlertMessage) -> dict[str, Any]:
    fields = ticket(message)
    properties = {"hs_task_subject": fields.title, "hs_task_body": fields.description}
    if message.is_resolved:
        properties["hs_task_status"] = "COMPLETED"
    elif message.event == "reopened":
        properties["hs_task_status"] = "NOT_STARTED"
    elif message.event == "escalated":
        properties["hs_task_priority"] = "HIGH"
    return {"properties": properties}


class HubSpotAdapter:
    name: ClassVar[str] = "hubspot"
    events: ClassVar[frozenset[str]] = ALL_EVENTS
    Settings: ClassVar[type[AdapterSettings]] = HubSpotSettings

    def __init__(self, settings: HubSpotSettings, http: aiohttp.ClientSession) -> None:
        self.settings = settings
        self.http = http

    async def send(self, message: AlertMessage, target: Target) -> Receipt:
        owner_properties(target.address)  # a bad address is a config error on every event, not only the first
        if target.external_id is None:
            method, path, body = "POST", "/crm/v3/objects/tasks", create_body(message, target.address)
        else:
            method, path = "PATCH", f"/crm/v3/objects/tasks/{quote(target.external_id, safe='')}"
            body = update_body(message)
        result = await http_request(
            self.http,
            "hubspot",
            method,
            self.settings.base_url.rstrip("/") + path,
            json=body,
            headers={
                "Authorization": f"Bearer {self.settings.access_token.get_secret_value()}",
                "Accept": "application/json",
            },
            timeout=self.settings.timeout_seconds,
        )
        if target.external_id is not None:
            return Receipt(external_id=target.external_id, detail=f"task updated (HTTP {result.status})")
        try:
            task_id = str(result.json()["id"])
        except (ValueError, TypeError, KeyError):
            raise PermanentError(f"hubspot answered HTTP {result.status} without a task id") from None
        return Receipt(external_id=task_id, detail=f"task {task_id} created")
