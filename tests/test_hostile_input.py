"""No 5xx from any input: each hostile request that once answered 500 is answered 4xx problem+json (or 401,
audited, before any body work), on SQLite and PostgreSQL alike, over HTTP to the real app."""

from __future__ import annotations

import base64
import json
import socket
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import pytest
from sqlalchemy import select

from stockbot.handlers.bodies import MAX_DEPTH
from stockbot.storage.tables import audit_events, events, stock_levels
from tests import test_teams_app
from tests.conftest import HarnessFactory
from tests.fakes import slack_api
from tests.fakes.bot_connector import FakeBotConnector
from tests.fakes.slack_api import FakeSlack
from tests.helpers import T0, StockbotHarness, event
from tests.test_events_api import check_against_openapi, count, level
from tests.test_slack_app import command, post, signed, slack_overrides
from tests.test_teams_app import APP_ID, TENANT, activity, mention

fake_slack = slack_api.fake_slack  # the fixtures
connector = test_teams_app.connector
PROBLEM = "application/problem+json"
# Refused before any database work: one engine is enough.
sqlite_only = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


async def raw_post(
    harness: StockbotHarness, path: str, body: bytes, headers: dict[str, str]
) -> tuple[int, str, Any]:
    assert harness.http is not None
    async with harness.http.post(harness.url + path, data=body, headers=headers) as response:
        text = await response.text()
        parsed = json.loads(text) if response.content_type == PROBLEM else text
        return response.status, response.content_type, parsed


async def refusals(harness: StockbotHarness) -> list[dict[str, Any]]:
    assert harness.runtime is not None
    query = select(audit_events).where(audit_events.c.kind == "request.refused").order_by(audit_events.c.id)
    async with harness.runtime.engine.connect() as conn:
        return [dict(r) for r in (await conn.execute(query)).mappings().all()]


# --- events API, before the signature check --------------------------------------------------------------


@sqlite_only
async def test_json_nested_deeper_than_the_parser_allows_is_400(stockbot: HarnessFactory) -> None:
    harness = await stockbot()
    for depth in (MAX_DEPTH + 1, 100_000):
        body = b"[" * depth + b"]" * depth
        status, content_type, problem = await raw_post(
            harness, "/events/inventory", body, {"Content-Type": "application/json"}
        )
        assert (status, content_type) == (400, PROBLEM)
        assert f"deeper than {MAX_DEPTH} levels" in problem["detail"]
        check_against_openapi("/events/inventory", 400, problem)


@sqlite_only
async def test_a_corrupt_gzip_body_is_400(stockbot: HarnessFactory) -> None:
    harness = await stockbot()
    headers = {"Content-Type": "application/json", "Content-Encoding": "gzip", "Connection": "close"}
    status, content_type, problem = await raw_post(
        harness, "/events/inventory", b"\x1f\x8b not gzip", headers
    )
    assert (status, content_type) == (400, PROBLEM)
    assert "Content-Encoding (gzip) does not decode" in problem["detail"]
    assert await count(harness, events) == 0


SOURCES = [5, None, {"a": 1}, [1], "x" * 194, "x" * 5000, "erp\x00", "erp\ud800"]


async def test_a_source_no_column_can_hold_is_401_with_an_audit_row(stockbot: HarnessFactory) -> None:
    """A number, null, an object, an array, 194+ characters, NUL, a lone surrogate."""
    harness = await stockbot()
    for source in SOURCES:
        body = json.dumps({**event("CAB-PACMAN-UP", 0), "source": source}).encode()
        status, content_type, problem = await raw_post(
            harness, "/events/inventory", body, {"Content-Type": "application/json"}
        )
        assert (status, content_type) == (401, PROBLEM), source
        check_against_openapi("/events/inventory", 401, problem)
    rows = await refusals(harness)
    assert len(rows) == len(SOURCES)
    for row in rows:
        assert len(row["actor"]) <= 200 and "\x00" not in row["actor"]
        assert len(row["detail"]["reason"]) < 200  # a refusal quotes the claimed source clipped
    assert await count(harness, events) == 0


# --- events API, signed ----------------------------------------------------------------------------------


