"""HubSpot: a private-app token creates a CRM v3 task, and PATCHes it on later events."""

from typing import Any

from aiohttp import web

from tests.adapters.cases import AdapterCase
from tests.fakes.vendor import FakeVendor, Recorded

ACCESS_TOKEN = "pat-na1-7d3e0f5a-stockbot"
TASK_ID = "98765432101"
OWNER_ID = "12345"
NOW = "2026-11-26T09:30:00.000Z"


def _object(task_id: str, properties: dict[str, str]) -> dict[str, Any]:
    return {
        "id": task_id,
        "properties": properties,
        "createdAt": NOW,
        "updatedAt": NOW,
        "archived": False,
    }


def _authorised(recorded: Recorded) -> web.Response | None:
    if recorded.headers.get("Authorization") != f"Bearer {ACCESS_TOKEN}":
        return web.json_response({"status": "error", "category": "INVALID_AUTHENTICATION"}, status=401)
    return None


def _created(recorded: Recorded) -> web.Response:
    body = _object(TASK_ID, recorded.body["properties"])
    return _authorised(recorded) or web.json_response(body, status=201)


def _updated(recorded: Recorded) -> web.Response:
    body = _object(recorded.match["id"], recorded.body["properties"])
    return _authorised(recorded) or web.json_response(body)


def configure(fake: FakeVendor) -> None:
    fake.describe_by("hubspot")
    fake.expect("POST", "/crm/v3/objects/tasks", respond=_created, name="create")
    fake.expect("PATCH", "/crm/v3/objects/tasks/{id}", respond=_updated, name="update")


def settings(base_url: str) -> dict[str, object]:
    return {"base_url": base_url, "access_token": ACCESS_TOKEN}


def _check(fake: FakeVendor) -> None:
    (call,) = fake.calls("create")
    properties = call.body["properties"]
    assert properties["hs_task_priority"] == "HIGH"
    assert properties["hs_task_status"] == "NOT_STARTED"
    assert properties["hubspot_owner_id"] == OWNER_ID
    assert properties["hs_timestamp"] == NOW  # required by HubSpot although the spec does not say so
    assert "PIN-GODZ-PRO" in properties["hs_task_subject"]


CASE = AdapterCase(
    name="hubspot",
    configure=configure,
    settings=settings,
    address=OWNER_ID,
    main_operation="create",
    secrets=[ACCESS_TOKEN],
    check_sent=_check,
    external_id=TASK_ID,
)
