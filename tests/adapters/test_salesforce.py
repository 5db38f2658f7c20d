"""Salesforce closes the loop (the Task is completed when stock is back) and handles its OAuth session."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from pydantic import ValidationError

from stockbot.adapters.base import PermanentError, RetryableError, Target
from stockbot.adapters.salesforce import SalesforceAdapter, SalesforceSettings
from tests.adapters.cases import salesforce as case
from tests.fakes.messages import resolved_message, sample_message
from tests.fakes.vendor import FakeVendor


@pytest.fixture
async def fake() -> AsyncIterator[FakeVendor]:
    vendor = FakeVendor("salesforce")
    case.configure(vendor)
    await vendor.start()
    yield vendor
    await vendor.close()


def _adapter(fake: FakeVendor, http: aiohttp.ClientSession, **overrides: object) -> SalesforceAdapter:
    raw = {**case.settings(fake.url), **overrides}
    return SalesforceAdapter(SalesforceSettings.model_validate(raw), http)


def _target(external_id: str | None = case.TASK_ID, address: str = case.OWNER_ID) -> Target:
    return Target(channel="sales", address=address, idempotency_key="k", external_id=external_id)


async def test_resolve_completes_the_task(fake: FakeVendor, http: aiohttp.ClientSession) -> None:
    receipt = await _adapter(fake, http).send(resolved_message(), _target())
    assert fake.errors == []
    (call,) = fake.calls("update")
    assert call.path == f"/services/data/v62.0/sobjects/Task/{case.TASK_ID}"
    assert call.body["Status"] == "Completed"
    assert call.body["Subject"].startswith("Back in stock:")
    assert "Back in stock after 3 h 35 min" in call.body["Description"]
    assert receipt.external_id == case.TASK_ID
    assert fake.calls("create") == []


async def test_escalate_raises_priority_and_reopen_restarts(
    fake: FakeVendor, http: aiohttp.ClientSession
) -> None:
    adapter = _adapter(fake, http)
    await adapter.send(sample_message(event="escalated", state="escalated", escalation_level=1), _target())
    await adapter.send(sample_message(event="reopened"), _target())
    escalated, reopened = fake.calls("update")
    assert escalated.body["Priority"] == "High" and "Status" not in escalated.body
    assert reopened.body["Status"] == "Not Started"


async def test_token_is_reused_until_a_401_then_fetched_again(
    fake: FakeVendor, http: aiohttp.ClientSession
) -> None:
    adapter = _adapter(fake, http)
    await adapter.send(sample_message(), _target(None))
    await adapter.send(sample_message(event="acknowledged", acknowledged_by="dana"), _target())
    assert len(fake.calls("token")) == 1

    fake.fail_next(401, '[{"errorCode": "INVALID_SESSION_ID"}]', operation="update")
    with pytest.raises(RetryableError, match="401"):
        await adapter.send(resolved_message(), _target())
    await adapter.send(resolved_message(), _target())
    assert len(fake.calls("token")) == 2
    assert fake.errors == []


async def test_401_with_a_fresh_token_is_permanent(fake: FakeVendor, http: aiohttp.ClientSession) -> None:
    fake.fail_next(401, '[{"errorCode": "INSUFFICIENT_ACCESS"}]', operation="create")
    with pytest.raises(PermanentError, match="401"):
        await _adapter(fake, http).send(sample_message(), _target(None))


async def test_bad_client_credentials_are_permanent(fake: FakeVendor, http: aiohttp.ClientSession) -> None:
    body = '{"error": "invalid_client", "error_description": "invalid client credentials"}'
    fake.fail_next(400, body, operation="token")
    with pytest.raises(PermanentError, match="invalid_client") as raised:
        await _adapter(fake, http).send(sample_message(), _target(None))
    assert case.CLIENT_SECRET not in str(raised.value)
    assert fake.calls("create") == []


async def test_refresh_token_flow(fake: FakeVendor, http: aiohttp.ClientSession) -> None:
    await _adapter(fake, http, refresh_token=case.REFRESH_TOKEN).send(sample_message(), _target(None))
    (login,) = fake.calls("token")
    assert login.body["grant_type"] == "refresh_token"
    assert login.body["refresh_token"] == case.REFRESH_TOKEN
    assert fake.errors == []


async def test_base_url_overrides_instance_url(fake: FakeVendor, http: aiohttp.ClientSession) -> None:
    login = FakeVendor("salesforce-login")  # answers with its own address as instance_url
    case.configure(login)
    await login.start()
    try:
        adapter = _adapter(fake, http, token_url=f"{login.url}/services/oauth2/token", base_url=fake.url)
        await adapter.send(sample_message(), _target(None))
    finally:
        await login.close()
    assert len(login.calls("token")) == 1 and login.calls("create") == []
    assert len(fake.calls("create")) == 1


async def test_default_address_leaves_the_owner_to_salesforce(
    fake: FakeVendor, http: aiohttp.ClientSession
) -> None:
    await _adapter(fake, http).send(sample_message(), _target(None, address="default"))
    (call,) = fake.calls("create")
    assert "OwnerId" not in call.body


async def test_bad_address_is_permanent(fake: FakeVendor, http: aiohttp.ClientSession) -> None:
    with pytest.raises(PermanentError, match="user id"):
        await _adapter(fake, http).send(sample_message(), _target(None, address="dana@example.com"))
    assert fake.requests == []


def test_api_version_must_look_like_62_0() -> None:
    base = {"client_id": "id", "client_secret": "secret"}
    with pytest.raises(ValidationError, match="api_version"):
        SalesforceSettings.model_validate({**base, "api_version": "v62.0"})
    assert SalesforceSettings.model_validate({**base, "api_version": "64.0"}).api_version == "64.0"
