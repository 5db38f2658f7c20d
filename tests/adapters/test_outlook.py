"""Outlook / Graph specifics: the client-credentials token cache and refusals, importance, the body."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from stockbot.adapters import adapter_settings, build_adapter
from stockbot.adapters.base import Adapter, PermanentError, RetryableError, Target
from tests.adapters.cases.outlook import CLIENT_SECRET, configure, settings
from tests.fakes.messages import resolved_message, sample_message
from tests.fakes.vendor import FakeVendor


@pytest.fixture
async def fake() -> AsyncIterator[FakeVendor]:
    vendor = FakeVendor("outlook")
    configure(vendor)
    await vendor.start()
    yield vendor
    await vendor.close()


def _adapter(fake: FakeVendor, http: aiohttp.ClientSession) -> Adapter:
    return build_adapter("outlook", adapter_settings("outlook", settings(fake.url)), http)


def _target(address: str = "buyer@example.com,ops@example.com") -> Target:
    return Target(channel="buyers", address=address, idempotency_key="alert-42-resolved-1")


async def test_token_is_fetched_once_and_reused(fake: FakeVendor, http: aiohttp.ClientSession) -> None:
    adapter = _adapter(fake, http)
    for _ in range(3):
        receipt = await adapter.send(sample_message(), _target())
    assert fake.errors == []
    assert len(fake.calls("token")) == 1 and len(fake.calls("send_mail")) == 3
    assert receipt.external_id == "alert-42-resolved-1"


async def test_refused_client_secret_is_permanent(fake: FakeVendor, http: aiohttp.ClientSession) -> None:
    fake.fail_next(
        401, '{"error": "invalid_client", "error_description": "AADSTS7000215"}', operation="token"
    )
    with pytest.raises(PermanentError, match="invalid_client") as raised:
        await _adapter(fake, http).send(sample_message(), _target())
    assert CLIENT_SECRET not in str(raised.value)
    assert fake.calls("send_mail") == []


async def test_401_with_a_cached_token_refreshes_on_the_next_attempt(
    fake: FakeVendor, http: aiohttp.ClientSession
) -> None:
    adapter = _adapter(fake, http)
    await adapter.send(sample_message(), _target())
    fake.fail_next(401, '{"error": {"code": "InvalidAuthenticationToken"}}', operation="send_mail")
    with pytest.raises(RetryableError):
        await adapter.send(sample_message(), _target())
    await adapter.send(sample_message(), _target())
    assert len(fake.calls("token")) == 2


@pytest.mark.parametrize(
    ("severity", "importance"), [("low", "normal"), ("out", "high"), ("critical", "high")]
)
async def test_importance_follows_severity(
    fake: FakeVendor, http: aiohttp.ClientSession, severity: str, importance: str
) -> None:
    await _adapter(fake, http).send(resolved_message(severity=severity), _target())
    (call,) = fake.calls("send_mail")
    assert call.body["message"]["importance"] == importance
    assert [r["emailAddress"]["address"] for r in call.body["message"]["toRecipients"]] == [
        "buyer@example.com",
        "ops@example.com",
    ]
    assert "Back in stock" in call.body["message"]["subject"]


async def test_bad_address_is_permanent_and_fetches_nothing(
    fake: FakeVendor, http: aiohttp.ClientSession
) -> None:
    with pytest.raises(PermanentError, match="e-mail addresses"):
        await _adapter(fake, http).send(sample_message(), _target("ops"))
    assert fake.requests == []
