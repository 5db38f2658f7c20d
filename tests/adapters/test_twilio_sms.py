"""Twilio SMS specifics: the SDK on our session (no session of its own), senders, wording, error codes."""

from __future__ import annotations

import gc
import warnings
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pydantic
import pytest

from stockbot.adapters.base import PermanentError, Target
from stockbot.adapters.render.text import sms
from stockbot.adapters.twilio_sms import TwilioSmsAdapter, TwilioSmsSettings
from tests.adapters.cases.twilio_sms import ACCOUNT_SID, AUTH_TOKEN, configure
from tests.fakes.messages import resolved_message, sample_message
from tests.fakes.vendor import FakeVendor

SERVICE_SID = "MG" + "0123456789abcdef" * 2


@pytest.fixture
async def fake() -> AsyncIterator[FakeVendor]:
    vendor = FakeVendor("twilio_sms")
    configure(vendor)
    await vendor.start()
    yield vendor
    await vendor.close()


def _settings(base_url: str, **overrides: Any) -> TwilioSmsSettings:
    raw: dict[str, Any] = {"base_url": base_url, "account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN}
    raw.update(overrides or {"from_number": "+15017122661"})
    return TwilioSmsSettings.model_validate(raw)


def _target(address: str = "+15551234567") -> Target:
    return Target(channel="oncall-sms", address=address, idempotency_key="alert-42-opened-1")


async def test_sdk_opens_no_session_of_its_own(fake: FakeVendor) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        async with aiohttp.ClientSession() as http:
            adapter = TwilioSmsAdapter(_settings(fake.url), http)
            for _ in range(3):
                await adapter.send(sample_message(), _target())
        del adapter
        gc.collect()
    assert len(fake.calls("create_message")) == 3
    assert not [w for w in caught if "Unclosed" in str(w.message)]


async def test_messaging_service_without_from_number(fake: FakeVendor) -> None:
    settings = _settings(fake.url, messaging_service_sid=SERVICE_SID)
    async with aiohttp.ClientSession() as http:
        await TwilioSmsAdapter(settings, http).send(resolved_message(), _target())
    assert fake.errors == []
    (call,) = fake.calls("create_message")
    assert call.body["MessagingServiceSid"] == SERVICE_SID and "From" not in call.body
    assert call.body["Body"] == sms(resolved_message()) and call.body["Body"].startswith("BACK IN STOCK")


async def test_twilio_error_code_is_permanent_and_named(fake: FakeVendor) -> None:
    error = '{"code": 21211, "message": "Invalid \'To\' Phone Number: +1555", "status": 400}'
    fake.fail_next(400, error, {"Content-Type": "application/json"}, operation="create_message")
    async with aiohttp.ClientSession() as http:
        with pytest.raises(PermanentError, match="21211") as raised:
            await TwilioSmsAdapter(_settings(fake.url), http).send(sample_message(), _target())
    assert AUTH_TOKEN not in str(raised.value)


@pytest.mark.parametrize("address", ["5551234567", "+0123456789", "ops@example.com", "+1555"])
async def test_bad_address_is_permanent_and_sends_nothing(fake: FakeVendor, address: str) -> None:
    async with aiohttp.ClientSession() as http:
        with pytest.raises(PermanentError, match=r"E\.164"):
            await TwilioSmsAdapter(_settings(fake.url), http).send(sample_message(), _target(address))
    assert fake.requests == []


@pytest.mark.parametrize(
    "overrides",
    [{"from_number": None}, {"from_number": "+15017122661", "account_sid": "AC123"}],
    ids=["no-sender", "bad-account-sid"],
)
def test_settings_are_checked_at_start_up(overrides: dict[str, Any]) -> None:
    with pytest.raises(pydantic.ValidationError):
        _settings("https://api.twilio.com", **overrides)