QUANTITIES = [
    ("/events/inventory", "on_hand", 2**31),
    ("/events/inventory", "on_hand", 2**63),
    ("/events/inventory", "on_hand", 99999999999999999999999),
    ("/events/inventory", "on_hand", -1),
    ("/events/fulfillment-failed", "requested", 2**31),
    ("/events/fulfillment-failed", "available", 2**40),
]


async def test_quantities_beyond_the_documented_range_are_400(stockbot: HarnessFactory) -> None:
    harness = await stockbot()
    for path, field, value in QUANTITIES:
        base = failure() if path.endswith("failed") else event("CAB-PACMAN-UP")
        status, problem = await harness.post(path, {**base, field: value})
        assert status == 400, (field, value, problem)
        check_against_openapi(path, 400, problem)
        assert problem["errors"][0]["path"] == f"/{field}"
    assert await count(harness, events) == 0


async def test_the_largest_quantity_is_stored_the_same_on_both_databases(stockbot: HarnessFactory) -> None:
    harness = await stockbot()
    await harness.send(event("CAB-PACMAN-UP", 2**31 - 1))
    assert await level(harness, "CAB-PACMAN-UP") == 2**31 - 1


async def test_whole_numbers_written_with_a_fraction_are_integers(stockbot: HarnessFactory) -> None:
    harness = await stockbot()
    await harness.send({**event("CAB-PACMAN-UP"), "on_hand": 3.0})
    assert await level(harness, "CAB-PACMAN-UP") == 3
    status, problem = await harness.post(
        "/events/fulfillment-failed", {**failure(), "requested": 1.0, "available": 0.0}
    )
    assert status == 202, problem
    status, problem = await harness.post("/events/inventory", {**event("PIN-JP-PRO"), "on_hand": 3.5})
    assert (status, problem["errors"][0]["path"]) == (400, "/on_hand")


TIMESTAMPS = [
    "0001-01-01T00:00:00+01:00",  # before year 1 in UTC
    "9999-12-31T23:59:59-23:59",  # after year 9999 in UTC
    "2026-11-26T09:00:00\x00Z",
    "2026-11-26T09:00:00Z\x00",
    "2026-02-30T09:00:00Z",
    "2026-11-26 09:00:00Z",
    "1969-12-31T23:59:59Z",
]


async def test_timestamps_outside_rfc_3339_or_the_documented_years_are_400(stockbot: HarnessFactory) -> None:
    harness = await stockbot()
    for occurred_at in TIMESTAMPS:
        body = {**event("CAB-PACMAN-UP", 0), "occurred_at": occurred_at}
        status, problem = await harness.post("/events/inventory", body)
        assert status == 400, (occurred_at, problem)
        assert problem["errors"][0]["path"] == "/occurred_at"
    assert await count(harness, events) == 0


async def test_nul_in_text_fields_is_400(stockbot: HarnessFactory) -> None:
    harness = await stockbot()
    for field in ("sku", "location", "event_id"):
        status, problem = await harness.post(
            "/events/inventory", {**event("CAB-PACMAN-UP", 0), field: "A\x00B"}
        )
        assert status == 400, problem
        assert problem["errors"] == [
            {
                "path": f"/{field}",
                "message": "must not contain control characters (U+0000-U+001F, U+007F-U+009F)",
            }
        ]
    status, problem = await harness.post("/events/fulfillment-failed", {**failure(), "order_id": "SO\x00"})
    assert (status, problem["errors"][0]["path"]) == (400, "/order_id")
    assert await count(harness, events) == 0


async def test_spaces_around_text_are_dropped_and_blank_text_is_refused(stockbot: HarnessFactory) -> None:
    harness = await stockbot()
    status, problem = await harness.post("/events/inventory", {**event("CAB-PACMAN-UP", 0), "sku": " "})
    assert (status, problem["errors"][0]["message"]) == (400, "must contain a character other than spaces")
    await harness.send({**event("CAB-PACMAN-UP", 2), "sku": "  CAB-PACMAN-UP "})
    assert await level(harness, "CAB-PACMAN-UP") == 2


