"""``POST /events/inventory`` and ``POST /events/fulfillment-failed``: signed, validated, durably stored.

Order of checks: size (413), JSON (400), source and signature (401, audited, no other effect), fields (400
listing every bad field by its JSON path). 202 is answered only after the events are committed.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from aiohttp import web
from pydantic import ValidationError

from stockbot.adapters.signing import HEADER, SignatureError, verify
from stockbot.bot.ingest import FulfillmentFailedEvent, Incoming, InventoryEvent
from stockbot.bot.metrics import EVENTS
from stockbot.bot.refusals import refuse_request
from stockbot.bot.runtime import Runtime
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
    sources = {item.get("source") for item in items if isinstance(item, dict)}
    if len(sources) == 1:
        source = sources.pop()
        return source if isinstance(source, str) else None
    return None


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
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        EVENTS.labels("rejected_too_large").inc()
        limit = runtime.config.server.body_limit_bytes
        return problem(413, "Payload Too Large", f"the body exceeds {limit} bytes; split the batch")
    try:
        items, prefix = _split(json.loads(raw))
    except (ValueError, UnicodeDecodeError) as exc:
        EVENTS.labels("rejected_validation").inc()
        detail = (
            str(exc) if not isinstance(exc, json.JSONDecodeError) else f"the body is not valid JSON: {exc}"
        )
        return problem(400, "Bad Request", detail, errors=[{"path": "/", "message": detail}])
    source = _claimed_source(items)
    config = runtime.config.sources.get(source or "")
    if config is None or source is None:
        reason = "unknown source" if source else "every event needs the same `source`"
        return await _refuse(runtime, request, source, f"{reason} {source!r}" if source else reason)
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
    for index, item in enumerate(items):
        try:
            events.append(model.model_validate(item))
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
    return web.json_response(
        {"accepted": accepted, "duplicates": len(outcomes) - accepted, "results": results}, status=202
    )


async def inventory(request: web.Request) -> web.Response:
    return await _receive(request, InventoryEvent)


async def fulfillment_failed(request: web.Request) -> web.Response:
    return await _receive(request, FulfillmentFailedEvent)


def add_routes(app: web.Application) -> None:
    app.router.add_post("/events/inventory", inventory)
    app.router.add_post("/events/fulfillment-failed", fulfillment_failed)
