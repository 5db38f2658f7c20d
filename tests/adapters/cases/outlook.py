"""Microsoft Graph sendMail (app-only path), checked against outlook_graph.json; the Entra ID token endpoint
checked against its client-credentials docs."""

from __future__ import annotations

from aiohttp import web

from tests.adapters.cases import AdapterCase
from tests.fakes.vendor import FakeVendor, Recorded

TENANT_ID = "8f0c6a2e-1b7d-4c3e-9a55-2d4e6f8a0b1c"
CLIENT_ID = "4a1b2c3d-0000-4e5f-8a9b-0c1d2e3f4a5b"
CLIENT_SECRET = "outlook~client~secret~61d2"
ACCESS_TOKEN = "eyJ0eXAiOiJKV1Qi.outlook-access-token"
SENDER = "alerts@contoso.example"


def token(recorded: Recorded) -> web.Response:
    if (recorded.body.get("client_id"), recorded.body.get("client_secret")) != (CLIENT_ID, CLIENT_SECRET):
        return web.json_response({"error": "invalid_client"}, status=401)
    if recorded.body.get("scope") != "https://graph.microsoft.com/.default":
        return web.json_response({"error": "invalid_scope"}, status=400)
    return web.json_response(
        {"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": ACCESS_TOKEN}
    )


def accepted(recorded: Recorded) -> web.Response:
    if recorded.headers.get("Authorization") != f"Bearer {ACCESS_TOKEN}":
        return web.json_response({"error": {"code": "InvalidAuthenticationToken"}}, status=401)
    return web.Response(status=202)


def configure(fake: FakeVendor) -> None:
    fake.describe_by("outlook_graph")
    fake.expect("POST", "/{tenant}/oauth2/v2.0/token", respond=token, name="token")
    fake.expect("POST", "/v1.0/users/{id}/sendMail", respond=accepted, name="send_mail")


def settings(base_url: str) -> dict[str, object]:
    return {
        "base_url": base_url,
        "token_url": f"{base_url}/{{tenant}}/oauth2/v2.0/token",
        "tenant_id": TENANT_ID,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "sender": SENDER,
    }


def _check(fake: FakeVendor) -> None:
    (grant,) = fake.calls("token")
    assert grant.match["tenant"] == TENANT_ID
    (call,) = fake.calls("send_mail")
    assert call.match["id"] == SENDER
    mail = call.body["message"]
    assert mail["toRecipients"] == [{"emailAddress": {"address": "buyer@example.com"}}]
    assert "PIN-GODZ-PRO" in mail["subject"]
    assert mail["body"]["contentType"] == "HTML" and "<table>" in mail["body"]["content"]
    assert mail["importance"] == "high"


CASE = AdapterCase(
    name="outlook",
    configure=configure,
    settings=settings,
    address="buyer@example.com",
    main_operation="send_mail",
    secrets=[CLIENT_SECRET],
    check_sent=_check,
    external_id="alert-42-test-1",
)
