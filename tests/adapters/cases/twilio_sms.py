"""Twilio Programmable Messaging: CreateMessage, checked against twilio_api_v2010's request schema."""

from __future__ import annotations

from aiohttp import web

from tests.adapters.cases import AdapterCase
from tests.fakes.vendor import FakeVendor, Recorded

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "twilio-auth-token-5e1f0c"
MESSAGE_SID = "SM" + "fedcba9876543210" * 2


def message_resource(recorded: Recorded) -> web.Response:
    """The Message resource Twilio answers with (201), as in the API reference."""
    form = recorded.body
    return web.json_response(
        {
            "account_sid": recorded.match["AccountSid"],
            "api_version": "2010-04-01",
            "body": form.get("Body"),
            "date_created": "Thu, 26 Nov 2026 09:30:00 +0000",
            "date_sent": None,
            "date_updated": "Thu, 26 Nov 2026 09:30:00 +0000",
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": form.get("From"),
            "messaging_service_sid": form.get("MessagingServiceSid"),
            "num_media": "0",
            "num_segments": "1",
            "price": None,
            "price_unit": "USD",
            "sid": MESSAGE_SID,
            "status": "queued",
            "subresource_uris": {
                "media": f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/{MESSAGE_SID}/Media.json"
            },
            "to": form.get("To"),
            "uri": f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/{MESSAGE_SID}.json",
        },
        status=201,
    )


def configure(fake: FakeVendor) -> None:
    fake.describe_by("twilio_sms")
    fake.expect(
        "POST",
        "/2010-04-01/Accounts/{AccountSid}/Messages.json",
        respond=message_resource,
        name="create_message",
    )


def _check(fake: FakeVendor) -> None:
    (call,) = fake.calls("create_message")
    assert call.match["AccountSid"] == ACCOUNT_SID
    assert call.headers["Authorization"].startswith("Basic ")
    assert call.body["To"] == "+15551234567"
    assert call.body["From"] == "+15017122661"
    assert "PIN-GODZ-PRO" in call.body["Body"] and len(call.body["Body"]) < 160


CASE = AdapterCase(
    name="twilio_sms",
    configure=configure,
    settings=lambda base_url: {
        "base_url": base_url,
        "account_sid": ACCOUNT_SID,
        "auth_token": AUTH_TOKEN,
        "from_number": "+15017122661",
    },
    address="+1 555 123 4567",
    main_operation="create_message",
    secrets=[AUTH_TOKEN],
    check_sent=_check,
    external_id=MESSAGE_SID,
)
