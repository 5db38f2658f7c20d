"""Gmail users.messages.send, checked against gmail.json; the Google token endpoint checked per its docs."""

from __future__ import annotations

import base64
import email
import email.policy

from aiohttp import web

from tests.adapters.cases import AdapterCase
from tests.fakes.vendor import FakeVendor, Recorded

CLIENT_ID = "1234567890-stockbot.apps.googleusercontent.com"
CLIENT_SECRET = "GOCSPX-gmail-client-secret-77"
REFRESH_TOKEN = "1//gmail-refresh-token-0a9f"
ACCESS_TOKEN = "ya29.gmail-access-token"
MESSAGE_ID = "18c2f0d1a3b4c5d6"


def token(recorded: Recorded) -> web.Response:
    grant = (
        recorded.body.get("client_id"),
        recorded.body.get("client_secret"),
        recorded.body.get("refresh_token"),
    )
    if grant != (CLIENT_ID, CLIENT_SECRET, REFRESH_TOKEN):
        return web.json_response({"error": "invalid_grant"}, status=400)
    return web.json_response(
        {
            "access_token": ACCESS_TOKEN,
            "expires_in": 3599,
            "scope": "https://www.googleapis.com/auth/gmail.send",
            "token_type": "Bearer",
        }
    )


def sent(recorded: Recorded) -> web.Response:
    if recorded.headers.get("Authorization") != f"Bearer {ACCESS_TOKEN}":
        return web.json_response({"error": {"code": 401, "status": "UNAUTHENTICATED"}}, status=401)
    return web.json_response({"id": MESSAGE_ID, "threadId": MESSAGE_ID, "labelIds": ["SENT"]})


def configure(fake: FakeVendor) -> None:
    fake.describe_by("gmail")
    fake.expect("POST", "/token", respond=token, name="token")
    fake.expect("POST", "/gmail/v1/users/{userId}/messages/send", respond=sent, name="send")


def settings(base_url: str) -> dict[str, object]:
    return {
        "base_url": base_url,
        "token_url": f"{base_url}/token",
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "refresh_token": REFRESH_TOKEN,
        "from_email": "alerts@example.com",
    }


def decoded(recorded: Recorded) -> email.message.EmailMessage:
    raw = base64.urlsafe_b64decode(recorded.body["raw"])
    return email.message_from_bytes(raw, policy=email.policy.default)  # type: ignore[return-value]


def _check(fake: FakeVendor) -> None:
    (call,) = fake.calls("send")
    assert call.match["userId"] == "me"
    mail = decoded(call)
    assert mail["To"] == "buyer@example.com"
    assert "PIN-GODZ-PRO" in mail["Subject"]
    assert mail.get_content_type() == "multipart/alternative"
    assert [part.get_content_type() for part in mail.iter_parts()] == ["text/plain", "text/html"]


CASE = AdapterCase(
    name="gmail",
    configure=configure,
    settings=settings,
    address="buyer@example.com",
    main_operation="send",
    secrets=[CLIENT_SECRET, REFRESH_TOKEN],
    check_sent=_check,
    external_id=MESSAGE_ID,
)
