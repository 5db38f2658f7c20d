"""The webhook adapter has no vendor description: the fake checks the signature and the envelope instead."""

from aiohttp import web

from stockbot.adapters.signing import HEADER, verify
from tests.adapters.cases import AdapterCase
from tests.fakes.vendor import FakeVendor, Recorded

SECRET = "whsec-test-7f3a9c"
ENVELOPE = {
    "type": "object",
    "required": ["type", "delivery_id", "event", "alert"],
    "properties": {
        "type": {"const": "stockbot.alert"},
        "delivery_id": {"type": "string", "minLength": 1},
        "alert": {
            "type": "object",
            "required": ["alert_id", "sku", "location", "severity", "state"],
        },
    },
}


def _answer(recorded: Recorded) -> web.Response:
    verify(SECRET, recorded.raw, recorded.headers.get(HEADER))
    return web.Response(status=204)


def _configure(fake: FakeVendor) -> None:
    fake.expect("POST", "/hooks/stock", schema=ENVELOPE, respond=_answer, name="post")


def _check(fake: FakeVendor) -> None:
    (call,) = fake.calls("post")
    assert call.body["alert"]["sku"] == "PIN-GODZ-PRO"
    assert call.headers["Idempotency-Key"] == call.body["delivery_id"]


CASE = AdapterCase(
    name="webhook",
    configure=_configure,
    settings=lambda base_url: {},
    address="",
    address_for=lambda base_url: f"{base_url}/hooks/stock",
    main_operation="post",
    channel_secret=SECRET,
    secrets=[SECRET],
    check_sent=_check,
    external_id="webhook-42",
)
