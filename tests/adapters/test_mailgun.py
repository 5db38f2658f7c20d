"""Mailgun specifics: the form fields beyond the schema, region errors, addresses."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from stockbot.adapters import adapter_settings, build_adapter
from stockbot.adapters.base import PermanentError, Target
from stockbot.adapters.render.text import plain_text
from tests.adapters.cases.mailgun import API_KEY, configure, settings
from tests.fakes.messages import resolved_message, sample_message
from tests.fakes.vendor import FakeVendor


@pytest.fixture
async def fake() -> AsyncIterator[FakeVendor]:
    vendor = FakeVendor("mailgun")
    configure(vendor)
    await vendor.start()
    yield vendor
    await vendor.close()


def _target(address: str = "buyer@example.com") -> Target:
    return Target(channel="buyers", address=address, idempotency_key="alert-42-resolved-1")


async def test_one_recipient_tags_and_alert_variable(fake: FakeVendor) -> None:
    raw = {**settings(fake.url), "from_name": None}
    async with aiohttp.ClientSession() as http:
        await build_adapter("mailgun", adapter_settings("mailgun", raw), http).send(
            resolved_message(), _target()
        )
    assert fake.errors == []
    (call,) = fake.calls("send")
    assert call.body["to"] == "buyer@example.com"
    assert call.body["from"] == "alerts@mg.example.com"
    assert call.body["text"] == plain_text(resolved_message())
    assert call.body["o:tag"] == "stockbot" and call.body["v:stockbot-alert-id"] == "42"


async def test_wrong_region_401_is_permanent(fake: FakeVendor) -> None:
    fake.fail_next(401, "Forbidden", operation="send")
    async with aiohttp.ClientSession() as http:
        adapter = build_adapter("mailgun", adapter_settings("mailgun", settings(fake.url)), http)
        with pytest.raises(PermanentError, match="HTTP 401") as raised:
            await adapter.send(sample_message(), _target())
    assert API_KEY not in str(raised.value)


@pytest.mark.parametrize("address", ["", "buyer", "Buyer <buyer@example.com>"])
async def test_bad_address_is_permanent_and_sends_nothing(fake: FakeVendor, address: str) -> None:
    async with aiohttp.ClientSession() as http:
        adapter = build_adapter("mailgun", adapter_settings("mailgun", settings(fake.url)), http)
        with pytest.raises(PermanentError, match="e-mail addresses separated by commas"):
            await adapter.send(sample_message(), _target(address))
    assert fake.requests == []
