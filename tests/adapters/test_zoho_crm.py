"""Zoho CRM closes the loop (the Task is completed when stock is back), maps per-record codes found inside
2xx answers, and handles its OAuth token."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import aiohttp
import pytest

from stockbot.adapters.base import PermanentError, RetryableError, Target
from stockbot.adapters.zoho_crm import ZohoCrmAdapter, ZohoCrmSettings
from tests.adapters.cases import zoho_crm as case
from tests.fakes.messages import resolved_message, sample_message
from tests.fakes.vendor import FakeVendor


@pytest.fixture
async def fake() -> AsyncIterator[FakeVendor]:
    vendor = FakeVendor("zoho_crm")
    case.configure(vendor)
    await vendor.start()
    yield vendor
    await vendor.close()


def _adapter(fake: FakeVendor, http: aiohttp.ClientSession, **overrides: object) -> ZohoCrmAdapter:
    raw = {**case.settings(fake.url), **overrides}
    return ZohoCrmAdapter(ZohoCrmSettings.model_validate(raw), http)


def _target(external_id: str | None = case.RECORD_ID, address: str = case.OWNER_ID) -> Target:
    return Target(channel="sales", address=address, idempotency_key="k", external_id=external_id)


def _record_error(code: str, message: str) -> str:
    return json.dumps({"data": [{"code": code, "details": {}, "message": message, "status": "error"}]})


async def test_resolve_completes_the_task(fake: FakeVendor, http: aiohttp.ClientSession) -> None:
    receipt = await _adapter(fake, http).send(resolved_message(), _target())
    assert fake.errors == []
    (call,) = fake.calls("update")
    assert call.path == f"/crm/v8/Tasks/{case.RECORD_ID}"
    assert call.headers["Authorization"] == f"Zoho-oauthtoken {case.ACCESS_TOKEN}"
    (record,) = call.body["data"]
    assert record["Status"] == "Completed"
    assert "Back in stock after 3 h 35 min" in record["Description"]
    assert receipt.external_id == case.RECORD_ID
    assert fake.calls("create") == []


async def test_escalate_sets_highest_and_reopen_restarts(
    fake: FakeVendor, http: aiohttp.ClientSession
) -> None:
    adapter = _adapter(fake, http)
    message = sample_message(event="escalated", state="escalated", severity="out", escalation_level=1)
    await adapter.send(message, _target())
    await adapter.send(sample_message(event="reopened"), _target())
    escalated, reopened = (call.body["data"][0] for call in fake.calls("update"))
    assert escalated["Priority"] == "Highest" and "Status" not in escalated
    assert reopened["Status"] == "Not Started"
    assert len(fake.calls("token")) == 1  # the token is cached between sends


@pytest.mark.parametrize(
    ("code", "error"),
    [
        ("MANDATORY_NOT_FOUND", PermanentError),
        ("INVALID_DATA", PermanentError),
        ("SOMETHING_NEW", PermanentError),
        ("INTERNAL_ERROR", RetryableError),
        ("LIMIT_EXCEEDED", RetryableError),
    ],
)
async def test_record_codes_inside_a_2xx_are_mapped(
    code: str, error: type, fake: FakeVendor, http: aiohttp.ClientSession
) -> None:
    fake.fail_next(202, _record_error(code, "simulated"), operation="create")
    with pytest.raises(error, match=code):
        await _adapter(fake, http).send(sample_message(), _target(None))


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        ('{"error": "invalid_client"}', PermanentError),
        ('{"error": "invalid_code"}', PermanentError),
        (
            '{"error_description": "too many requests", "error": "Access Denied", "status": "failure"}',
            RetryableError,
        ),
    ],
)
async def test_token_refusals_in_a_200_are_mapped(
    answer: str, error: type, fake: FakeVendor, http: aiohttp.ClientSession
) -> None:
    fake.fail_next(200, answer, operation="token")
    with pytest.raises(error) as raised:
        await _adapter(fake, http).send(sample_message(), _target(None))
    assert case.CLIENT_SECRET not in str(raised.value) and case.REFRESH_TOKEN not in str(raised.value)
    assert fake.calls("create") == []


async def test_401_drops_a_cached_token(fake: FakeVendor, http: aiohttp.ClientSession) -> None:
    adapter = _adapter(fake, http)
    await adapter.send(sample_message(), _target(None))
    fake.fail_next(401, '{"code": "INVALID_TOKEN", "status": "error"}', operation="update")
    with pytest.raises(RetryableError, match="401"):
        await adapter.send(resolved_message(), _target())
    await adapter.send(resolved_message(), _target())
    assert len(fake.calls("token")) == 2


async def test_401_with_a_fresh_token_is_permanent(fake: FakeVendor, http: aiohttp.ClientSession) -> None:
    fake.fail_next(401, '{"code": "OAUTH_SCOPE_MISMATCH", "status": "error"}', operation="create")
    with pytest.raises(PermanentError, match="OAUTH_SCOPE_MISMATCH"):
        await _adapter(fake, http).send(sample_message(), _target(None))


async def test_base_url_overrides_api_domain(fake: FakeVendor, http: aiohttp.ClientSession) -> None:
    accounts = FakeVendor("zoho-accounts")  # answers with its own address as api_domain
    case.configure(accounts)
    await accounts.start()
    try:
        adapter = _adapter(fake, http, token_url=f"{accounts.url}/oauth/v2/token", base_url=fake.url)
        await adapter.send(sample_message(), _target(None, address="default"))
    finally:
        await accounts.close()
    assert accounts.calls("create") == []
    (call,) = fake.calls("create")
    assert "Owner" not in call.body["data"][0]


async def test_bad_address_is_permanent(fake: FakeVendor, http: aiohttp.ClientSession) -> None:
    with pytest.raises(PermanentError, match="user id"):
        await _adapter(fake, http).send(sample_message(), _target(None, address="dana"))
    assert fake.requests == []
