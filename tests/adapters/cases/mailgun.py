"""Mailgun Messages API (multipart form), checked against the docs-derived mailgun.json schema."""

from __future__ import annotations

import base64

from aiohttp import web

from tests.adapters.cases import AdapterCase
from tests.fakes.vendor import FakeVendor, Recorded

API_KEY = "key-mailgun-test-3b8e41"
DOMAIN = "mg.example.com"
MESSAGE_ID = "<20261126093000.1.4F2A@mg.example.com>"


def queued(recorded: Recorded) -> web.Response:
    return web.json_response({"id": MESSAGE_ID, "message": "Queued. Thank you."})


def configure(fake: FakeVendor) -> None:
    fake.describe_by("mailgun")
    fake.expect("POST", "/v3/{domain_name}/messages", respond=queued, name="send")


def settings(base_url: str) -> dict[str, object]:
    return {"base_url": base_url, "api_key": API_KEY, "domain": DOMAIN, "from_email": f"alerts@{DOMAIN}"}


def _check(fake: FakeVendor) -> None:
    (call,) = fake.calls("send")
    assert call.match["domain_name"] == DOMAIN
    assert call.headers["Content-Type"].startswith("multipart/form-data")
    assert call.headers["Authorization"] == "Basic " + base64.b64encode(f"api:{API_KEY}".encode()).decode()
    assert call.body["to"] == ["buyer@example.com", "ops@example.com"]
    assert call.body["from"] == f"stockbot <alerts@{DOMAIN}>"
    assert "PIN-GODZ-PRO" in call.body["subject"]
    assert "Chicago DC" in call.body["text"] and "<table>" in call.body["html"]


CASE = AdapterCase(
    name="mailgun",
    configure=configure,
    settings=settings,
    address="buyer@example.com,ops@example.com",
    main_operation="send",
    secrets=[API_KEY],
    check_sent=_check,
    external_id=MESSAGE_ID,
)
