"""Salesforce: OAuth client-credentials login at a fake token endpoint, then Task create / update at the
``instance_url`` the token answer names (the fake's own address)."""

from aiohttp import web

from tests.adapters.cases import AdapterCase
from tests.fakes.vendor import FakeVendor, Recorded

CLIENT_ID = "3MVG9-stockbot-consumer-key"
CLIENT_SECRET = "sf-secret-9a4c2e71d0"
REFRESH_TOKEN = "sf-refresh-5d2b0c8e3f"
ACCESS_TOKEN = "00DSTOCKBOT!AQ.access-7e1f"
TASK_ID = "00T5g00000AbCdEFGH"
OWNER_ID = "005000000000001AAA"


def _token(recorded: Recorded) -> web.Response:
    form = recorded.body
    if (form.get("client_id"), form.get("client_secret")) != (CLIENT_ID, CLIENT_SECRET):
        return web.json_response(
            {"error": "invalid_client", "error_description": "invalid client"}, status=400
        )
    if form.get("grant_type") == "refresh_token" and form.get("refresh_token") != REFRESH_TOKEN:
        return web.json_response({"error": "invalid_grant"}, status=400)
    return web.json_response(
        {
            "access_token": ACCESS_TOKEN,
            # the real answer names the org's instance; here, the fake itself
            "instance_url": f"http://{recorded.headers['Host']}",
            "id": "https://login.salesforce.com/id/00D000000000001/005000000000001",
            "token_type": "Bearer",
            "issued_at": "1764149400000",
            "signature": "c2lnbmF0dXJl",
        }
    )


def _authorised(recorded: Recorded) -> web.Response | None:
    if recorded.headers.get("Authorization") != f"Bearer {ACCESS_TOKEN}":
        body = [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]
        return web.json_response(body, status=401)
    return None


def _created(recorded: Recorded) -> web.Response:
    return _authorised(recorded) or web.json_response(
        {"id": TASK_ID, "success": True, "errors": []}, status=201
    )


def _updated(recorded: Recorded) -> web.Response:
    return _authorised(recorded) or web.Response(status=204)


def configure(fake: FakeVendor) -> None:
    fake.describe_by("salesforce")
    fake.expect("POST", "/services/oauth2/token", respond=_token, name="token")
    fake.expect("POST", "/services/data/{version}/sobjects/Task", respond=_created, name="create")
    fake.expect("PATCH", "/services/data/{version}/sobjects/Task/{id}", respond=_updated, name="update")


def settings(base_url: str) -> dict[str, object]:
    return {
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "token_url": f"{base_url}/services/oauth2/token",
    }


def _check(fake: FakeVendor) -> None:
    (call,) = fake.calls("create")
    assert call.match["version"] == "v62.0"
    assert call.body["Priority"] == "High"
    assert call.body["Status"] == "Not Started"
    assert call.body["OwnerId"] == OWNER_ID
    assert "PIN-GODZ-PRO" in call.body["Subject"]
    (login,) = fake.calls("token")
    assert login.body["grant_type"] == "client_credentials"


CASE = AdapterCase(
    name="salesforce",
    configure=configure,
    settings=settings,
    address=OWNER_ID,
    main_operation="create",
    secrets=[CLIENT_SECRET, ACCESS_TOKEN],
    check_sent=_check,
    external_id=TASK_ID,
)
