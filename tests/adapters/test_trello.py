"""Trello closes the loop: a resolved alert moves its card to the done list (or archives it); other events
on an existing card become comments."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

from stockbot.adapters.base import PermanentError, Target
from stockbot.adapters.trello import TrelloAdapter, TrelloSettings
from tests.adapters.cases.trello import API_KEY, CARD_ID, DONE_LIST_ID, LIST_ID, TOKEN, authorised
from tests.fakes.messages import resolved_message, sample_message
from tests.fakes.vendor import FakeVendor, Recorded


def _answer(recorded: Recorded) -> web.Response:
    if not authorised(recorded):
        return web.Response(status=401, text="invalid key")
    return web.json_response({"id": recorded.match["id"], **recorded.query})


@pytest.fixture
async def fake() -> AsyncIterator[FakeVendor]:
    fake = FakeVendor("trello")
    fake.describe_by("trello")  # Update a Card, Add a new comment to a Card: query parameters
    fake.expect("PUT", "/1/cards/{id}", respond=_answer, name="update")
    fake.expect("POST", "/1/cards/{id}/actions/comments", respond=_answer, name="comment")
    await fake.start()
    yield fake
    await fake.close()


async def _send(fake: FakeVendor, message, done_list_id: str | None = None, address: str = LIST_ID):
    settings = TrelloSettings(base_url=fake.url, api_key=API_KEY, token=TOKEN, done_list_id=done_list_id)
    async with aiohttp.ClientSession() as http:
        target = Target(channel="board", address=address, idempotency_key="k", external_id=CARD_ID)
        return await TrelloAdapter(settings, http).send(message, target)


async def test_resolve_moves_the_card_to_the_done_list(fake: FakeVendor) -> None:
    receipt = await _send(fake, resolved_message(), done_list_id=DONE_LIST_ID)
    assert fake.errors == []
    (call,) = fake.calls("update")
    assert call.match["id"] == CARD_ID
    assert call.query == {"idList": DONE_LIST_ID}
    assert receipt.external_id == CARD_ID


async def test_resolve_without_a_done_list_archives_the_card(fake: FakeVendor) -> None:
    await _send(fake, resolved_message())
    assert fake.errors == []
    (call,) = fake.calls("update")
    assert call.query == {"closed": "true"}


async def test_reopen_brings_the_card_back_to_its_list(fake: FakeVendor) -> None:
    await _send(fake, sample_message(event="reopened"), done_list_id=DONE_LIST_ID)
    assert fake.errors == []
    (call,) = fake.calls("update")
    assert call.query == {"idList": LIST_ID, "closed": "false"}


async def test_acknowledge_adds_a_comment(fake: FakeVendor) -> None:
    message = sample_message(event="acknowledged", state="acknowledged", acknowledged_by="dana")
    receipt = await _send(fake, message)
    assert fake.errors == []
    (call,) = fake.calls("comment")
    assert call.query["text"].startswith("Acknowledged by dana")
    assert fake.calls("update") == []
    assert receipt.external_id == CARD_ID


async def test_a_bad_list_id_is_permanent(fake: FakeVendor) -> None:
    with pytest.raises(PermanentError, match="24 hex"):
        await _send(fake, sample_message(), address="To Do")
    assert fake.requests == []
