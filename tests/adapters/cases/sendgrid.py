"""SendGrid v3 Mail Send, checked against tsg_mail_v3's request schema."""

from __future__ import annotations

from aiohttp import web

from tests.adapters.cases import AdapterCase
from tests.fakes.vendor import FakeVendor, Recorded

API_KEY = "SG.test-key.sendgrid-9d2c"
MESSAGE_ID = "W86EgYT6SQKk0lRflfLRsA"


def accepted(recorded: Recorded) -> web.Response:
    """202 Accepted, empty body; the message id comes only in the X-Message-Id header."""
    return web.Response(status=202, headers={"X-Message-Id": MESSAGE_ID})


def configure(fake: FakeVendor) -> None:
    fake.describe_by("sendgrid")
    fake.expect("POST", "/v3/mail/send", respond=accepted, name="mail_send")


def settings(base_url: str) -> dict[str, object]:
    return {"base_url": base_url, "api_key": API_KEY, "from_email": "alerts@example.com"}


def _check(fake: FakeVendor) -> None:
    (call,) = fake.calls("mail_send")
    assert call.headers["Authorization"] == f"Bearer {API_KEY}"
    assert [to["email"] for to in call.body["personalizations"][0]["to"]] == [
        "buyer@example.com",
        "ops@example.com",
    ]
    assert "PIN-GODZ-PRO" in call.body["subject"]
    types = [part["type"] for part in call.body["content"]]
    assert types == ["text/plain", "text/html"]


CASE = AdapterCase(
    name="sendgrid",
    configure=configure,
    settings=settings,
    address="buyer@example.com, ops@example.com",
    main_operation="mail_send",
    secrets=[API_KEY],
    check_sent=_check,
    external_id=MESSAGE_ID,
)
