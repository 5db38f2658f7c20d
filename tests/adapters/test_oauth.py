"""The shared OAuth token cache (adapters/oauth.py), exercised through real adapters against fake vendors:
one token request however many sends wait for it, a renewal before expiry, and a refused token replaced."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

from stockbot.adapters import adapter_settings, build_adapter
from stockbot.adapters.base import Adapter, Target
from tests.adapters.cases import gmail, load_case, salesforce, zoho_crm
from tests.fakes.messages import sample_message
from tests.fakes.vendor import FakeVendor, Recorded

# The five adapters that fetch OAuth tokens, and the name of their token operation in the case files.
TOKEN_ADAPTERS = ["gmail", "outlook", "salesforce", "zoho_crm", "quickbooks"]


async def _started(name: str) -> FakeVendor:
    fake = FakeVendor(name)
    load_case(name).configure(fake)
    await fake.start()
    return fake


def _adapter(name: str, fake: FakeVendor, http: aiohttp.ClientSession) -> Adapter:
    case = load_case(name)
    return build_adapter(name, adapter_settings(name, case.settings(fake.url)), http)


def _target(name: str, index: int) -> Target:
    return Target(channel="c", address=load_case(name).address, idempotency_key=f"k{index}")


@pytest.fixture
async def slow_gmail() -> AsyncIterator[FakeVendor]:
    """Gmail whose token endpoint takes a moment, so concurrent sends all arrive while it is fetching."""
    fake = FakeVendor("gmail")
    gmail.configure(fake)

    async def slow_token(recorded: Recorded) -> web.Response:
        await asyncio.sleep(0.2)
        return gmail.token(recorded)

    fake.respond_with("token", slow_token)
    await fake.start()
    yield fake
    await fake.close()


@pytest.mark.parametrize("name", TOKEN_ADAPTERS)
async def test_concurrent_sends_share_one_token_request(name: str, http: aiohttp.ClientSession) -> None:
    fake = await _started(name)
    try:
        adapter = _adapter(name, fake, http)
        await asyncio.gather(*(adapter.send(sample_message(), _target(name, i)) for i in range(8)))
    finally:
        await fake.close()
    assert fake.errors == []
    assert len(fake.calls("token")) == 1
    assert len(fake.calls(load_case(name).main_operation)) == 8


async def test_sends_wait_for_the_fetch_in_flight(
    slow_gmail: FakeVendor, http: aiohttp.ClientSession
) -> None:
    adapter = _adapter("gmail", slow_gmail, http)
    await asyncio.gather(*(adapter.send(sample_message(), _target("gmail", i)) for i in range(5)))
    assert len(slow_gmail.calls("token")) == 1
    sends = slow_gmail.calls("send")
    assert len(sends) == 5
    assert all(s.headers["Authorization"] == f"Bearer {gmail.ACCESS_TOKEN}" for s in sends)


async def test_a_token_is_renewed_before_it_expires(http: aiohttp.ClientSession) -> None:
    """Zoho's answer says the token lives 30 s: within the one-minute margin, so every send renews it."""
    fake = FakeVendor("zoho_crm")
    zoho_crm.configure(fake)

    def short_lived(recorded: Recorded) -> web.Response:
        answer = zoho_crm.token_answer(recorded)
        answer["expires_in"] = 30
        return web.json_response(answer)

    fake.respond_with("token", short_lived)
    await fake.start()
    try:
        adapter = _adapter("zoho_crm", fake, http)
        for index in range(3):
            await adapter.send(sample_message(), _target("zoho_crm", index))
    finally:
        await fake.close()
    assert fake.errors == []
    assert len(fake.calls("token")) == 3


async def test_salesforce_keeps_the_instance_url_of_its_token(http: aiohttp.ClientSession) -> None:
    """The grant hook keeps what else the answer carries: here, where the org's API lives."""
    api = await _started("salesforce")  # answers token requests with its own address as instance_url
    try:
        adapter = _adapter("salesforce", api, http)
        await adapter.send(sample_message(), _target("salesforce", 1))
        await adapter.send(sample_message(), _target("salesforce", 2))
    finally:
        await api.close()
    assert len(api.calls("token")) == 1
    assert [c.headers["Authorization"] for c in api.calls("create")] == [
        f"Bearer {salesforce.ACCESS_TOKEN}"
    ] * 2
