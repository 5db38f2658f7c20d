"""The OpenAPI 3.1 document of stockbot's HTTP API, built from the same pydantic models that validate
requests, so the description cannot drift from the code. The report API's answers (``handlers/api.py``)
are described from the dataclasses that produce them (``adapters/report_data.py``) by
:func:`dataclass_schema`; tests validate real answers against this document."""

from __future__ import annotations

import dataclasses
import types
import typing
from datetime import date, datetime
from functools import cache
from typing import Any

from pydantic import TypeAdapter

from stockbot.adapters import report_data
from stockbot.adapters.signing import HEADER
from stockbot.bot.ingest import MAX_QUANTITY, OPTIONAL_TEXT_PATTERN, FulfillmentFailedEvent, InventoryEvent
from stockbot.handlers.api import CURSOR_PATTERN, MAX_ALERT_ID, MAX_DAYS, MAX_TEXT
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


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [schema, {"type": "null"}]}


def _string(fmt: str | None = None) -> dict[str, Any]:
    return {"type": "string", **({"format": fmt} if fmt else {})}


# The report API's answers, written out where no dataclass describes them.
TIME = _nullable(_string("date-time"))
TEXT = _nullable(_string())
INT = _nullable({"type": "integer"})
ALERT = {
    "type": "object",
    "required": ["id", "sku", "location", "state", "severity", "trigger", "opened_at", "blocked_orders"],
    "properties": {
        "id": {"type": "integer"},
        "sku": _string(),
        "product_name": _string(),
        "category": _string(),
        "location": _string(),
        "state": {"enum": ["open", "acknowledged", "escalated", "resolved"]},
        "severity": {"enum": ["low", "out", "critical"]},
        "trigger": _string(),
        "on_hand": INT,
        "minimum": {"type": "integer"},
        "critical_level": INT,
        "reason": TEXT,
        "opened_at": _string("date-time"),
        "updated_at": _string("date-time"),
        "acknowledged_by": TEXT,
        "acknowledged_at": TIME,
        "escalated_by": TEXT,
        "escalated_at": TIME,
        "escalation_step": {"type": "integer"},
        "escalation_note": TEXT,
        "snoozed_until": TIME,
        "resolved_at": TIME,
        "resolved_by": TEXT,
        "resolved_note": {
            **TEXT,
            "description": "Why a person resolved it by hand; null when stock came back.",
        },
        "flagged_by": {**TEXT, "description": "Who flagged it out of stock by hand, while that flag stands."},
        "blocked_orders": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["order_id", "requested", "available"],
                "properties": {
                    "order_id": _string(),
                    "requested": {"type": "integer"},
                    "available": {"type": "integer"},
                    "rep": TEXT,
                },
            },
        },
        "blocked_quantity": {"type": "integer"},
        "link": TEXT,
    },
}
ALERT_PAGE = {
    "type": "object",
    "required": ["items", "next_cursor"],
    "properties": {
        "items": {"type": "array", "items": {"$ref": "#/components/schemas/Alert"}},
        "next_cursor": {
            **TEXT,
            "description": "Pass as `cursor` for the next page; null on the last page.",
        },
    },
}
ALERT_DETAIL = {
    "allOf": [
        {"$ref": "#/components/schemas/Alert"},
        {
            "type": "object",
            "required": ["timeline"],
            "properties": {
                "timeline": {"type": "array", "items": {"$ref": "#/components/schemas/TimelineEntry"}}
            },
        },
    ]
}
NUMBER = _nullable({"type": "number"})
STOCK = {
    "type": "object",
    "required": ["sku", "name", "category", "key_product", "on_hand_total", "locations"],
    "properties": {
        "sku": _string(),
        "name": _string(),
        "category": _string(),
        "key_product": {"type": "boolean"},
        "on_hand_total": {"type": "integer"},
        "sales_window_days": {"type": "integer"},
        "locations": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["location", "on_hand", "minimum", "short", "alert"],
                "properties": {
                    "location": _string(),
                    "on_hand": INT,
                    "minimum": {"type": "integer"},
                    "critical_level": INT,
                    "short": {"type": "boolean", "description": "At or below the minimum, or out."},
                    "severity": _nullable({"enum": ["low", "out", "critical"]}),
                    "last_event_at": TIME,
                    "last_source": TEXT,
                    "rate_of_sale": {"type": "number"},
                    "days_of_cover": NUMBER,
                    "suggested_reorder": INT,
                    "alert": _nullable(
                        {
                            "type": "object",
                            "required": ["id", "state", "severity"],
                            "properties": {
                                "id": {"type": "integer"},
                                "state": _string(),
                                "severity": _string(),
                                "opened_at": TIME,
                                "acknowledged_by": TEXT,
                                "blocked_quantity": {"type": "integer"},
                            },
                        }
                    ),
                },
            },
        },
    },
}
PERIOD = {
    "type": "object",
    "required": ["start", "end", "days", "elapsed_days"],
    "properties": {
        "start": _string("date"),
        "end": {**_string("date"), "description": "Exclusive."},
        "days": {"type": "integer"},
        "elapsed_days": {"type": "number"},
    },
}


