"""``POST /events/inventory`` and ``POST /events/fulfillment-failed``: signed, validated, durably stored.

Order of checks: size (413), readable JSON (400, ``handlers/bodies.py``), source and signature (401,
audited, no other effect), fields (400 listing every bad field by its JSON path, with the limits
``bot/ingest.py`` states and ``/openapi.json`` prints). 202 is answered only after the events are committed;
a database that is away is answered 503 with Retry-After by the app (``handlers/app.py``).
"""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web
from pydantic import ValidationError
from pydantic_core import to_json

from stockbot.adapters.signing import HEADER, SignatureError, verify
from stockbot.bot.ingest import FulfillmentFailedEvent, Incoming, InventoryEvent
from stockbot.bot.metrics import EVENTS
from stockbot.bot.refusals import refuse_request
from stockbot.bot.runtime import Runtime
from stockbot.handlers.bodies import BodyError, json_body, read_body
from stockbot.handlers.problems import problem
from stockbot.storage.audit import audit_row, record

log = logging.getLogger("stockbot.events")
RUNTIME: web.AppKey[Runtime] = web.AppKey("runtime", Runtime)
MAX_BATCH = 5000


def _split(body: Any) -> tuple[list[Any], str]:
    """The events in a body and the JSON path prefix of each: one event, or ``{"events": [...]}``."""
    if isinstance(body, dict) and "events" in body:
        if not isinstance(body["events"], list) or not body["events"]:
            raise ValueError("/events must be a non-empty array of events")
        if len(body["events"]) > MAX_BATCH:
            raise ValueError(
                f"/events holds {len(body['events'])} events; send at most {MAX_BATCH} per request"
            )
        return body["events"], "/events/{}"
    if isinstance(body, dict):
        return [body], ""
    raise ValueError('the body must be a JSON object: one event, or {"events": [...]}')


def _claimed_source(items: list[Any]) -> str | None:
    """The one ``source`` every event names, or None (none, several, or not a string)."""
    claimed = [item.get("source") for item in items if isinstance(item, dict)]
    first = claimed[0] if claimed else None
    if isinstance(first, str) and all(source == first for source in claimed):
        return first
    return None


def _quoted(source: str) -> str:
    """A claimed source as a refusal quotes it: anything may arrive before authentication, so clipped."""
    return repr(source) if len(source) <= 64 else f"{source[:64]!r}… ({len(source)} characters)"


def _field_errors(exc: ValidationError, prefix: str) -> list[dict[str, str]]:
    errors = []
    for error in exc.errors():
        path = prefix + "".join(f"/{part}" for part in error["loc"])
        message = str(error["msg"]).removeprefix("Value error, ")
        if error["type"] == "missing":
            message = "required"
        errors.append({"path": path or "/", "message": message})
    return errors


async def _refuse(runtime: Runtime, request: web.Request, source: str | None, reason: str) -> web.Response:
    EVENTS.labels("rejected_signature").inc()
    await refuse_request(
        runtime.engine,
        runtime.clock,
        front_end="events",
        why="signature",
        actor=f"source:{source or '?'}",
        path=request.path,
        remote=request.remote,
        reason=reason,
    )
    return problem(401, "Unauthorized", reason + f"; sign the raw body with the source's secret in {HEADER}")


async def _receive(
    request: web.Request, model: type[InventoryEvent] | type[FulfillmentFailedEvent]
) -> web.Response:
    runtime = request.app[RUNTIME]
    try:
        raw = await read_body(request, runtime.config.server.body_limit_bytes)
    except BodyError as exc:
        EVENTS.labels("rejected_too_large" if exc.status == 413 else "rejected_validation").inc()
        return exc.answer()
    try:
        items, prefix = _split(json_body(raw))
    except BodyError as exc:
        EVENTS.labels("rejected_validation").inc()
        return exc.answer()
    except ValueError as exc:
        EVENTS.labels("rejected_validation").inc()
        return problem(400, "Bad Request", str(exc), errors=[{"path": "/", "message": str(exc)}])
    source = _claimed_source(items)
    config = runtime.config.sources.get(source or "")
    if config is None or source is None:
        if source is None:
            reason = "every event needs `source` (a string), the same in every event of a batch"
            return await _refuse(runtime, request, None, reason)
        return await _refuse(runtime, request, source, f"unknown source {_quoted(source)}")
    try:
        verify(
            config.secret.get_secret_value(),
            raw,
            request.headers.get(HEADER),
            runtime.clock.now().timestamp(),
        )
    except SignatureError as exc:
        return await _refuse(runtime, request, source, str(exc))
    return await _validated(runtime, items, prefix, model, source)


async def _validated(
    runtime: Runtime,
    items: list[Any],
    prefix: str,
    model: type[InventoryEvent] | type[FulfillmentFailedEvent],
    source: str,
) -> web.Response:
    events: list[Incoming] = []
    errors: list[dict[str, str]] = []
    # occurred_at may not be further ahead of this clock than [alerts] max_clock_skew (bot/ingest.py).
    context = {"now": runtime.clock.now(), "max_skew": runtime.config.alerts.max_clock_skew}
    for index, item in enumerate(items):
        try:
            events.append(model.model_validate(item, context=context))
        except ValidationError as exc:
            errors += _field_errors(exc, prefix.format(index))
    if errors:
        EVENTS.labels("rejected_validation").inc(len(items))
        row = audit_row(runtime.clock.now(), "request.invalid", f"source:{source}", errors=errors[:50])
        await record(runtime.engine, row)
        return problem(
            400, "Bad Request", f"{len(errors)} invalid field(s); nothing was stored", errors=errors
        )
    outcomes = await runtime.writer.submit(events)
    results = [{"event_id": e.event_id, "outcome": o} for e, o in zip(events, outcomes, strict=True)]
    accepted = sum(1 for o in outcomes if o != "duplicate")
    answer = {"accepted": accepted, "duplicates": len(outcomes) - accepted, "results": results}
    # pydantic-core's encoder, to bytes at once: json.dumps and its str to encode were ~4% of a busy
    # server's time. Every value here is validated text or our own, so it always encodes.
    return web.Response(body=to_json(answer), status=202, content_type="application/json", charset="utf-8")


async def inventory(request: web.Request) -> web.Response:
    return await _receive(request, InventoryEvent)


async def fulfillment_failed(request: web.Request) -> web.Response:
    return await _receive(request, FulfillmentFailedEvent)


def add_routes(app: web.Application) -> None:
    app.router.add_post("/events/inventory", inventory)
    app.router.add_post("/events/fulfillment-failed", fulfillment_failed)
