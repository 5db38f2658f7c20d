"""The report and alert API under ``/api/v1``, documented with response schemas in ``handlers/openapi.py``.

Interface: :func:`add_routes` (``handlers/app.py`` calls it). ``handlers/access.api_auth`` has already
authenticated every request and set ``request["actor"]`` (``api:NAME`` with the token's roles). Reading needs
the ``report`` action (any role; ``stock`` for the stock lookup); acknowledge and resolve go through the
alert desk, which checks the same roles as in chat and audits the change with the token as actor.

Answers: 200 JSON; 400 ``application/problem+json`` whose ``errors`` name every bad parameter; 403 when the
token's roles do not allow the action; 404 for an unknown alert or SKU; 409 when the alert is already
acknowledged or resolved. Never a 5xx for bad input.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

from aiohttp import web

from stockbot.adapters.message import ProductStock
from stockbot.adapters.report_data import Cut, Period
from stockbot.bot.alerts import NotFound, retrying
from stockbot.bot.history import cover_for, timeline
from stockbot.bot.ingest import OPTIONAL_TEXT_PATTERN
from stockbot.bot.permissions import PermissionDenied
from stockbot.bot.reports import report
from stockbot.bot.stock import lookup, resolve_sku
from stockbot.bot.transitions import InvalidTransition
from stockbot.handlers.access import request_actor, require_role
from stockbot.handlers.inventory import RUNTIME
from stockbot.handlers.problems import problem
from stockbot.storage.alert_pages import AlertFilter, alert_page, alert_row
from stockbot.storage.db import READ_ONLY

PREFIX = "/api/v1"
STATES = ("open", "acknowledged", "escalated", "resolved")
SEVERITIES = ("low", "out", "critical")
DEFAULT_LIMIT, MAX_LIMIT = 50, 200
MAX_DAYS = 3660  # ten years: longer than any history worth a report
MAX_TEXT = 64  # SKU, location and category names are at most 64 characters in the catalog
MAX_ALERT_ID = 10**18 - 1  # 18 digits: every id a BIGINT column can hold that fits a JSON number exactly
# A cursor is the id that the next page continues below: any such number is a valid cursor.
CURSOR_PATTERN = "^[0-9]{1,18}$"
_CURSOR = re.compile(CURSOR_PATTERN)
_NAME = re.compile(OPTIONAL_TEXT_PATTERN)  # no control characters (PostgreSQL text holds no NUL either)


class BadRequest(Exception):
    def __init__(self, errors: list[dict[str, str]]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{e['path']}: {e['message']}" for e in errors))


def bad_request(exc: BadRequest) -> web.Response:
    count = len(exc.errors)
    return problem(400, "Bad Request", f"{count} invalid parameter(s): {exc}", errors=exc.errors)


# --- parameters ------------------------------------------------------------------------------------------


class Params:
    """Query parameters read one by one; every problem is collected, then raised together."""

    def __init__(self, query: Any) -> None:
        self.query = query
        self.errors: list[dict[str, str]] = []

    def fail(self, name: str, message: str) -> None:
        self.errors.append({"path": name, "message": message})

    def text(self, name: str) -> str | None:
        value = self.query.get(name)
        if value is None or value == "":
            return None
        if len(value) > MAX_TEXT:
            self.fail(name, f"at most {MAX_TEXT} characters")
            return None
        if not _NAME.fullmatch(value):
            self.fail(name, "holds a control character")
            return None
        return str(value)

    def _given(self, name: str) -> str | None:
        """The raw value; None when absent. Present but empty is not a value (the document says so)."""
        raw = self.query.get(name)
        if raw == "":
            self.fail(name, "is empty; leave it out instead")
            return None
        return raw if raw is None else str(raw)

    def choice(self, name: str, choices: tuple[str, ...]) -> str | None:
        value = self._given(name)
        if value is not None and value not in choices:
            self.fail(name, f"{value!r} is not one of {', '.join(choices)}")
            return None
        return value

    def integer(self, name: str, default: int, low: int, high: int) -> int:
        raw = self._given(name)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            self.fail(name, f"{raw!r} is not a whole number")
            return default
        if not low <= value <= high:
            self.fail(name, f"must be between {low} and {high}")
            return default
        return value

    def day(self, name: str) -> date | None:
        raw = self._given(name)
        if raw is None:
            return None
        try:
            return date.fromisoformat(raw)
        except ValueError:
            self.fail(name, f"{raw!r} is not a date; write it like 2026-11-01")
            return None

    def moment(self, name: str) -> datetime | None:
        raw = self._given(name)
        if raw is None:
            return None
        try:
            value = datetime.fromisoformat(raw.strip().replace("z", "Z").replace("Z", "+00:00"))
        except ValueError:
            self.fail(
                name, f"{raw!r} is not a date or time; write it like 2026-11-01 or 2026-11-01T08:00:00Z"
            )
            return None
        return value if value.tzinfo else value.replace(tzinfo=UTC)

    def cursor(self, name: str) -> int | None:
        raw = self._given(name)
        if raw is None:
            return None
        decoded = _decode_cursor(raw)
        if decoded is None:
            self.fail(name, "not a cursor this API gave out; start again without it")
        return decoded

    def done(self) -> None:
        if self.errors:
            raise BadRequest(self.errors)


def encode_cursor(before_id: int) -> str:
    return str(before_id)


def _decode_cursor(raw: str) -> int | None:
    return int(raw) if _CURSOR.fullmatch(raw) else None


def _alert_id(request: web.Request) -> int:
    raw = request.match_info["id"]
    if not _CURSOR.fullmatch(raw):
        raise BadRequest([{"path": "id", "message": f"{raw!r} is not an alert id (a whole number)"}])
    return int(raw)


# --- JSON --------------------------------------------------------------------------------------------------


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def alert_json(row: dict[str, Any], public_url: str | None) -> dict[str, Any]:
    orders = list(row["blocked_orders"] or [])
    return {
        "id": row["id"],
        "sku": row["sku"],
        "product_name": row["name"],
        "category": row["category"],
        "location": row["location"],
        "state": row["state"],
        "severity": row["severity"],
        "trigger": row["trigger"],
        "on_hand": row["on_hand"],
        "minimum": row["minimum"],
        "critical_level": row["critical_level"],
        "reason": row["reason"],
        "opened_at": _time(row["opened_at"]),
        "updated_at": _time(row["updated_at"]),
        "acknowledged_by": row["acknowledged_by"],
        "acknowledged_at": _time(row["acknowledged_at"]),
        "escalated_by": row["escalated_by"],
        "escalated_at": _time(row["escalated_at"]),
        "escalation_step": row["escalation_step"],
        "escalation_note": row["escalation_note"],
        "snoozed_until": _time(row["snoozed_until"]),
        "resolved_at": _time(row["resolved_at"]),
        "resolved_by": row["resolved_by"],
        "resolved_note": row["resolved_note"],  # why a person resolved it by hand; None when stock came back
        "flagged_by": row["flagged_by"],  # who flagged it out of stock by hand, while that flag stands
        "blocked_orders": [
            {
                "order_id": o["order_id"],
                "requested": o["requested"],
                "available": o["available"],
                "rep": o.get("rep"),
            }
            for o in orders
        ],
        "blocked_quantity": sum(max(o["requested"] - o["available"], 0) for o in orders),
        "link": f"{public_url.rstrip('/')}/alerts/{row['id']}" if public_url else None,
    }


# --- alerts ---------------------------------------------------------------------------------------------


async def list_alerts(request: web.Request) -> web.Response:
    await require_role(request, "report")
    runtime = request.app[RUNTIME]
    params = Params(request.query)
    chosen = AlertFilter(
        state=params.choice("state", STATES),
        severity=params.choice("severity", SEVERITIES),
        location=params.text("location"),
        sku=params.text("sku"),
        since=params.moment("since"),
    )
    limit = params.integer("limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
    before = params.cursor("cursor")
    try:
        params.done()
    except BadRequest as exc:
        return bad_request(exc)
    async with runtime.engine.connect() as conn:
        conn = await conn.execution_options(**READ_ONLY)
        rows, next_before = await alert_page(conn, chosen, before, limit)
    public_url = runtime.config.server.public_url
    return web.json_response(
        {
            "items": [alert_json(r, public_url) for r in rows],
            "next_cursor": encode_cursor(next_before) if next_before is not None else None,
        }
    )


async def get_alert(request: web.Request) -> web.Response:
    await require_role(request, "report")
    runtime = request.app[RUNTIME]
    try:
        alert_id = _alert_id(request)
    except BadRequest as exc:
        return bad_request(exc)
    async with runtime.engine.connect() as conn:
        conn = await conn.execution_options(**READ_ONLY)
        row = await alert_row(conn, alert_id)
    if row is None:
        return problem(404, "Not Found", f"there is no alert #{alert_id}")
    story = await timeline(runtime.engine, alert_id, runtime.clock.now())
    body = alert_json(row, runtime.config.server.public_url)
    body["timeline"] = story.to_json()["entries"] if story else []
    return web.json_response(body)


async def _act(request: web.Request, verb: str) -> web.Response:
    runtime = request.app[RUNTIME]
    actor = request_actor(request)
    try:
        alert_id = _alert_id(request)
        reason = await _reason(request) if verb == "resolve" else None
    except BadRequest as exc:
        return bad_request(exc)
    desk = runtime.desk
    try:
        if verb == "acknowledge":
            await retrying(lambda: desk.acknowledge(alert_id, actor))
        else:
            await retrying(lambda: desk.resolve(alert_id, actor, reason))
    except PermissionDenied as denied:  # the desk has audited it
        return problem(403, "Forbidden", str(denied))
    except NotFound as exc:
        return problem(404, "Not Found", str(exc))
    except InvalidTransition as exc:
        return problem(409, "Conflict", str(exc))
    async with runtime.engine.connect() as conn:
        conn = await conn.execution_options(**READ_ONLY)
        row = await alert_row(conn, alert_id)
    assert row is not None
    return web.json_response(alert_json(row, runtime.config.server.public_url))


async def _reason(request: web.Request) -> str | None:
    """A resolve may say why: ``{"reason": "..."}``; an empty body is fine."""
    raw = await request.read()
    if not raw.strip():
        return None
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise BadRequest([{"path": "/", "message": "the body is not valid JSON"}]) from None
    if not isinstance(body, dict) or set(body) - {"reason"}:
        raise BadRequest([{"path": "/", "message": 'send {"reason": "..."} or nothing'}])
    reason = body.get("reason")
    if reason is not None and (not isinstance(reason, str) or len(reason) > 500):
        raise BadRequest([{"path": "/reason", "message": "a string of at most 500 characters"}])
    return reason


async def acknowledge(request: web.Request) -> web.Response:
    return await _act(request, "acknowledge")


async def resolve(request: web.Request) -> web.Response:
    return await _act(request, "resolve")


# --- stock ---------------------------------------------------------------------------------------------


async def stock(request: web.Request) -> web.Response:
    """What a storefront asks before promising stock: each location's level, and how long it will last."""
    await require_role(request, "stock")
    runtime = request.app[RUNTIME]
    params = Params(request.query)
    location = params.text("location")
    sku = request.match_info["sku"]
    if len(sku) > MAX_TEXT:
        params.fail("sku", f"at most {MAX_TEXT} characters")
    elif not _NAME.fullmatch(sku):
        params.fail("sku", "holds a control character")
    try:
        params.done()
    except BadRequest as exc:
        return bad_request(exc)
    found = await resolve_sku(runtime.engine, sku)
    if found is None:
        return problem(404, "Not Found", f"no product with SKU {sku!r} in the catalog")
    canonical, known = found
    if location is not None and location not in known:
        return problem(
            404, "Not Found", f"{canonical} has no location {location!r}; known: {', '.join(known)}"
        )
    (product,) = await lookup(runtime.engine, canonical, limit=1)
    return web.json_response(await _stock_json(runtime, product, location))


