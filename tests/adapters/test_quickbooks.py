"""QuickBooks Online: token caching, refresh-token rotation, one re-auth on 401, and a note per event."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from stockbot.adapters.base import AlertMessage, PermanentError, Receipt, Target
from stockbot.adapters.quickbooks import QuickBooksAdapter, QuickBooksSettings
from tests.adapters.cases.quickbooks import CLIENT_SECRET, ITEM_ID, REFRESH_TOKEN, Intuit, configure, settings
from tests.fakes.messages import resolved_message, sample_message
from tests.fakes.vendor import FakeVendor


async def _start(intuit: Intuit) -> FakeVendor:
    fake = FakeVendor("quickbooks")
    configure(fake, intuit)
    await fake.start()
    return fake


@pytest.fixture
async def fake() -> AsyncIterator[FakeVendor]:
    fake = await _start(Intuit())
    yield fake
    await fake.close()


async def _send_all(fake: FakeVendor, messages: list[AlertMessage], address: str = ITEM_ID) -> list[Receipt]:
    config = QuickBooksSettings.model_validate(settings(fake.url))
    async with aiohttp.ClientSession() as http:
        adapter = QuickBooksAdapter(config, http)
        return [
            await adapter.send(m, Target("books", address, f"k{i}", external_id="x"))
            for i, m in enumerate(messages)
        ]


async def test_the_access_token_is_reused_and_each_event_is_a_new_note(fake: FakeVendor) -> None:
    receipts = await _send_all(fake, [sample_message(), resolved_message()])
    assert fake.errors == []
    assert len(fake.calls("token")) == 1
    _, resolved = fake.calls("attachable")
    assert resolved.body["Note"].startswith("Back in stock: Godzilla Pro pinball table")
    assert all(r.external_id == "5000000000000012345" for r in receipts)


async def test_a_rotated_refresh_token_is_used_for_the_next_refresh() -> None:
    intuit = Intuit(expires_in=30)  # shorter than the safety margin: every send refreshes
    fake = await _start(intuit)
    try:
        await _send_all(fake, [sample_message(), resolved_message()])
    finally:
        await fake.close()
    assert fake.errors == []
    first, second = fake.calls("token")
    assert first.body["refresh_token"] == REFRESH_TOKEN
    assert second.body["refresh_token"] != REFRESH_TOKEN  # the one Intuit handed back; the first is retired


async def test_a_refused_access_token_is_replaced_once(fake: FakeVendor) -> None:
    fake.fail_next(
        401, '{"Fault": {"Error": [{"code": "3200"}], "type": "AUTHENTICATION"}}', operation="attachable"
    )
    receipts = await _send_all(fake, [sample_message()])
    assert len(fake.calls("token")) == 2
    assert len(fake.calls("attachable")) == 2
    assert receipts[0].external_id == "5000000000000012345"


async def test_a_retired_refresh_token_is_permanent_and_names_the_fix(fake: FakeVendor) -> None:
    fake.fail_next(400, '{"error": "invalid_grant"}', {"Content-Type": "application/json"}, operation="token")
    with pytest.raises(PermanentError, match=r"invalid_grant.*refresh_token") as raised:
        await _send_all(fake, [sample_message()])
    assert REFRESH_TOKEN not in str(raised.value) and CLIENT_SECRET not in str(raised.value)
    assert fake.calls("attachable") == []


async def test_a_bad_item_id_is_permanent(fake: FakeVendor) -> None:
    with pytest.raises(PermanentError, match="Item id"):
        await _send_all(fake, [sample_message()], address="sku:PIN-GODZ-PRO")
    assert fake.requests == []
