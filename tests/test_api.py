"""The report and alert API (/api/v1) on the real app with real API tokens, on SQLite and PostgreSQL: every
answer is validated against /openapi.json; bad input is a 400 naming the parameter, never a 5xx."""

from __future__ import annotations

from typing import Any

import jsonschema
from sqlalchemy import select

from stockbot.adapters.report_data import Cut, Period
from stockbot.bot.access import api_token_hash
from stockbot.bot.reports import report
from stockbot.handlers.openapi import document
from stockbot.storage.tables import audit_events
from tests.conftest import HarnessFactory
from tests.helpers import StockbotHarness
from tests.report_scenario import NOW, ROLES, alert_id, play

MANAGER_TOKEN = "sbt_manager_token_0123456789abcdef"
REP_TOKEN = "sbt_rep_token_0123456789abcdef"
TOKENS = {
    "tokens": [
        {"name": "bi", "hash": api_token_hash(MANAGER_TOKEN), "roles": ["manager"]},
        {"name": "storefront", "hash": api_token_hash(REP_TOKEN), "roles": ["rep"]},
    ]
}


def check(path: str, method: str, status: int, body: Any) -> None:
    """Validate an answer against the schema /openapi.json documents for it."""
    spec = document()
    answer = spec["paths"][path][method]["responses"][str(status)]
    media = "application/json" if status < 400 else "application/problem+json"
    schema = {**answer["content"][media]["schema"], "components": spec["components"]}
    jsonschema.validate(body, schema)


async def call(
    harness: StockbotHarness, method: str, path: str, token: str | None = MANAGER_TOKEN, **kwargs: Any
) -> tuple[int, Any]:
    assert harness.http is not None
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with harness.http.request(method, harness.url + path, headers=headers, **kwargs) as response:
        assert response.status < 500, await response.text()
        return response.status, await response.json(content_type=None)


async def played(stockbot: HarnessFactory) -> StockbotHarness:
    harness = await stockbot(roles=ROLES, api=TOKENS)
    await play(harness)
    return harness