def dataclass_schema(cls: type, components: dict[str, Any]) -> dict[str, Any]:
    """A JSON Schema for what ``adapters.report_data``'s ``to_json`` makes of ``cls``; nested dataclasses
    are added to ``components`` and referenced."""
    hints = typing.get_type_hints(cls, vars(report_data))
    properties = {f.name: _type_schema(hints[f.name], components) for f in dataclasses.fields(cls)}
    return {"type": "object", "required": sorted(properties), "properties": properties}


def _type_schema(hint: Any, components: dict[str, Any]) -> dict[str, Any]:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (types.UnionType, typing.Union):
        others = [a for a in args if a is not type(None)]
        (only,) = others
        return _nullable(_type_schema(only, components))
    if origin is tuple or origin is list:
        return {"type": "array", "items": _type_schema(args[0], components)}
    if origin is dict:
        return {"type": "object", "additionalProperties": _type_schema(args[1], components)}
    if hint is report_data.Period:
        components.setdefault("Period", PERIOD)
        return {"$ref": "#/components/schemas/Period"}
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        name = hint.__name__
        if name not in components:
            components[name] = {}  # reserved first: a type may refer to itself
            components[name] = dataclass_schema(hint, components)
        return {"$ref": f"#/components/schemas/{name}"}
    simple: dict[Any, dict[str, Any]] = {
        int: {"type": "integer"},
        float: {"type": "number"},
        str: _string(),
        bool: {"type": "boolean"},
        datetime: _string("date-time"),
        date: _string("date"),
        Any: {},
    }
    return simple[hint]


def _report_components() -> dict[str, Any]:
    components: dict[str, Any] = {}
    for cls in (report_data.Report, report_data.TimelineEntry):
        components[cls.__name__] = dataclass_schema(cls, components)
    return components


def _json_answer(description: str, ref: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{ref}"}}},
    }


def _query(name: str, description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema or _string(),
    }


def _path(name: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "description": description, "schema": schema}


ALERT_ID = _path("id", "The alert's id.", {"type": "integer", "minimum": 1, "maximum": MAX_ALERT_ID})
# SKU, location and category filters: names as the catalog holds them (at most 64 characters)
NAME = {"type": "string", "maxLength": MAX_TEXT, "pattern": OPTIONAL_TEXT_PATTERN}


