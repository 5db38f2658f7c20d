"""Zendesk closes the loop: later events of an alert update the ticket the first one created."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from pydantic import ValidationError

from stockbot.adapters.base import PermanentError, Target
from stockbot.adapters.zendesk import ZendeskAdapter, ZendeskSettings
from tests.adapters.cases import zendesk as case
from tests.fakes.messages import resolved_message, sample_message
from tests.fakes.vendor import FakeVendor

TICKET = str(case.TICKET_ID)


@pytest.fixture
async def fake() -> AsyncIterator[FakeVendor]:
    vendor = FakeVendor("zendesk")
    case.configure(vendor)
    await vendor.start()
    yield vendor
    await vendor.close()


def _adapter(fake: FakeVendor, http: aiohttp.ClientSession, **overrides: object) -> ZendeskAdapter:
    raw = {**case.settings(fake.url), **overrides}
    return ZendeskAdapter(ZendeskSettings.model_validate(raw), http)


def _target(address: str = "360001234567", external_id: str | None = TICKET) -> Target:
    return Target(channel="support", address=address, idempotency_key="k", external_id=external_id)


async def test_resolve_solves_the_ticket_with_a_note(fake: FakeVendor, http: aiohttp.ClientSession) -> None:
    receipt = await _adapter(fake, http).send(resolved_message(), _target())
    assert fake.errors == []
    (call,) = fake.calls("update")
    assert call.path == f"/api/v2/tickets/{TICKET}"
    ticket = call.body["ticket"]
    assert ticket["status"] == "solved"
    assert ticket["comment"]["body"].startswith("Back in stock after 3 h 35 min (erp)")
    assert ticket["comment"]["public"] is False  # a group address: the requester is our own API user
    assert receipt.external_id == TICKET
    assert fake.calls("create") == []


async def test_escalate_raises_priority_with_a_private_note(
    fake: FakeVendor, http: aiohttp.ClientSession
) -> None:
    message = sample_message(event="escalated", state="escalated", escalated_by="lee", escalation_level=2)
    await _adapter(fake, http).send(message, _target())
    (call,) = fake.calls("update")
    ticket = call.body["ticket"]
    assert ticket["priority"] == "urgent"
    assert ticket["comment"] == {"body": ticket["comment"]["body"], "public": False}
    assert "Escalated to level 2 by lee" in ticket["comment"]["body"]
    assert "status" not in ticket


async def test_acknowledge_only_comments(fake: FakeVendor, http: aiohttp.ClientSession) -> None:
    message = sample_message(event="acknowledged", state="acknowledged", acknowledged_by="dana")
    await _adapter(fake, http).send(message, _target())
    (call,) = fake.calls("update")
    assert set(call.body["ticket"]) == {"comment"}
    assert call.body["ticket"]["comment"]["body"].startswith("Acknowledged by dana.")


async def test_reopen_sets_the_ticket_open_again(fake: FakeVendor, http: aiohttp.ClientSession) -> None:
    await _adapter(fake, http).send(sample_message(event="reopened"), _target())
    (call,) = fake.calls("update")
    assert call.body["ticket"]["status"] == "open"


async def test_requester_address_makes_alert_and_closure_public(
    fake: FakeVendor, http: aiohttp.ClientSession
) -> None:
    adapter = _adapter(fake, http)
    receipt = await adapter.send(sample_message(), _target("dana@example.com", external_id=None))
    await adapter.send(resolved_message(), _target("dana@example.com", external_id=receipt.external_id))
    assert fake.errors == []
    (created,) = fake.calls("create")
    assert created.body["ticket"]["requester"] == {"email": "dana@example.com"}
    assert created.body["ticket"]["comment"]["public"] is True
    (solved,) = fake.calls("update")
    assert solved.body["ticket"]["comment"]["public"] is True


async def test_default_address_sets_no_group_or_requester(
    fake: FakeVendor, http: aiohttp.ClientSession
) -> None:
    await _adapter(fake, http).send(sample_message(), _target("default", external_id=None))
    (call,) = fake.calls("create")
    assert "group_id" not in call.body["ticket"] and "requester" not in call.body["ticket"]


async def test_oauth_token_is_sent_as_bearer(fake: FakeVendor, http: aiohttp.ClientSession) -> None:
    adapter = _adapter(fake, http, email=None, api_token=None, oauth_token=case.OAUTH_TOKEN)
    await adapter.send(sample_message(), _target(external_id=None))
    (call,) = fake.calls("create")
    assert call.headers["Authorization"] == f"Bearer {case.OAUTH_TOKEN}"


async def test_bad_address_is_permanent_and_sends_nothing(
    fake: FakeVendor, http: aiohttp.ClientSession
) -> None:
    with pytest.raises(PermanentError, match="group id"):
        await _adapter(fake, http).send(sample_message(), _target("support team", external_id=None))
    assert fake.requests == []


def test_settings_need_a_site_and_credentials() -> None:
    with pytest.raises(ValidationError, match="subdomain"):
        ZendeskSettings.model_validate({"email": "a@b.c", "api_token": "t0ken"})
    with pytest.raises(ValidationError, match="api_token"):
        ZendeskSettings.model_validate({"subdomain": "acme", "email": "a@b.c"})
    assert ZendeskSettings(subdomain="acme", oauth_token="x" * 8).root == "https://acme.zendesk.com"
