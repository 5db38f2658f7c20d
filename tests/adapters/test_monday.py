"""monday.com closes the loop (status column or an update) and maps GraphQL errors that come with HTTP 200."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

from stockbot.adapters.base import AlertMessage, PermanentError, Receipt, RetryableError, Target
from stockbot.adapters.monday import MondayAdapter, MondaySettings
from tests.adapters.cases.monday import API_TOKEN, BOARD_ID, ITEM_ID, authorised, created, unauthorised
from tests.fakes.messages import resolved_message, sample_message
from tests.fakes.vendor import FakeVendor, Recorded


def _graphql(fake: FakeVendor):
    """One /v2 endpoint for every mutation (the fake checks each against its own entry in monday.json,
    found by the mutation's field): answer like monday."""

    def answer(recorded: Recorded) -> web.Response:
        if not authorised(recorded):
            return unauthorised()
        if recorded.described == "change_simple_column_value":
            return web.json_response({"data": {"change_simple_column_value": {"id": ITEM_ID}}})
        if recorded.described == "create_update":
            return web.json_response({"data": {"create_update": {"id": "3300000001"}}})
        return created(recorded)

    return answer


@pytest.fixture
async def fake() -> AsyncIterator[FakeVendor]:
    fake = FakeVendor("monday")
    fake.describe_by("monday")
    fake.expect("POST", "/v2", respond=_graphql(fake), name="graphql")
    await fake.start()
    yield fake
    await fake.close()


async def _send(
    fake: FakeVendor, message: AlertMessage, external_id: str | None = ITEM_ID, **settings: str
) -> Receipt:
    config = MondaySettings(base_url=fake.url, api_token=API_TOKEN, **settings)
    async with aiohttp.ClientSession() as http:
        target = Target(channel="ops", address=BOARD_ID, idempotency_key="k", external_id=external_id)
        return await MondayAdapter(config, http).send(message, target)


async def test_resolve_sets_the_status_column(fake: FakeVendor) -> None:
    receipt = await _send(fake, resolved_message(), status_column_id="status", done_label="Back in stock")
    assert fake.errors == []
    (call,) = fake.calls("graphql")
    assert "change_simple_column_value" in call.body["query"]
    assert call.body["variables"] == {
        "board_id": BOARD_ID,
        "item_id": ITEM_ID,
        "column_id": "status",
        "value": "Back in stock",
    }
    assert receipt.external_id == ITEM_ID


async def test_resolve_without_a_status_column_posts_an_update(fake: FakeVendor) -> None:
    await _send(fake, resolved_message())
    assert fake.errors == []
    (call,) = fake.calls("graphql")
    assert "create_update" in call.body["query"]
    assert call.body["variables"]["body"].startswith("Back in stock after 3 h 35 min (erp)")


async def test_acknowledge_posts_an_update(fake: FakeVendor) -> None:
    message = sample_message(event="acknowledged", state="acknowledged", acknowledged_by="dana")
    await _send(fake, message, status_column_id="status")
    (call,) = fake.calls("graphql")
    assert "create_update" in call.body["query"]
    assert call.body["variables"]["body"].startswith("Acknowledged by dana")


async def test_a_board_without_group_omits_group_id(fake: FakeVendor) -> None:
    receipt = await _send(fake, sample_message(), external_id=None)
    assert fake.errors == []
    (call,) = fake.calls("graphql")
    assert "group_id" not in call.body["variables"]
    assert receipt.external_id == ITEM_ID


GRAPHQL_ERRORS = [
    pytest.param(
        {
            "errors": [
                {
                    "message": "Complexity budget exhausted",
                    "extensions": {
                        "code": "COMPLEXITY_BUDGET_EXHAUSTED",
                        "retry_in_seconds": 60,
                        "status_code": 429,
                    },
                }
            ]
        },
        RetryableError,
        60.0,
        id="complexity-budget",
    ),
    pytest.param(
        {
            "error_code": "ComplexityException",
            "status_code": 429,
            "error_data": {},
            "error_message": "Complexity budget exhausted, query cost 30001 budget remaining 19986 out of "
            "1000000 reset in 3 seconds",
        },
        RetryableError,
        3.0,
        id="complexity-legacy",
    ),
    pytest.param(
        {
            "error_code": "FIELD_LIMIT_EXCEEDED",
            "status_code": 429,
            "error_message": "Concurrency limit exceeded for the field",
            "error_data": {"retry_in_seconds": 15, "entity": "boards"},
        },
        RetryableError,
        15.0,
        id="field-limit",
    ),
    pytest.param(
        {
            "data": {"create_item": None},
            "errors": [
                {
                    "message": "User unauthorized to perform action",
                    "extensions": {"code": "UserUnauthorizedException", "status_code": 403},
                }
            ],
        },
        PermanentError,
        None,
        id="unauthorized",
    ),
    pytest.param(
        {"errors": [{"message": "Board not found", "extensions": {"code": "InvalidBoardIdException"}}]},
        PermanentError,
        None,
        id="bad-board",
    ),
]


@pytest.mark.parametrize(("answer", "error", "retry_after"), GRAPHQL_ERRORS)
async def test_graphql_errors_inside_a_200_are_classified(
    answer: dict, error: type, retry_after: float | None, fake: FakeVendor
) -> None:
    fake.fail_next(200, json.dumps(answer), {"Content-Type": "application/json"})
    with pytest.raises(error) as raised:
        await _send(fake, sample_message(), external_id=None)
    assert getattr(raised.value, "retry_after", None) == retry_after
    assert API_TOKEN not in str(raised.value)


async def test_partial_data_with_the_item_is_a_success(fake: FakeVendor) -> None:
    answer = {"data": {"create_item": {"id": "55"}}, "errors": [{"message": "column value ignored"}]}
    fake.fail_next(200, json.dumps(answer), {"Content-Type": "application/json"})
    receipt = await _send(fake, sample_message(), external_id=None)
    assert receipt.external_id == "55"