async def _stock_json(runtime: Any, product: ProductStock, location: str | None) -> dict[str, Any]:
    reorder = runtime.config.reorder
    places = [p for p in product.locations if location is None or p.location == location]
    now = runtime.clock.now()
    rows = []
    async with runtime.engine.connect() as conn:
        conn = await conn.execution_options(**READ_ONLY)
        for place in places:
            lead = place.lead_time_days
            found = await cover_for(
                conn,
                product.sku,
                place.location,
                place.on_hand,
                place.minimum,
                lead if lead is not None else reorder.lead_time_days,
                reorder.review_period_days,
                reorder.sales_window_days,
                now,
            )
            rows.append(_location_json(place, found))
    return {
        "sku": product.sku,
        "name": product.name,
        "category": product.category,
        "key_product": product.key_product,
        "on_hand_total": sum(p.on_hand or 0 for p in places),
        "sales_window_days": reorder.sales_window_days,
        "locations": rows,
    }


def _location_json(place: Any, found: Any) -> dict[str, Any]:
    alert = place.alert
    return {
        "location": place.location,
        "on_hand": place.on_hand,
        "minimum": place.minimum,
        "critical_level": place.critical_level,
        "short": place.severity is not None,
        "severity": place.severity,
        "last_event_at": _time(place.last_event_at),
        "last_source": place.last_source,
        "rate_of_sale": found.rate_of_sale,
        "days_of_cover": found.days_of_cover,
        "suggested_reorder": found.suggested_reorder,
        "alert": None
        if alert is None
        else {
            "id": alert.id,
            "state": alert.state,
            "severity": alert.severity,
            "opened_at": _time(alert.opened_at),
            "acknowledged_by": alert.acknowledged_by,
            "blocked_quantity": alert.blocked_quantity,
        },
    }


