"""HubSpot closes the loop: later events PATCH the task the first one created; resolve completes it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from stockbot.adapters.base import PermanentError, Target
from stockbot.adapters.hubspot import HubSpotAdapter, HubSpotSettings
from tests.adapters.cases import hubspot as case
from tests.fakes.messages import resolved_message, sample_message
from tests.fakes.vendor import FakeVendor


@pytest.fixture
async def fake() -> AsyncIterator[FakeVendor]:
    vendor = FakeVendor("hubspot")
    case.configure(vendor)
    await vendor.start()
    yield vendor
    await vendor.close()


def _adapter(fake: FakeVendor, http: aiohttp.ClientSession) -> HubSpotAdapter:
    return HubSpotAdapter(HubSpotSettings.model_validate(case.settings(fake.url)), http)


def _target(external_id: str | None = case.TASK_ID, address: str = case.OWNER_ID) -> Target:
    return Target(channel="sales", address=address, idempotency_key="k", external_id=external_id)


async def test_resolve_completes_the_task(fake: FakeVendor, http: aiohttp.ClientSession) -> None:
    receipt = await _adapter(fake, http).send(resolved_message(), _target())
    assert fake.errors == []
    (call,) = fake.calls("update")
    assert call.path == f"/crm/v3/objects/tasks/{case.TASK_ID}"
    properties = call.body["properties"]
    assert properties["hs_task_status"] == "COMPLETED"
    assert properties["hs_task_subject"].startswith("Back in stock:")
    assert "Back in stock after 3 h 35 min" in properties["hs_task_body"]
    assert receipt.external_id == case.TASK_ID
    assert fake.calls("create") == []


async def test_acknowledge_and_escalate_update_in_place(
    fake: FakeVendor, http: aiohttp.ClientSession
) -> None:
    adapter = _adapter(fake, http)
    acked = sample_message(event="acknowledged", state="acknowledged", acknowledged_by="dana")
    await adapter.send(acked, _target())
    await adapter.send(sample_message(event="escalated", state="escalated", escalation_level=1), _target())
    ack, escalate = fake.calls("update")
    assert "Acknowledged by dana" in ack.body["properties"]["hs_task_body"]
    assert set(ack.body["properties"]) == {"hs_task_subject", "hs_task_body"}
    assert escalate.body["properties"]["hs_task_priority"] == "HIGH"
    assert fake.errors == []


async def test_low_stock_is_medium_priority_without_owner(
    fake: FakeVendor, http: aiohttp.ClientSession
) -> None:
    await _adapter(fake, http).send(sample_message(severity="low"), _target(None, address="default"))
    (call,) = fake.calls("create")
    assert call.body["properties"]["hs_task_priority"] == "MEDIUM"
    assert "hubspot_owner_id" not in call.body["properties"]


async def test_bad_address_is_permanent(fake: FakeVendor, http: aiohttp.ClientSession) -> None:
    with pytest.raises(PermanentError, match="owner id"):
        await _adapter(fake, http).send(resolved_message(), _target(address="dana@example.com"))
    assert fake.requests == []


def test_default_root_is_hubapi() -> None:
    assert HubSpotSettings(access_token="pat-x").base_url == "https://api.hubapi.com"
