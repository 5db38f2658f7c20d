"""SAP Business One: sessions are reused, renewed once on 401, and every event is a new message."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from stockbot.adapters.base import AlertMessage, PermanentError, Receipt, Target
from stockbot.adapters.sap_b1 import SapB1Adapter, SapB1Settings
from tests.adapters.cases.sap_b1 import PASSWORD, USER_CODE, ServiceLayer, configure, settings
from tests.fakes.messages import resolved_message, sample_message
from tests.fakes.vendor import FakeVendor


@pytest.fixture
async def fake() -> AsyncIterator[tuple[FakeVendor, ServiceLayer]]:
    fake = FakeVendor("sap_b1")
    layer = configure(fake)
    await fake.start()
    yield fake, layer
    await fake.close()


async def _send_all(
    fake: FakeVendor, messages: list[AlertMessage], address: str = USER_CODE, **overrides: str
) -> list[Receipt]:
    config = SapB1Settings.model_validate({**settings(fake.url), **overrides})
    async with aiohttp.ClientSession() as http:
        adapter = SapB1Adapter(config, http)
        receipts = []
        for number, message in enumerate(messages):
            target = Target(channel="b1", address=address, idempotency_key=f"k{number}", external_id="k0")
            receipts.append(await adapter.send(message, target))
        return receipts


async def test_one_login_serves_many_messages(fake: tuple[FakeVendor, ServiceLayer]) -> None:
    vendor, _ = fake
    receipts = await _send_all(vendor, [sample_message(), resolved_message()])
    assert vendor.errors == []
    assert len(vendor.calls("login")) == 1
    _, resolved = vendor.calls("send")
    assert resolved.body["Message"]["Subject"].startswith("Back in stock")
    assert [r.external_id for r in receipts] == ["k0", "k1"]  # a new message each time


async def test_an_expired_session_is_renewed_once(fake: tuple[FakeVendor, ServiceLayer]) -> None:
    vendor, layer = fake

    async def expire_then_send() -> None:
        config = SapB1Settings.model_validate(settings(vendor.url))
        async with aiohttp.ClientSession() as http:
            adapter = SapB1Adapter(config, http)
            await adapter.send(sample_message(), Target("b1", USER_CODE, "k1"))
            layer.sessions.clear()  # the Service Layer forgot every session (timeout or restart)
            await adapter.send(resolved_message(), Target("b1", USER_CODE, "k2"))

    await expire_then_send()
    assert vendor.errors == []
    assert len(vendor.calls("login")) == 2
    assert len(vendor.calls("send")) == 3  # sent; refused with the old session; sent again


async def test_a_session_refused_twice_is_not_retried_forever(fake: tuple[FakeVendor, ServiceLayer]) -> None:
    vendor, _ = fake
    for _ in range(2):
        vendor.fail_next(
            401, '{"error": {"code": 301, "message": {"value": "Invalid session"}}}', operation="send"
        )
    with pytest.raises(PermanentError, match="HTTP 401"):
        await _send_all(vendor, [sample_message()])
    assert len(vendor.calls("login")) == 2
    assert len(vendor.calls("send")) == 2


async def test_wrong_password_is_permanent_and_never_quoted(fake: tuple[FakeVendor, ServiceLayer]) -> None:
    vendor, _ = fake
    with pytest.raises(PermanentError, match="login refused") as raised:
        await _send_all(vendor, [sample_message()], password="wrong-" + PASSWORD)
    assert PASSWORD not in str(raised.value)
    assert vendor.calls("send") == []


async def test_a_bad_user_code_is_permanent(fake: tuple[FakeVendor, ServiceLayer]) -> None:
    vendor, _ = fake
    with pytest.raises(PermanentError, match="B1 user code"):
        await _send_all(vendor, [sample_message()], address="a user code far longer than SAP allows")
    assert vendor.requests == []
