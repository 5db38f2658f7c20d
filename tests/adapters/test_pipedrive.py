"""Pipedrive closes the loop: later events update the activity the first one created; resolve marks it
done."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from pydantic import ValidationError

from stockbot.adapters.base import PermanentError, Target
from stockbot.adapters.pipedrive import PipedriveAdapter, PipedriveSettings
from tests.adapters.cases import pipedrive as case
from tests.fakes.messages import resolved_message, sample_message
from tests.fakes.vendor import FakeVendor

ACTIVITY = str(case.ACTIVITY_ID)


@pytest.fixture
async def fake() -> AsyncIterator[FakeVendor]:
    vendor = FakeVendor("pipedrive")
    case.configure(vendor)
    await vendor.start()
    yield vendor
    await vendor.close()


def _adapter(fake: FakeVendor, http: aiohttp.ClientSession, **overrides: object) -> PipedriveAdapter:
    raw = {**case.settings(fake.url), **overrides}
    return PipedriveAdapter(PipedriveSettings.model_validate(raw), http)


def _target(external_id: str | None = ACTIVITY, address: str = case.USER_ID) -> Target:
    return Target(channel="sales", address=address, idempotency_key="k", external_id=external_id)


async def test_resolve_marks_the_activity_done(fake: FakeVendor, http: aiohttp.ClientSession) -> None:
    receipt = await _adapter(fake, http).send(resolved_message(), _target())
    assert fake.errors == []
    (call,) = fake.calls("update")
    assert call.path == f"/api/v2/activities/{ACTIVITY}"
    assert call.body["done"] is True
    assert call.body["subject"].startswith("Back in stock:")
    assert "Back in stock after 3 h 35 min" in call.body["note"]
    assert receipt.external_id == ACTIVITY
    assert fake.calls("create") == []


async def test_acknowledge_updates_the_note_and_reopen_undoes_done(
    fake: FakeVendor, http: aiohttp.ClientSession
) -> None:
    adapter = _adapter(fake, http)
    acked = sample_message(event="acknowledged", state="acknowledged", acknowledged_by="dana")
    await adapter.send(acked, _target())
    await adapter.send(sample_message(event="reopened"), _target())
    ack, reopen = fake.calls("update")
    assert "Acknowledged by dana" in ack.body["note"] and "done" not in ack.body
    assert reopen.body["done"] is False
    assert fake.errors == []


async def test_note_is_escaped_html(fake: FakeVendor, http: aiohttp.ClientSession) -> None:
    message = sample_message(product_name="Pinball <Pro> & Co")
    await _adapter(fake, http).send(message, _target(None, address="default"))
    (call,) = fake.calls("create")
    assert "Pinball &lt;Pro&gt; &amp; Co" in call.body["note"]
    assert "owner_id" not in call.body


async def test_oauth_token_is_sent_as_bearer(fake: FakeVendor, http: aiohttp.ClientSession) -> None:
    adapter = _adapter(fake, http, api_token=None, oauth_token=case.OAUTH_TOKEN)
    await adapter.send(sample_message(), _target(None))
    (call,) = fake.calls("create")
    assert call.headers["Authorization"] == f"Bearer {case.OAUTH_TOKEN}"
    assert "x-api-token" not in {k.lower() for k in call.headers}


async def test_success_false_in_a_2xx_is_permanent(fake: FakeVendor, http: aiohttp.ClientSession) -> None:
    fake.fail_next(200, '{"success": false, "error": "Activity type is not valid"}', operation="create")
    with pytest.raises(PermanentError, match="Activity type is not valid"):
        await _adapter(fake, http).send(sample_message(), _target(None))


async def test_bad_address_is_permanent(fake: FakeVendor, http: aiohttp.ClientSession) -> None:
    with pytest.raises(PermanentError, match="user id"):
        await _adapter(fake, http).send(sample_message(), _target(None, address="deal:42"))
    assert fake.requests == []


def test_a_v1_base_url_names_the_fix() -> None:
    with pytest.raises(ValidationError, match=r"'https://acme\.pipedrive\.com', without /api"):
        PipedriveSettings.model_validate({"api_token": "abcd", "base_url": "https://acme.pipedrive.com/api"})
    settings = PipedriveSettings.model_validate(
        {"api_token": "abcd", "base_url": "https://acme.pipedrive.com"}
    )
    assert settings.base_url == "https://acme.pipedrive.com"


def test_exactly_one_credential() -> None:
    with pytest.raises(ValidationError, match="exactly one"):
        PipedriveSettings.model_validate({})
    with pytest.raises(ValidationError, match="exactly one"):
        PipedriveSettings.model_validate({"api_token": "abcd", "oauth_token": "efgh"})
