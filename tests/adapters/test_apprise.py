"""Apprise: errors name only the URL's scheme, and the status Apprise logged decides retryable or not."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from stockbot.adapters.apprise import AppriseAdapter, AppriseSettings, where
from stockbot.adapters.base import PermanentError, Receipt, RetryableError, Target
from tests.adapters.cases.apprise import PASSWORD, address_for, configure
from tests.fakes.messages import resolved_message, sample_message
from tests.fakes.vendor import FakeVendor


@pytest.fixture
async def fake() -> AsyncIterator[FakeVendor]:
    fake = FakeVendor("apprise")
    configure(fake)
    await fake.start()
    yield fake
    await fake.close()


async def _send(address: str, resolved: bool = False) -> Receipt:
    message = resolved_message() if resolved else sample_message()
    async with aiohttp.ClientSession() as http:
        adapter = AppriseAdapter(AppriseSettings(timeout_seconds=5), http)
        return await adapter.send(message, Target("push", address, "k"))


async def test_a_resolved_alert_is_a_success_notification(fake: FakeVendor) -> None:
    await _send(address_for(fake.url), resolved=True)
    assert fake.errors == []
    (call,) = fake.calls("post")
    assert call.body["type"] == "success"
    assert call.body["title"].startswith("Back in stock")


async def test_a_refused_login_is_permanent_and_shows_only_the_scheme(fake: FakeVendor) -> None:
    address = address_for(fake.url).replace(PASSWORD, "wrong-password")
    with pytest.raises(PermanentError) as raised:
        await _send(address)
    assert str(raised.value) == "apprise could not deliver to json://…: HTTP 401"


async def test_rate_limits_are_retryable_without_a_delay(fake: FakeVendor) -> None:
    fake.fail_next(429, "slow down", {"Retry-After": "30"})
    with pytest.raises(RetryableError) as raised:
        await _send(address_for(fake.url))
    assert raised.value.retry_after is None  # Apprise does not pass Retry-After on
    assert PASSWORD not in str(raised.value)


async def test_an_unknown_scheme_is_permanent_without_the_url() -> None:
    with pytest.raises(PermanentError) as raised:
        await _send("nosuchservice://user:hunter2-secret@example.com/x")
    assert "nosuchservice://…" in str(raised.value)
    assert "hunter2" not in str(raised.value)


async def test_an_address_without_a_scheme_is_permanent() -> None:
    with pytest.raises(PermanentError, match="Apprise URL"):
        await _send("ops-channel")


def test_where_keeps_only_the_scheme() -> None:
    assert where("pover://user@token") == "pover://…"
    assert where("NTFYS://host/topic") == "ntfys://…"
    assert where("no scheme here") == "an address without a scheme"
