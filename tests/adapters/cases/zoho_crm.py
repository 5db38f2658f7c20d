"""Zoho CRM: refresh-token login at a fake accounts server, then Task insert / update at the ``api_domain``
the token answer names (the fake's own address)."""

from typing import Any

from aiohttp import web

from tests.adapters.cases import AdapterCase
from tests.fakes.vendor import FakeVendor, Recorded

CLIENT_ID = "1000.STOCKBOTCLIENTID"
CLIENT_SECRET = "zoho-secret-3b9d1f6a2c"
REFRESH_TOKEN = "1000.refresh.8e2a4c6b0d"
ACCESS_TOKEN = "1000.access.5f7a9c1e3b"
RECORD_ID = "4150868000000225013"
OWNER_ID = "4150868000000211001"


def token_answer(recorded: Recorded) -> dict[str, Any]:
    return {
        "access_token": ACCESS_TOKEN,
        "scope": "ZohoCRM.modules.tasks.ALL",
        "api_domain": f"http://{recorded.headers['Host']}",  # the data centre's API root; here the fake
        "token_type": "Bearer",
        "expires_in": 3600,
    }


def _token(recorded: Recorded) -> web.Response:
    form = recorded.body
    if (form.get("client_id"), form.get("client_secret")) != (CLIENT_ID, CLIENT_SECRET):
        return web.json_response({"error": "invalid_client"})  # Zoho refuses inside a 200
    if form.get("refresh_token") != REFRESH_TOKEN:
        return web.json_response({"error": "invalid_code"})
    return web.json_response(token_answer(recorded))


def _record_result(record_id: str, message: str, status: int) -> web.Response:
    details = {
        "id": record_id,
        "Modified_Time": "2026-11-26T09:30:00+00:00",
        "Created_Time": "2026-11-26T09:30:00+00:00",
    }
    result = {"code": "SUCCESS", "details": details, "message": message, "status": "success"}
    return web.json_response({"data": [result]}, status=status)


def _authorised(recorded: Recorded) -> web.Response | None:
    if recorded.headers.get("Authorization") != f"Zoho-oauthtoken {ACCESS_TOKEN}":
        body = {"code": "INVALID_TOKEN", "details": {}, "message": "invalid oauth token", "status": "error"}
        return web.json_response(body, status=401)
    return None


def _created(recorded: Recorded) -> web.Response:
    # Zoho's docs answer an all-success insert with 201 (the spec lists 200).
    return _authorised(recorded) or _record_result(RECORD_ID, "record added", 201)


def _updated(recorded: Recorded) -> web.Response:
    return _authorised(recorded) or _record_result(recorded.match["id"], "record updated", 200)


def configure(fake: FakeVendor) -> None:
    fake.describe_by("zoho_crm")
    fake.expect("POST", "/oauth/v2/token", respond=_token, name="token")
    fake.expect("POST", "/crm/v8/Tasks", respond=_created, name="create")
    fake.expect("PUT", "/crm/v8/Tasks/{id}", respond=_updated, name="update")


def settings(base_url: str) -> dict[str, object]:
    return {
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "refresh_token": REFRESH_TOKEN,
        "token_url": f"{base_url}/oauth/v2/token",
    }


def _check(fake: FakeVendor) -> None:
    (call,) = fake.calls("create")
    (record,) = call.body["data"]
    assert record["Priority"] == "Highest"  # critical severity
    assert record["Status"] == "Not Started"
    assert record["Owner"] == {"id": OWNER_ID}
    assert "PIN-GODZ-PRO" in record["Subject"]


CASE = AdapterCase(
    name="zoho_crm",
    configure=configure,
    settings=settings,
    address=OWNER_ID,
    main_operation="create",
    secrets=[CLIENT_SECRET, REFRESH_TOKEN, ACCESS_TOKEN],
    check_sent=_check,
    external_id=RECORD_ID,
)
