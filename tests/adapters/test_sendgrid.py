"""SendGrid specifics: dynamic templates, the message id header, addresses."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

from stockbot.adapters import adapter_settings, build_adapter
from stockbot.adapters.base import PermanentError, Target
from tests.adapters.cases.sendgrid import configure, settings
from tests.fakes.messages import resolved_message, sample_message
from tests.fakes.vendor import FakeVendor

TEMPLATE_ID = "d-0123456789abcdef0123456789abcdef"


@pytest.fixture
async def fake() -> AsyncIterator[FakeVendor]:
    vendor = FakeVendor("sendgrid")
    configure(vendor)
    await vendor.start()
    yield vendor
    await vendor.close()


def _target(address: str = "buyer@example.com") -> Target:
    return Target(channel="buyers", address=address, idempotency_key="alert-42-resolved-1")


async def test_dynamic_template_gets_alert_fields_and_wording(fake: FakeVendor) -> None:
    raw = {**settings(fake.url), "template_id": TEMPLATE_ID}
    async with aiohttp.ClientSession() as http:
        await build_adapter("sendgrid", adapter_settings("sendgrid", raw), http).send(
            resolved_message(), _target()
        )
    assert fake.errors == []
    (call,) = fake.calls("mail_send")
    assert call.body["template_id"] == TEMPLATE_ID
    assert "content" not in call.body and "subject" not in call.body
    data = call.body["personalizations"][0]["dynamic_template_data"]
    assert data["sku"] == "PIN-GODZ-PRO" and data["state"] == "resolved" and data["on_hand"] == 6
    assert data["subject"].startswith("[stockbot] Back in stock")
    assert {"label": "Location", "value": "Chicago DC"} in data["facts"]


async def test_without_message_id_header_the_idempotency_key_is_the_receipt() -> None:
    fake = FakeVendor("sendgrid")
    fake.describe_by("sendgrid")
    fake.expect("POST", "/v3/mail/send", respond=lambda recorded: web.Response(status=202), name="mail_send")
    await fake.start()
    try:
        async with aiohttp.ClientSession() as http:
            adapter = build_adapter("sendgrid", adapter_settings("sendgrid", settings(fake.url)), http)
            receipt = await adapter.send(sample_message(), _target())
    finally:
        await fake.close()
    assert receipt.external_id == "alert-42-resolved-1"


@pytest.mark.parametrize("address", ["", "buyer", "buyer@example.com; ops@example.com", "a@b.com,,x"])
async def test_bad_address_is_permanent_and_sends_nothing(fake: FakeVendor, address: str) -> None:
    async with aiohttp.ClientSession() as http:
        adapter = build_adapter("sendgrid", adapter_settings("sendgrid", settings(fake.url)), http)
        with pytest.raises(PermanentError, match="e-mail addresses separated by commas"):
            await adapter.send(sample_message(), _target(address))
    assert fake.requests == []
