"""POST /events/*: signatures, validation, idempotency, ordering, durability, and the OpenAPI contract."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import jsonschema
import pytest
from sqlalchemy import func, select

from stockbot.adapters.signing import HEADER, sign
from stockbot.handlers.openapi import document
from stockbot.storage.tables import alerts, audit_events, events, stock_levels
from tests.conftest import HarnessFactory
from tests.helpers import ERP_SECRET, POS_SECRET, T0, StockbotHarness, event


def check_against_openapi(path: str, status: int, body: Any) -> None:
    """Validate a response body against the schema /openapi.json documents for it."""
    spec = document()
    responses = spec["paths"][path]["post"]["responses"]
    media = "application/json" if status == 202 else "application/problem+json"
    schema = {**responses[str(status)]["content"][media]["schema"], "components": spec["components"]}
    jsonschema.validate(body, schema)


async def count(harness: StockbotHarness, table: Any, *where: Any) -> int:
    assert harness.runtime is not None
    async with harness.runtime.engine.connect() as conn:
        return (await conn.execute(select(func.count()).select_from(table).where(*where))).scalar_one()


async def level(harness: StockbotHarness, sku: str, location: str = "Chicago DC") -> int | None:
    assert harness.runtime is not None
    async with harness.runtime.engine.connect() as conn:
        query = select(stock_levels.c.on_hand).where(
            stock_levels.c.sku == sku, stock_levels.c.location == location
        )
        return (await conn.execute(query)).scalar_one()


async def test_a_signed_event_is_stored_and_answered_202(stockbot: HarnessFactory) -> None:
    harness = await stockbot()
    status, body = await harness.post("/events/inventory", event("CAB-PACMAN-UP", 5))
    assert status == 202
    assert body["results"] == [
        {"event_id": "erp-CAB-PACMAN-UP-5-2026-11-26T09:00:00+00:00", "outcome": "applied"}
    ]
    check_against_openapi("/events/inventory", 202, body)
    assert await level(harness, "CAB-PACMAN-UP") == 5
    assert await count(harness, audit_events, audit_events.c.kind == "event.applied") == 1


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({}, "missing"),
        ({HEADER: "v1=abc"}, "malformed"),
        ({HEADER: "t=notanumber,v1=abc"}, "malformed"),
        ({HEADER: f"t={int(T0.timestamp())},v1=" + "0" * 64}, "does not match"),
    ],
)
async def test_bad_signatures_are_401_with_an_audit_row_and_no_effect(
    stockbot: HarnessFactory, headers: dict[str, str], reason: str
) -> None:
    harness = await stockbot()
    status, body = await harness.post(
        "/events/inventory",
        event("CAB-PACMAN-UP", 0),
        headers={"Content-Type": "application/json", **headers},
    )
    assert status == 401
    assert reason in body["detail"]
    check_against_openapi("/events/inventory", 401, body)
    assert await count(harness, events) == 0
    assert await count(harness, audit_events, audit_events.c.kind == "request.refused") == 1
    assert await level(harness, "CAB-PACMAN-UP") != 0


async def test_stale_signature_wrong_secret_and_unknown_source_are_refused(stockbot: HarnessFactory) -> None:
    harness = await stockbot()
    payload = json.dumps(event("CAB-PACMAN-UP", 0)).encode()
    stale = {
        "Content-Type": "application/json",
        HEADER: sign(ERP_SECRET, payload, int((harness.clock.now() - timedelta(minutes=6)).timestamp())),
    }
    status, body = await harness.post("/events/inventory", None, raw=payload, headers=stale)
    assert (status, "stale" in body["detail"]) == (401, True)
    status, _ = await harness.post("/events/inventory", event("CAB-PACMAN-UP", 0), secret=POS_SECRET)
    assert status == 401  # signed with another source's secret
    status, body = await harness.post("/events/inventory", event("CAB-PACMAN-UP", 0, source="mystery"))
    assert (status, "unknown source" in body["detail"]) == (401, True)
    assert await count(harness, events) == 0
    assert await count(harness, audit_events, audit_events.c.kind == "request.refused") == 3


async def test_validation_lists_every_bad_field_by_path_and_stores_nothing(stockbot: HarnessFactory) -> None:
    harness = await stockbot()
    good = event("CAB-PACMAN-UP", 4)
    bad = {**event("PIN-JP-PRO", None, event_id="e2"), "on_hand": -1, "occurred_at": "yesterday"}
    no_level = {k: v for k, v in event("PIN-JP-PRO", 3, event_id="e3").items() if k != "on_hand"}
    status, body = await harness.post("/events/inventory", {"events": [good, bad, no_level]})
    assert status == 400
    check_against_openapi("/events/inventory", 400, body)
    paths = {e["path"] for e in body["errors"]}
    assert {"/events/1/on_hand", "/events/1/occurred_at", "/events/2"} <= paths
    assert any("on_hand" in e["message"] for e in body["errors"] if e["path"] == "/events/2")
    assert await count(harness, events) == 0  # a batch is one unit: nothing half-stored


async def test_not_json_and_wrong_types_are_400(stockbot: HarnessFactory) -> None:
    harness = await stockbot()
    status, body = await harness.post("/events/inventory", None, raw=b"{not json")
    assert status == 400 and "not valid JSON" in body["detail"]
    status, body = await harness.post("/events/inventory", {**event("CAB-PACMAN-UP"), "on_hand": "5"})
    assert status == 400 and body["errors"][0]["path"] == "/on_hand"


async def test_body_over_the_limit_is_413(stockbot: HarnessFactory) -> None:
    harness = await stockbot(server={"body_limit_bytes": 2048})
    many = [event("CAB-PACMAN-UP", 5, event_id=f"big-{i}") for i in range(40)]
    status, body = await harness.post("/events/inventory", {"events": many})
    assert status == 413
    check_against_openapi("/events/inventory", 413, body)
    assert await count(harness, events) == 0


async def test_a_repeated_event_id_is_accepted_and_applied_once(stockbot: HarnessFactory) -> None:
    harness = await stockbot()
    first = event("CAB-PACMAN-UP", 1, event_id="erp-77")
    await harness.send(first)
    replay = await harness.send({**first, "on_hand": 30})  # same id, different body: still the same event
    assert replay["results"][0]["outcome"] == "duplicate" and replay["duplicates"] == 1
    assert await level(harness, "CAB-PACMAN-UP") == 1
    assert await count(harness, events) == 1
    assert await count(harness, alerts) == 1
    # the same id from another source is another event
    other = await harness.send({**first, "source": "pos"}, secret=POS_SECRET)
    assert other["results"][0]["outcome"] == "applied"


async def test_an_older_event_is_stored_but_does_not_move_the_level_back(stockbot: HarnessFactory) -> None:
    harness = await stockbot()
    await harness.send(event("CAB-PACMAN-UP", 6, at=harness.later(minutes=10)))
    late = await harness.send(event("CAB-PACMAN-UP", 0, at=T0))
    assert late["results"][0]["outcome"] == "stale"
    assert await level(harness, "CAB-PACMAN-UP") == 6
    assert await count(harness, events, events.c.outcome == "stale") == 1
    assert await count(harness, alerts) == 0


async def test_unknown_skus_and_locations_are_kept_not_dropped(stockbot: HarnessFactory) -> None:
    harness = await stockbot()
    body = await harness.send(
        event("NO-SUCH-SKU", 0, event_id="u1"), event("CAB-PACMAN-UP", 0, location="Moon Base", event_id="u2")
    )
    assert [r["outcome"] for r in body["results"]] == ["unknown_sku", "unknown_location"]
    assert await count(harness, events, events.c.outcome.like("unknown%")) == 2
    assert await count(harness, audit_events, audit_events.c.kind == "event.unknown_sku") == 1


async def test_a_batch_is_applied_in_order_in_one_transaction(stockbot: HarnessFactory) -> None:
    harness = await stockbot()
    timeline = [(9, 1), (1, 9), (7, 5)]  # (on_hand, seconds after T0): arriving out of order
    batch = [event("CAB-PACMAN-UP", n, at=T0 + timedelta(seconds=s), event_id=f"b{n}") for n, s in timeline]
    body = await harness.send(*batch)
    assert body["accepted"] == 3
    assert await level(harness, "CAB-PACMAN-UP") == 1  # newest by occurred_at wins, whatever the order
    assert await count(harness, alerts) == 1


async def test_status_out_of_stock_without_a_level_opens_an_out_alert(stockbot: HarnessFactory) -> None:
    harness = await stockbot()
    await harness.send(event("CAB-MK-LEGACY", None, status="out_of_stock"))  # not key, no critical level
    assert harness.runtime is not None
    async with harness.runtime.engine.connect() as conn:
        row = (await conn.execute(select(alerts))).mappings().one()
    assert (row["severity"], row["trigger"], row["on_hand"]) == ("out", "source_out_of_stock", 0)


async def test_fulfillment_failed_attaches_the_order_and_blocked_quantity(stockbot: HarnessFactory) -> None:
    harness = await stockbot()
    failure = {
        "event_id": "ff-1",
        "source": "erp",
        "order_id": "SO-1042",
        "sku": "CAB-SF2-CE",
        "location": "Chicago DC",
        "requested": 3,
        "available": 1,
        "rep": "dana",
        "occurred_at": "2026-11-26T09:00:00Z",
    }
    status, body = await harness.post("/events/fulfillment-failed", failure)
    assert status == 202, body
    check_against_openapi("/events/fulfillment-failed", 202, body)
    second = {**failure, "event_id": "ff-2", "order_id": "SO-1043", "requested": 1, "available": 1}
    await harness.post("/events/fulfillment-failed", second)
    assert harness.runtime is not None
    async with harness.runtime.engine.connect() as conn:
        row = (await conn.execute(select(alerts))).mappings().one()
    assert row["severity"] == "critical" and row["trigger"] == "fulfillment_failed"
    assert [o["order_id"] for o in row["blocked_orders"]] == ["SO-1042", "SO-1043"]
    assert row["blocked_orders"][0]["requested"] - row["blocked_orders"][0]["available"] == 2
    status, body = await harness.post(
        "/events/fulfillment-failed", {**failure, "event_id": "ff-3", "requested": 0}
    )
    assert status == 400 and body["errors"][0]["path"] == "/requested"


async def test_openapi_document_is_served(stockbot: HarnessFactory) -> None:
    harness = await stockbot()
    assert harness.http is not None
    async with harness.http.get(harness.url + "/openapi.json") as response:
        spec = await response.json()
    assert spec["openapi"] == "3.1.0"
    assert {"/events/inventory", "/events/fulfillment-failed", "/healthz", "/metrics"} <= set(spec["paths"])
    jsonschema.Draft202012Validator.check_schema(spec["components"]["schemas"]["InventoryEvent"])
