"""Pipedrive: an API token in the ``x-api-token`` header creates a v1 activity and updates it later."""

from aiohttp import web

from tests.adapters.cases import AdapterCase
from tests.fakes.shared import vendor_spec
from tests.fakes.vendor import FakeVendor, Recorded, operation_schema

API_TOKEN = "pd-token-659c9fddb16335e4"
OAUTH_TOKEN = "pd-oauth-4a1c7e9b2d"
ACTIVITY_ID = 8123
USER_ID = "1234567"


def _authorised(recorded: Recorded) -> web.Response | None:
    ok = recorded.headers.get("x-api-token") == API_TOKEN
    ok = ok or recorded.headers.get("Authorization") == f"Bearer {OAUTH_TOKEN}"
    if not ok:
        body = {"success": False, "error": "unauthorized access", "errorCode": 401}
        return web.json_response(body, status=401)
    return None


def _activity(activity_id: int, recorded: Recorded, status: int) -> web.Response:
    data = {"id": activity_id, "done": False, "type": "task", **recorded.body}
    body = {"success": True, "data": data, "additional_data": {}, "related_objects": {}}
    return _authorised(recorded) or web.json_response(body, status=status)


def configure(fake: FakeVendor) -> None:
    # updateActivity takes the addActivity fields, none of them required, so one schema checks both.
    schema = operation_schema(vendor_spec("pipedrive"))
    fake.expect(
        "POST",
        "/v1/activities",
        schema=schema,
        respond=lambda r: _activity(ACTIVITY_ID, r, 201),
        name="create",
    )
    fake.expect(
        "PUT",
        "/v1/activities/{id}",
        schema=schema,
        respond=lambda r: _activity(int(r.match["id"]), r, 200),
        name="update",
    )


def settings(base_url: str) -> dict[str, object]:
    return {"base_url": base_url, "api_token": API_TOKEN}


def _check(fake: FakeVendor) -> None:
    (call,) = fake.calls("create")
    assert "api_token" not in call.query  # the token travels in a header, never in the URL
    assert call.body["type"] == "task"
    assert call.body["user_id"] == int(USER_ID)
    assert "PIN-GODZ-PRO" in call.body["subject"]
    assert "<br>" in call.body["note"]


CASE = AdapterCase(
    name="pipedrive",
    configure=configure,
    settings=settings,
    address=USER_ID,
    main_operation="create",
    secrets=[API_TOKEN],
    check_sent=_check,
    external_id=str(ACTIVITY_ID),
)
