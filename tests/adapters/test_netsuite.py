"""NetSuite closes the loop: later events PATCH the task (resolve → status COMPLETE), signed as on create."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

from stockbot.adapters.base import AlertMessage, PermanentError, Receipt, Target
from stockbot.adapters.netsuite import NetSuiteAdapter, NetSuiteSettings, record_id
from tests.adapters.cases.netsuite import TASK_ID, configure, invalid_login, oauth_problems, settings
from tests.fakes.messages import resolved_message, sample_message
from tests.fakes.vendor import FakeVendor, Recorded


def _patched(recorded: Recorded) -> web.Response:
    problems = oauth_problems(recorded)
    return invalid_login(problems) if problems else web.Response(status=204)


@pytest.fixture
async def fake() -> AsyncIterator[FakeVendor]:
    fake = FakeVendor("netsuite")
    configure(fake)
    fake.expect("PATCH", "/services/rest/record/v1/task/{id}", respond=_patched, name="update")
    await fake.start()
    yield fake
    await fake.close()


async def _send(
    fake: FakeVendor, message: AlertMessage, external_id: str | None = TASK_ID, address: str = "-5"
) -> Receipt:
    config = NetSuiteSettings.model_validate(settings(fake.url))
    async with aiohttp.ClientSession() as http:
        target = Target(channel="ops", address=address, idempotency_key="k", external_id=external_id)
        return await NetSuiteAdapter(config, http).send(message, target)


async def test_resolve_completes_the_task(fake: FakeVendor) -> None:
    receipt = await _send(fake, resolved_message())
    assert fake.errors == []
    (call,) = fake.calls("update")
    assert call.match["id"] == TASK_ID
    assert call.body["status"] == "COMPLETE"
    assert "Back in stock after 3 h 35 min" in call.body["message"]
    assert receipt.external_id == TASK_ID


@pytest.mark.parametrize(
    ("event", "state", "expected"),
    [
        ("acknowledged", "acknowledged", {"status": "PROGRESS"}),
        ("escalated", "escalated", {"priority": "HIGH"}),
        ("reopened", "open", {"status": "NOTSTART"}),
    ],
)
async def test_other_events_update_the_task_in_place(
    fake: FakeVendor, event: str, state: str, expected: dict[str, str]
) -> None:
    await _send(fake, sample_message(event=event, state=state))
    assert fake.errors == []
    (call,) = fake.calls("update")
    assert expected.items() <= call.body.items()
    assert fake.calls("create") == []


async def test_default_address_leaves_assignment_to_netsuite(fake: FakeVendor) -> None:
    receipt = await _send(fake, sample_message(), external_id=None, address="default")
    (call,) = fake.calls("create")
    assert "assigned" not in call.body
    assert receipt.external_id == TASK_ID


async def test_a_bad_address_is_permanent(fake: FakeVendor) -> None:
    with pytest.raises(PermanentError, match="employee internal id"):
        await _send(fake, sample_message(), address="dana@example.com")


def test_record_id_reads_the_location_header() -> None:
    url = "https://1234567-sb1.suitetalk.api.netsuite.com/services/rest/record/v1/task/4711"
    assert record_id(url) == "4711"
    assert record_id(url + "/") == "4711"
    assert record_id(None) is None


def test_sandbox_account_ids_map_to_host_and_realm() -> None:
    config = NetSuiteSettings.model_validate({**settings(""), "base_url": None})
    assert config.root == "https://1234567-sb1.suitetalk.api.netsuite.com"
    assert config.realm == "1234567_SB1"
