"""The OpenAPI 3.1 document of stockbot's HTTP API, built from the same pydantic models that validate
requests, so the description cannot drift from the code."""

from __future__ import annotations

from functools import cache
from typing import Any

from pydantic import TypeAdapter

from stockbot.adapters.signing import HEADER
from stockbot.bot.ingest import FulfillmentFailedEvent, InventoryEvent

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


def _schema(model: type) -> dict[str, Any]:
    schema = TypeAdapter(model).json_schema(ref_template="#/components/schemas/{model}")
    schema.pop("$defs", None)
    return schema


def _problem(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }


def _event_operation(name: str, summary: str) -> dict[str, Any]:
    one = {"$ref": f"#/components/schemas/{name}"}
    return {
        "summary": summary,
        "security": [{"stockbotSignature": []}],
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "oneOf": [
                            one,
                            {
                                "type": "object",
                                "required": ["events"],
                                "properties": {"events": {"type": "array", "minItems": 1, "items": one}},
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
        },
    }


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
            "/healthz": {
                "get": {
                    "summary": "Liveness and readiness",
                    "responses": {
                        "200": {
                            "description": "Healthy",
                            "content": {
                                "application/json": {"schema": {"$ref": "#/components/schemas/Health"}}
                            },
                        },
                        "503": {
                            "description": "Database unreachable or dispatcher stopped",
                            "content": {
                                "application/json": {"schema": {"$ref": "#/components/schemas/Health"}}
                            },
                        },
                    },
                }
            },
            "/metrics": {
                "get": {
                    "summary": "Prometheus metrics",
                    "responses": {
                        "200": {"description": "Prometheus text format", "content": {"text/plain": {}}}
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