async def test_a_future_dated_event_is_refused_naming_the_field_and_the_server_time(
    stockbot: HarnessFactory,
) -> None:
    harness = await stockbot()
    before = await level(harness, "CAB-PACMAN-UP")
    status, problem = await harness.post(
        "/events/inventory", {**event("CAB-PACMAN-UP", 0), "occurred_at": "2099-01-01T00:00:00Z"}
    )
    assert status == 400, problem
    check_against_openapi("/events/inventory", 400, problem)
    (error,) = problem["errors"]
    assert error["path"] == "/occurred_at"
    assert "2026-11-26T09:00:00Z" in error["message"] and "max_clock_skew" in error["message"]
    assert await level(harness, "CAB-PACMAN-UP") == before
    # Within the skew (5 minutes by default) an event is taken: clocks drift.
    await harness.send(event("CAB-PACMAN-UP", 1, at=T0 + timedelta(minutes=4)))
    assert await level(harness, "CAB-PACMAN-UP") == 1


async def test_the_clock_skew_is_configurable(stockbot: HarnessFactory) -> None:
    harness = await stockbot(alerts={"max_clock_skew": "1h"})
    await harness.send(event("CAB-PACMAN-UP", 1, at=T0 + timedelta(minutes=30)))
    status, problem = await harness.post(
        "/events/inventory", event("CAB-PACMAN-UP", 0, at=T0 + timedelta(hours=2))
    )
    assert status == 400 and "more than 60 min" in problem["errors"][0]["message"]


def failure(**fields: Any) -> dict[str, Any]:
    return {
        "event_id": "ff-1",
        "source": "erp",
        "order_id": "SO-1042",
        "sku": "CAB-SF2-CE",
        "location": "Chicago DC",
        "requested": 3,
        "available": 1,
        "occurred_at": "2026-11-26T09:00:00Z",
        **fields,
    }


# --- Slack, signed ---------------------------------------------------------------------------------------


def _payload(body: dict[str, Any]) -> bytes:
    return urlencode({"payload": json.dumps(body)}).encode()


SLACK_BODIES = {
    "json-number": (b"5", "application/json"),
    "json-null": (b"null", "application/json"),
    "json-array": (b"[]", "application/json"),
    "payload-array": (b"payload=%5B%5D", "application/x-www-form-urlencoded"),
    "payload-string": (b"payload=%22x%22", "application/x-www-form-urlencoded"),
    "actions-null": (_payload({"type": "block_actions", "actions": None, "user": {"id": "U1"}}), None),
    "actions-of-null": (_payload({"type": "block_actions", "actions": [None], "user": {"id": "U1"}}), None),
    "action-without-id": (_payload({"type": "block_actions", "actions": [{"value": "1"}]}), None),
    "user-a-number": (_payload({"type": "block_actions", "actions": [{"action_id": "x"}], "user": 5}), None),
    "authorizations-a-string": (b"command=%2Fstock&authorizations=x", None),
    "form-sent-as-latin-1-json": (b"command=/stock&text=x&user_id=U1", "application/json; charset=latin-1"),
}


@sqlite_only
async def test_signed_slack_bodies_bolt_cannot_read_are_400(
    stockbot: HarnessFactory, fake_slack: FakeSlack
) -> None:
    harness = await stockbot(**slack_overrides(fake_slack))
    for case, (body, content_type) in SLACK_BODIES.items():
        headers = signed(harness, body)
        if content_type:
            headers["Content-Type"] = content_type
        status, text, response_headers = await post(harness, body, headers)
        assert status == 400, (case, text)
        assert response_headers["Content-Type"].startswith(PROBLEM)
        assert json.loads(text)["status"] == 400
    assert fake_slack.requests == []


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@sqlite_only
async def test_slack_unreachable_at_start_does_not_fail_slash_commands(
    stockbot: HarnessFactory, fake_slack: FakeSlack
) -> None:
    overrides = slack_overrides(fake_slack)
    overrides["slack"]["api_url"] = f"http://127.0.0.1:{_closed_port()}/api/"  # Bolt's auth.test fails here
    harness = await stockbot(**overrides)
    body = command(fake_slack, "/stock", "pacman", user="U0REP")
    for _ in range(2):
        status, text, _ = await post(harness, body, signed(harness, body))
        assert status == 200, text  # acknowledged; the answer itself cannot reach Slack and is logged


# --- Teams -----------------------------------------------------------------------------------------------


