"""Asana closes the loop: a resolved alert completes its task; other events on it become comments."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

from stockbot.adapters.asana import AsanaAdapter, AsanaSettings
from stockbot.adapters.base import AlertMessage, PermanentError, Receipt, Target
from tests.adapters.cases.asana import ACCESS_TOKEN, PROJECT_GID, TASK_GID, authorised, unauthorised
from tests.fakes.messages import resolved_message, sample_message
from tests.fakes.vendor import FakeVendor, Recorded


def _updated(recorded: Recorded) -> web.Response:
    if not authorised(recorded):
        return unauthorised()
    return web.json_response({"data": {"gid": recorded.match["gid"], **recorded.body["data"]}})


def _story(recorded: Recorded) -> web.Response:
    if not authorised(recorded):
        return unauthorised()
    story = {"gid": "1209999", "resource_type": "story", "type": "comment", **recorded.body["data"]}
    return web.json_response({"data": story}, status=201)


@pytest.fixture
async def fake() -> AsyncIterator[FakeVendor]:
    fake = FakeVendor("asana")
    fake.describe_by("asana")  # updateTask and createStoryForTask
    fake.expect("PUT", "/tasks/{gid}", respond=_updated, name="update")
    fake.expect("POST", "/tasks/{gid}/stories", respond=_story, name="story")
    await fake.start()
    yield fake
    await fake.close()


async def _send(fake: FakeVendor, message: AlertMessage, address: str = PROJECT_GID) -> Receipt:
    settings = AsanaSettings(base_url=fake.url, access_token=ACCESS_TOKEN)
    async with aiohttp.ClientSession() as http:
        target = Target(channel="ops", address=address, idempotency_key="k", external_id=TASK_GID)
        return await AsanaAdapter(settings, http).send(message, target)


async def test_resolve_completes_the_task(fake: FakeVendor) -> None:
    receipt = await _send(fake, resolved_message())
    assert fake.errors == []
    (call,) = fake.calls("update")
    assert call.match["gid"] == TASK_GID
    assert call.body == {"data": {"completed": True}}
    assert receipt.external_id == TASK_GID


async def test_reopen_uncompletes_the_task(fake: FakeVendor) -> None:
    await _send(fake, sample_message(event="reopened"))
    (call,) = fake.calls("update")
    assert call.body == {"data": {"completed": False}}


async def test_escalate_adds_a_comment(fake: FakeVendor) -> None:
    message = sample_message(
        event="escalated",
        state="escalated",
        escalated_by="sam",
        escalation_level=2,
        escalation_note="VIP order",
    )
    receipt = await _send(fake, message)
    assert fake.errors == []
    (call,) = fake.calls("story")
    assert call.body["data"]["text"].startswith("Escalated to level 2 by sam (VIP order)")
    assert receipt.external_id == TASK_GID


async def test_a_bad_project_gid_is_permanent(fake: FakeVendor) -> None:
    with pytest.raises(PermanentError, match="project gid"):
        await _send(fake, sample_message(), address="Stock alerts")
