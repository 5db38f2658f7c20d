"""Gmail specifics: the refresh-token cache, token refusals, and the raw RFC 2822 message."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from stockbot.adapters import adapter_settings, build_adapter
from stockbot.adapters.base import Adapter, PermanentError, RetryableError, Target
from stockbot.adapters.render.text import plain_text
from tests.adapters.cases.gmail import REFRESH_TOKEN, configure, decoded, settings
from tests.fakes.messages import resolved_message, sample_message
from tests.fakes.vendor import FakeVendor


@pytest.fixture
async def fake() -> AsyncIterator[FakeVendor]:
    vendor = FakeVendor("gmail")
    configure(vendor)
    await vendor.start()
    yield vendor
    await vendor.close()


def _adapter(fake: FakeVendor, http: aiohttp.ClientSession, **overrides: object) -> Adapter:
    return build_adapter("gmail", adapter_settings("gmail", {**settings(fake.url), **overrides}), http)


def _target(address: str = "buyer@example.com, ops@example.com") -> Target:
    return Target(channel="buyers", address=address, idempotency_key="alert-42-resolved-1")


async def test_access_token_is_fetched_once_and_reused(fake: FakeVendor, http: aiohttp.ClientSession) -> None:
    adapter = _adapter(fake, http)
    for _ in range(3):
        await adapter.send(sample_message(), _target())
    assert fake.errors == []
    (grant,) = fake.calls("token")
    assert grant.body["refresh_token"] == REFRESH_TOKEN and grant.body["grant_type"] == "refresh_token"
    assert len(fake.calls("send")) == 3


async def test_refused_refresh_token_is_permanent(fake: FakeVendor, http: aiohttp.ClientSession) -> None:
    refused = '{"error": "invalid_grant", "error_description": "Token has been expired or revoked."}'
    fake.fail_next(400, refused, operation="token")
    with pytest.raises(PermanentError, match="invalid_grant"):
        await _adapter(fake, http).send(sample_message(), _target())
    assert fake.calls("send") == []


async def test_401_with_a_cached_token_refreshes_on_the_next_attempt(
    fake: FakeVendor, http: aiohttp.ClientSession
) -> None:
    adapter = _adapter(fake, http)
    await adapter.send(sample_message(), _target())
    fake.fail_next(401, '{"error": {"code": 401, "status": "UNAUTHENTICATED"}}', operation="send")
    with pytest.raises(RetryableError):
        await adapter.send(sample_message(), _target())
    await adapter.send(sample_message(), _target())
    assert len(fake.calls("token")) == 2


async def test_401_with_a_fresh_token_is_permanent(fake: FakeVendor, http: aiohttp.ClientSession) -> None:
    fake.fail_next(401, '{"error": {"code": 401, "status": "UNAUTHENTICATED"}}', operation="send")
    with pytest.raises(PermanentError):
        await _adapter(fake, http).send(sample_message(), _target())


async def test_raw_message_is_multipart_alternative(fake: FakeVendor, http: aiohttp.ClientSession) -> None:
    await _adapter(fake, http, user_id="alerts@example.com").send(resolved_message(), _target())
    (call,) = fake.calls("send")
    assert call.match["userId"] == "alerts@example.com"
    assert "+" not in call.body["raw"] and "/" not in call.body["raw"]  # base64url alphabet
    mail = decoded(call)
    assert mail["From"] == "stockbot <alerts@example.com>"
    assert mail["To"] == "buyer@example.com, ops@example.com"
    assert mail["X-Stockbot-Alert-Id"] == "42"
    text, html = mail.iter_parts()
    assert text.get_content().replace("\r\n", "\n").strip() == plain_text(resolved_message())
    assert "Back in stock" in html.get_content()


async def test_bad_address_is_permanent_and_fetches_nothing(
    fake: FakeVendor, http: aiohttp.ClientSession
) -> None:
    with pytest.raises(PermanentError, match="e-mail addresses"):
        await _adapter(fake, http).send(sample_message(), _target("not-an-address"))
    assert fake.requests == []