def _jwt(header: dict[str, Any], claims: dict[str, Any]) -> str:
    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{part(header)}.{part(claims)}.c2lnbmF0dXJl"


async def _teams(harness: StockbotHarness, body: bytes, headers: dict[str, str]) -> tuple[int, str, Any]:
    return await raw_post(harness, "/api/messages", body, {"Content-Type": "application/json", **headers})


async def test_teams_jwt_without_kid_is_401_with_an_audit_row(
    stockbot: HarnessFactory, connector: FakeBotConnector
) -> None:
    harness = await stockbot(
        teams={"app_id": APP_ID, "app_password": "client-secret-value", "tenant_id": TENANT}
    )
    token = _jwt({"alg": "RS256", "typ": "JWT"}, {"aud": APP_ID, "iss": "https://api.botframework.com"})
    body = json.dumps(mention(connector, "stock pacman")).encode()
    status, _, _ = await _teams(harness, body, {"Authorization": f"Bearer {token}"})
    assert status == 401
    (row,) = await refusals(harness)
    assert (row["actor"], row["subject"]) == ("teams:?", "/api/messages")
    assert connector.requests == []


@sqlite_only
async def test_teams_body_over_the_limit_is_413_like_the_events_api(stockbot: HarnessFactory) -> None:
    harness = await stockbot(
        server={"body_limit_bytes": 4096},
        teams={"app_id": APP_ID, "app_password": "client-secret-value", "tenant_id": TENANT},
    )
    status, content_type, problem = await _teams(harness, b'{"text": "' + b"x" * 8192 + b'"}', {})
    assert (status, content_type) == (413, PROBLEM)
    assert "4096 bytes" in problem["detail"]


@sqlite_only
async def test_teams_service_url_that_is_not_a_url_is_400(
    stockbot: HarnessFactory, connector: FakeBotConnector
) -> None:
    harness = await stockbot(teams={})
    for service_url in ("x", 5, "ftp://example.com/", "http://", "http://[::1"):
        body = json.dumps({**mention(connector, "help"), "serviceUrl": service_url}).encode()
        status, content_type, problem = await _teams(harness, body, {})
        assert (status, content_type) == (400, PROBLEM), service_url
        assert "serviceUrl" in problem["detail"]
    assert connector.requests == []


@sqlite_only
async def test_teams_activities_the_sdk_cannot_validate_are_400(
    stockbot: HarnessFactory, connector: FakeBotConnector
) -> None:
    harness = await stockbot(teams={})
    for fields in (
        {"channelId": ""},  # the SDK's validator raised TypeError
        {"channelId": "msteams:a", "entities": [{"type": "ProductInfo", "id": "b"}]},  # a bare Exception
    ):
        body = json.dumps({**mention(connector, "help"), **fields}).encode()
        status, content_type, problem = await _teams(harness, body, {})
        assert (status, content_type) == (400, PROBLEM), fields
        assert problem["detail"].startswith("not a Bot Framework activity")
    assert connector.requests == []


@sqlite_only
async def test_teams_invoke_nobody_handles_is_400(
    stockbot: HarnessFactory, connector: FakeBotConnector
) -> None:
    harness = await stockbot(teams={})
    body = json.dumps(activity(connector, "invoke", name="task/fetch", value={})).encode()
    status, content_type, problem = await _teams(harness, body, {})
    assert (status, content_type) == (400, PROBLEM)
    assert "task/fetch" in problem["detail"]


async def test_nothing_hostile_reached_the_levels(stockbot: HarnessFactory) -> None:
    """The catalog's levels are where the demo left them after a hostile batch (a sanity check of the
    one-transaction rule with a refused item in the middle)."""
    harness = await stockbot()
    batch = {"events": [event("CAB-PACMAN-UP", 0, event_id="ok"), {**event("PIN-JP-PRO", 0), "sku": "\x00"}]}
    status, problem = await harness.post("/events/inventory", batch)
    assert (status, problem["errors"][0]["path"]) == (400, "/events/1/sku")
    assert harness.runtime is not None
    async with harness.runtime.engine.connect() as conn:
        zero = select(stock_levels).where(stock_levels.c.on_hand == 0, stock_levels.c.sku == "CAB-PACMAN-UP")
        assert (await conn.execute(zero)).first() is None
