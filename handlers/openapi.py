"""The OpenAPI 3.1 document of stockbot's HTTP API, built from the same pydantic models that validate
requests, so the description cannot drift from the code."""

from __future__ import annotations

from functools import cache
from typing import Any

from pydantic import TypeAdapter

from stockbot.adapters.signing import HEADER
from stockbot.bot.ingest import MAX_QUANTITY, FulfillmentFailedEvent, InventoryEvent
from stockbot.handlers.inventory import MAX_BATCH

PROBLEM = {
    "type": "object",
    "required": ["title", "status", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["path", "message"],
                "properties": {"path": {"type": "string"}, "message": {"type": "string"}},
            },
        },
    },
}
ACCEPTED = {
    "type": "object",
    "required": ["accepted", "duplicates", "results"],
    "properties": {
        "accepted": {"type": "integer", "minimum": 0},
        "duplicates": {"type": "integer", "minimum": 0},
        "results": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["event_id", "outcome"],
                "properties": {
                    "event_id": {"type": "string"},
                    "outcome": {"enum": ["applied", "duplicate", "stale", "unknown_sku", "unknown_location"]},
                },
            },
        },
    },
}
HEALTH = {
    "type": "object",
    "required": ["status", "database", "dispatcher"],
    "properties": {
        "status": {"enum": ["ok", "degraded"]},
        "database": {"type": "boolean"},
        "dispatcher": {"type": "boolean"},
        "writer": {"type": "boolean"},
    },
}
LIVE = {"type": "object", "required": ["status"], "properties": {"status": {"const": "ok"}}}
RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before retrying.",
        "schema": {"type": "string", "pattern": "^[0-9]+$"},
    }
}
LIMITS = f"""Every request is signed by its source (`{HEADER}`). Limits, enforced the same way on SQLite and
PostgreSQL and stated in the schemas below: text fields hold no control characters (U+0000-U+001F,
U+007F-U+009F) or unpaired surrogates, spaces around them are dropped and they may not be blank;
quantities are whole numbers from 0 (1 for `requested`) to {MAX_QUANTITY} (`3.0` is the integer 3);
`occurred_at` is an RFC 3339 date-time with an offset, years 1970-2999, and not more than `[alerts]
max_clock_skew` (5 minutes by default) ahead of the server clock: an event further ahead is refused with
400 naming `/occurred_at` and the server's time. A batch holds 1 to {MAX_BATCH} events, all from one
source. While the database is unavailable every operation that needs it answers 503 with Retry-After and
stores nothing."""


def _schema(model: type) -> dict[str, Any]:
    schema = TypeAdapter(model).json_schema(ref_template="#/components/schemas/{model}")
    schema.pop("$defs", None)
    return schema


def _problem(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }


def _unavailable() -> dict[str, Any]:
    return {
        **_problem("The database is unavailable; nothing was stored. Retry later."),
        "headers": RETRY_AFTER,
    }


def _event_operation(name: str, summary: str) -> dict[str, Any]:
    one = {"$ref": f"#/components/schemas/{name}"}
    return {
        "summary": summary,
        "description": LIMITS,
        "security": [{"stockbotSignature": []}],
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "oneOf": [
                            # One event: any object with "events" is read as a batch.
                            {"allOf": [one, {"not": {"required": ["events"]}}]},
                            {
                                "type": "object",
                                "required": ["events"],
                                "properties": {
                                    "events": {
                                        "type": "array",
                                        "minItems": 1,
                                        "maxItems": MAX_BATCH,
                                        "items": one,
                                    }
                                },
                            },
                        ]
                    }
                }
            },
        },
        "responses": {
            "202": {
                "description": "Stored durably (duplicates are answered as accepted and applied once).",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Accepted"}}},
            },
            "400": _problem("Invalid body; `errors` lists every bad field by its JSON path."),
            "401": _problem("Missing, malformed, stale or wrong signature, or an unknown source."),
            "413": _problem("The body is larger than [server] body_limit_bytes."),
            "503": _unavailable(),
        },
    }


def _health(summary: str, schema: str, unhealthy: str | None) -> dict[str, Any]:
    def answer(description: str) -> dict[str, Any]:
        return {
            "description": description,
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}},
        }

    responses = {"200": answer("Healthy")}
    if unhealthy:
        responses["503"] = {**answer(unhealthy), "headers": RETRY_AFTER}
    return {"get": {"summary": summary, "responses": responses}}


@cache
def document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "stockbot",
            "version": "0.1.0",
            "description": "Inventory signals in; out-of-stock alerts out.",
        },
        "paths": {
            "/events/inventory": {"post": _event_operation("InventoryEvent", "Report stock levels")},
            "/events/fulfillment-failed": {
                "post": _event_operation(
                    "FulfillmentFailedEvent",
                    "Report a sales order that could not be fulfilled for lack of stock",
                )
            },
            "/livez": _health(
                "Liveness: the process answers (200 even while the database is away)", "Live", None
            ),
            "/readyz": _health(
                "Readiness: the database answers and the writer and dispatcher run",
                "Health",
                "Database unreachable, or the writer or dispatcher stopped",
            ),
            "/healthz": _health(
                "Readiness (the older name of /readyz)",
                "Health",
                "Database unreachable, or the writer or dispatcher stopped",
            ),
            "/metrics": {
                "get": {
                    "summary": "Prometheus metrics",
                    "responses": {
                        "200": {"description": "Prometheus text format", "content": {"text/plain": {}}},
                        "503": _unavailable(),
                    },
                }
            },
        },
        "components": {
            "schemas": {
                "InventoryEvent": _schema(InventoryEvent),
                "FulfillmentFailedEvent": _schema(FulfillmentFailedEvent),
                "Accepted": ACCEPTED,
                "Problem": PROBLEM,
                "Health": HEALTH,
                "Live": LIVE,
            },
            "securitySchemes": {
                "stockbotSignature": {
                    "type": "apiKey",
                    "in": "header",
                    "name": HEADER,
                    "description": 't=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>" with the '
                    "source's secret>; 5-minute tolerance.",
                }
            },
        },
    }