async def test_alerts_page_newest_first_with_filters_and_a_cursor(stockbot: HarnessFactory) -> None:
    harness = await played(stockbot)
    status, body = await call(harness, "GET", "/api/v1/alerts")
    check("/api/v1/alerts", "get", status, body)
    assert [a["id"] for a in body["items"]] == [5, 4, 3, 2, 1] and body["next_cursor"] is None
    b2 = body["items"][1]
    assert (b2["sku"], b2["product_name"], b2["state"], b2["resolved_by"]) == (
        "TOK-B",
        "Token bag B",
        "resolved",
        "Morgan",
    )
    seen, cursor = [], None
    while True:
        path = "/api/v1/alerts?limit=2" + (f"&cursor={cursor}" if cursor else "")
        status, page = await call(harness, "GET", path)
        check("/api/v1/alerts", "get", status, page)
        seen += [a["id"] for a in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [5, 4, 3, 2, 1]
    for query, expected in [
        ("state=resolved", [4, 3, 2, 1]),
        ("state=escalated&severity=out", [5]),
        ("location=Tulsa", [4, 2]),
        ("sku=TOK-A&location=Reno", [5, 3, 1]),
        ("since=2026-11-24", [5, 4]),  # opened (or reopened) since
        ("since=2026-11-24T09:15:00Z", [5, 4]),
        ("severity=critical", [2]),
    ]:
        status, page = await call(harness, "GET", f"/api/v1/alerts?{query}")
        assert [a["id"] for a in page["items"]] == expected, query


async def test_bad_parameters_are_named_in_a_400(stockbot: HarnessFactory) -> None:
    harness = await played(stockbot)
    status, body = await call(
        harness, "GET", "/api/v1/alerts?state=gone&limit=0&cursor=nonsense&since=yesterday&severity=meh"
    )
    check("/api/v1/alerts", "get", status, body)
    assert status == 400
    assert sorted(e["path"] for e in body["errors"]) == ["cursor", "limit", "severity", "since", "state"]
    assert "'gone' is not one of open, acknowledged, escalated, resolved" in body["detail"]
    status, body = await call(harness, "GET", "/api/v1/alerts/abc")
    assert (status, body["errors"][0]["path"]) == (400, "id")
    status, body = await call(harness, "GET", "/api/v1/reports/summary?days=0&until=2026-11-01")
    check("/api/v1/reports/summary", "get", status, body)
    assert {e["path"] for e in body["errors"]} == {"days", "until"}
    status, body = await call(harness, "GET", "/api/v1/reports/summary?since=2026-11-20&until=2026-11-10")
    assert (status, [e["path"] for e in body["errors"]]) == (400, ["until"])
    status, body = await call(harness, "GET", "/api/v1/reports/summary?location=" + "x" * 65)
    assert (status, [e["path"] for e in body["errors"]]) == (400, ["location"])
    status, body = await call(harness, "POST", "/api/v1/alerts/5/resolve", data=b"{not json")
    assert (status, body["errors"][0]["path"]) == (400, "/")
    status, body = await call(harness, "POST", "/api/v1/alerts/5/resolve", json={"reason": 5})
    assert (status, body["errors"][0]["path"]) == (400, "/reason")


async def test_one_alert_with_its_timeline(stockbot: HarnessFactory) -> None:
    harness = await played(stockbot)
    b2 = await alert_id(harness, "TOK-B")
    status, body = await call(harness, "GET", f"/api/v1/alerts/{b2}")
    check("/api/v1/alerts/{id}", "get", status, body)
    kinds = [e["kind"] for e in body["timeline"]]
    assert kinds[:3] == ["event", "alert.opened", "delivery.sent"]
    assert kinds.count("alert.reopened") == 1 and kinds[-2:] == ["alert.resolved", "delivery.sent"]
    assert body["timeline"][-2]["actor"] == "slack:U_MGR"
    status, body = await call(harness, "GET", "/api/v1/alerts/999")
    check("/api/v1/alerts/{id}", "get", status, body)
    assert status == 404


async def test_acknowledge_and_resolve_through_the_desk_audited_with_the_token(
    stockbot: HarnessFactory,
) -> None:
    harness = await played(stockbot)
    a3 = await alert_id(harness, "TOK-A")  # escalated, not acknowledged
    status, body = await call(harness, "POST", f"/api/v1/alerts/{a3}/acknowledge")
    check("/api/v1/alerts/{id}/acknowledge", "post", status, body)
    assert (status, body["acknowledged_by"], body["state"]) == (200, "bi", "escalated")
    status, body = await call(harness, "POST", f"/api/v1/alerts/{a3}/acknowledge")
    check("/api/v1/alerts/{id}/acknowledge", "post", status, body)
    assert status == 409 and "already acknowledged by bi" in body["detail"]
    # a rep may acknowledge but not resolve: refused, and the desk audits the refusal
    status, body = await call(harness, "POST", f"/api/v1/alerts/{a3}/resolve", token=REP_TOKEN)
    check("/api/v1/alerts/{id}/resolve", "post", status, body)
    assert status == 403 and "only manager roles may resolve" in body["detail"]
    status, body = await call(harness, "POST", f"/api/v1/alerts/{a3}/resolve", json={"reason": "counted: 4"})
    check("/api/v1/alerts/{id}/resolve", "post", status, body)
    assert (status, body["state"], body["resolved_by"], body["resolved_note"]) == (
        200,
        "resolved",
        "bi",
        "counted: 4",
    )
    status, body = await call(harness, "POST", f"/api/v1/alerts/{a3}/resolve")
    assert status == 409
    status, body = await call(harness, "POST", "/api/v1/alerts/999/acknowledge")
    assert status == 404
    assert harness.runtime is not None
    async with harness.runtime.engine.connect() as conn:
        rows = (
            await conn.execute(
                select(audit_events.c.kind, audit_events.c.actor)
                .where(audit_events.c.alert_id == a3, audit_events.c.actor.like("api:%"))
                .order_by(audit_events.c.id)
            )
        ).all()
    # the desk audits every action it refuses (bot/refusals.py): the 409s as well as the 403
    assert [(r.kind, r.actor) for r in rows] == [
        ("alert.acknowledged", "api:bi"),
        ("action.refused", "api:bi"),
        ("action.refused", "api:storefront"),
        ("alert.resolved", "api:bi"),
        ("action.refused", "api:bi"),
    ]


async def test_stock_for_a_storefront(stockbot: HarnessFactory) -> None:
    harness = await played(stockbot)
    status, body = await call(harness, "GET", "/api/v1/stock/tok-a", token=REP_TOKEN)
    check("/api/v1/stock/{sku}", "get", status, body)
    (reno,) = body["locations"]
    assert (body["sku"], body["on_hand_total"], reno["on_hand"], reno["short"], reno["severity"]) == (
        "TOK-A",
        0,
        0,
        True,
        "out",
    )
    # the last 7 days at NOW: 54 sold in 6 days, lead time 5 + review 7, minimum 10
    assert (reno["rate_of_sale"], reno["days_of_cover"], reno["suggested_reorder"]) == (9.0, 0.0, 118)
    assert (reno["alert"]["state"], reno["alert"]["severity"]) == ("escalated", "out")
    status, body = await call(harness, "GET", "/api/v1/stock/TOK-C?location=Reno")
    check("/api/v1/stock/{sku}", "get", status, body)
    assert (body["locations"][0]["days_of_cover"], body["locations"][0]["alert"]) == (14.0, None)
    status, body = await call(harness, "GET", "/api/v1/stock/NOPE")
    check("/api/v1/stock/{sku}", "get", status, body)
    assert status == 404
    status, body = await call(harness, "GET", "/api/v1/stock/TOK-C?location=Tulsa")
    assert status == 404 and "known: Reno" in body["detail"]


async def test_the_report_summary_is_the_report(stockbot: HarnessFactory) -> None:
    harness = await played(stockbot)
    status, body = await call(harness, "GET", "/api/v1/reports/summary?category=tokens", token=REP_TOKEN)
    check("/api/v1/reports/summary", "get", status, body)
    assert harness.runtime is not None
    direct = await report(
        harness.runtime.engine, harness.runtime.config, Period.last(7, NOW), Cut(category="tokens")
    )
    assert body == direct.to_json()
    assert body["current"]["stockouts"]["opened"] == 5 and body["previous"]["stockouts"]["opened"] == 1
    status, body = await call(harness, "GET", "/api/v1/reports/summary?since=2026-11-13&until=2026-11-20")
    check("/api/v1/reports/summary", "get", status, body)
    assert (body["current"]["period"]["days"], body["current"]["stockouts"]["opened"]) == (7, 1)
    status, body = await call(harness, "GET", "/api/v1/reports/summary?days=30&location=Tulsa")
    check("/api/v1/reports/summary", "get", status, body)
    assert body["current"]["stockouts"]["opened"] == 3


async def test_no_token_no_answer(stockbot: HarnessFactory) -> None:
    harness = await stockbot(api=TOKENS)
    for method, path in [("GET", "/api/v1/alerts"), ("POST", "/api/v1/alerts/1/acknowledge")]:
        status, body = await call(harness, method, path, token=None)
        assert status == 401 and "Authorization: Bearer" in body["detail"]
    assert set(document()["paths"]) >= {
        "/api/v1/alerts",
        "/api/v1/alerts/{id}",
        "/api/v1/alerts/{id}/acknowledge",
        "/api/v1/alerts/{id}/resolve",
        "/api/v1/stock/{sku}",
        "/api/v1/reports/summary",
    }