def _api_paths() -> dict[str, Any]:
    secured: dict[str, Any] = {"security": [{"apiToken": []}]}
    refused = {
        "400": _problem("A bad parameter; `errors` names each one."),
        "401": _problem("No API token, or a wrong or revoked one."),
        "403": _problem("The token's roles do not allow this."),
    }
    change = {
        "200": _json_answer("The alert after the change.", "Alert"),
        **refused,
        "404": _problem("No such alert."),
        "409": _problem("Already acknowledged, or already resolved."),
    }
    return {
        "/api/v1/alerts": {
            "get": {
                **secured,
                "summary": "Alerts, newest first, a page at a time",
                "parameters": [
                    _query(
                        "state", "One state.", {"enum": ["open", "acknowledged", "escalated", "resolved"]}
                    ),
                    _query("severity", "One severity.", {"enum": ["low", "out", "critical"]}),
                    _query("location", "One location.", NAME),
                    _query("sku", "One SKU.", NAME),
                    _query("since", "Opened at or after (RFC 3339 time or a date).", _string("date-time")),
                    _query(
                        "limit",
                        "Alerts per page.",
                        {"type": "integer", "minimum": 1, "maximum": 200, "default": 50},
                    ),
                    _query(
                        "cursor",
                        "The `next_cursor` of the previous page.",
                        {"type": "string", "pattern": CURSOR_PATTERN},
                    ),
                ],
                "responses": {"200": _json_answer("One page.", "AlertPage"), **refused},
            }
        },
        "/api/v1/alerts/{id}": {
            "get": {
                **secured,
                "summary": "One alert and its timeline: events, changes, deliveries, clicks, escalations",
                "parameters": [ALERT_ID],
                "responses": {
                    "200": _json_answer("The alert.", "AlertDetail"),
                    **refused,
                    "404": _problem("No such alert."),
                },
            }
        },
        "/api/v1/alerts/{id}/acknowledge": {
            "post": {
                **secured,
                "summary": "Acknowledge (audited with the token as actor)",
                "parameters": [ALERT_ID],
                "responses": change,
            }
        },
        "/api/v1/alerts/{id}/resolve": {
            "post": {
                **secured,
                "summary": "Resolve by hand (audited with the token as actor)",
                "parameters": [ALERT_ID],
                "requestBody": {
                    "required": False,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "additionalProperties": False,
                                "properties": {"reason": {"type": "string", "maxLength": 500}},
                            }
                        }
                    },
                },
                "responses": change,
            }
        },
        "/api/v1/stock/{sku}": {
            "get": {
                **secured,
                "summary": "Stock at each location, with rate of sale and days of cover",
                "parameters": [
                    _path(
                        "sku",
                        "The SKU (any case).",
                        {**NAME, "minLength": 1},
                    ),
                    _query("location", "One location.", NAME),
                ],
                "responses": {
                    "200": _json_answer("The product.", "Stock"),
                    **refused,
                    "404": _problem("No such SKU, or no such location for it."),
                },
            }
        },
        "/api/v1/reports/summary": {
            "get": {
                **secured,
                "summary": "The report: the period, the one before it, and the product table",
                "description": "The period is `days` (the last N days, today included), or `since` with an "
                "optional `until`, never both; `until` needs `since` and must be after it, and the period "
                f"is at most {MAX_DAYS} days. Other combinations are refused with 400 naming each parameter.",
                "parameters": [
                    _query(
                        "days",
                        "The last N days, today included (default 7).",
                        {"type": "integer", "minimum": 1, "maximum": 3660},
                    ),
                    _query("since", "First day (instead of days).", _string("date")),
                    _query("until", "Day after the last (exclusive; default tomorrow).", _string("date")),
                    _query("location", "One location.", NAME),
                    _query("category", "One category.", NAME),
                    _query("sku", "One SKU.", NAME),
                ],
                "responses": {"200": _json_answer("The report.", "Report"), **refused},
            }
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
            **_api_paths(),
        },
        "components": {
            "schemas": {
                "InventoryEvent": _schema(InventoryEvent),
                "FulfillmentFailedEvent": _schema(FulfillmentFailedEvent),
                "Accepted": ACCEPTED,
                "Problem": PROBLEM,
                "Health": HEALTH,
                "Live": LIVE,
                "Alert": ALERT,
                "AlertPage": ALERT_PAGE,
                "AlertDetail": ALERT_DETAIL,
                "Stock": STOCK,
                **_report_components(),
            },
            "securitySchemes": {
                "stockbotSignature": {
                    "type": "apiKey",
                    "in": "header",
                    "name": HEADER,
                    "description": 't=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>" with the '
                    "source's secret>; 5-minute tolerance.",
                },
                "apiToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "An [[api.tokens]] token: `stockbot tokens create NAME --role manager`.",
                },
            },
        },
    }