# --- reports -------------------------------------------------------------------------------------------


def period_of(params: Params, now: datetime) -> Period:
    """``days`` (the last N days, today included; 7 by default), or ``since`` [+ ``until``, exclusive]."""
    since, until = params.day("since"), params.day("until")
    days = params.integer("days", 7, 1, MAX_DAYS)
    if since is None and until is None:
        return Period.last(days, now)
    if params.query.get("days") is not None:
        params.fail("days", "give days, or since (and until), not both")
    if since is None:
        params.fail("until", "needs since")
        return Period.last(days, now)
    end = until or now.astimezone(UTC).date() + timedelta(days=1)
    if end <= since:
        params.fail("until", "must be after since")
    elif (end - since).days > MAX_DAYS:
        params.fail("since", f"a period of at most {MAX_DAYS} days")
    return Period.between(since, end, now)


async def summary(request: web.Request) -> web.Response:
    await require_role(request, "report")
    runtime = request.app[RUNTIME]
    params = Params(request.query)
    period = period_of(params, runtime.clock.now())
    cut = Cut(location=params.text("location"), category=params.text("category"), sku=params.text("sku"))
    try:
        params.done()
    except BadRequest as exc:
        return bad_request(exc)
    found = await report(runtime.engine, runtime.config, period, cut)
    return web.json_response(found.to_json())


def add_routes(app: web.Application) -> None:
    app.router.add_get(f"{PREFIX}/alerts", list_alerts)
    app.router.add_get(f"{PREFIX}/alerts/{{id}}", get_alert)
    app.router.add_post(f"{PREFIX}/alerts/{{id}}/acknowledge", acknowledge)
    app.router.add_post(f"{PREFIX}/alerts/{{id}}/resolve", resolve)
    app.router.add_get(f"{PREFIX}/stock/{{sku}}", stock)
    app.router.add_get(f"{PREFIX}/reports/summary", summary)
