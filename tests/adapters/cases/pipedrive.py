"""Pipedrive: an API token in the ``x-api-token`` header creates an API v2 activity and updates it later."""

from aiohttp import web

from tests.adapters.cases import AdapterCase
from tests.fakes.vendor import FakeVendor, Recorded

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


def _activity(activity_id: int, recorded: Recorded) -> web.Response:
    data = {"id": activity_id, "done": False, "type": "task", **recorded.body}
    return _authorised(recorded) or web.json_response({"success": True, "data": data})  # v2: 200, no extras


def configure(fake: FakeVendor) -> None:
    fake.describe_by("pipedrive")  # v1 activities are marked deprecated there: the fake refuses them
    fake.expect("POST", "/api/v2/activities", respond=lambda r: _activity(ACTIVITY_ID, r), name="create")
    fake.expect(
        "PATCH", "/api/v2/activities/{id}", respond=lambda r: _activity(int(r.match["id"]), r), name="update"
    )


def settings(base_url: str) -> dict[str, object]:
    return {"base_url": base_url, "api_token": API_TOKEN}


def _check(fake: FakeVendor) -> None:
    (call,) = fake.calls("create")
    assert "api_token" not in call.query  # the token travels in a header, never in the URL
    assert call.body["type"] == "task"
    assert call.body["owner_id"] == int(USER_ID)
    assert call.body["done"] is False  # v2 booleans, not v1's 0/1
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
