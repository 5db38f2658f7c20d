"""Schemathesis hooks for ``tests/test_openapi_contract.py`` (loaded through ``SCHEMATHESIS_HOOKS``).

The events API is signed, so every generated request is signed here, over the exact bytes the client will
send (``requests`` serialises ``case.body`` with its own JSON module), as a source would sign it. A source
that is valid text but not configured is replaced by one that is, so valid events reach validation
instead of stopping at 401; a source the schema refuses is left as generated. The signature is an auth
provider's work, so schemathesis's ``ignored_auth`` probes (sent without it) see the 401 they expect. The
report API (``/api/v1``) gets a configured token's ``Authorization: Bearer`` header the same way.

``/api/v1/reports/summary`` takes ``days`` or ``since`` [+ ``until``], a period of at most 3660 days: rules
across parameters that the document states in words only. A request whose parameters are each valid is
made to keep them (``days`` dropped beside ``since``, an ``until`` or ``since`` moved into range), so it is
judged by the server's answer to a good period; a parameter that is itself invalid is left as generated.
"""

from __future__ import annotations

import os
import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

import schemathesis
from requests.compat import json as requests_json
from schemathesis.core import NotSet

from stockbot.adapters.signing import HEADER, sign
from stockbot.bot.ingest import TEXT_PATTERN

SOURCE = os.environ.get("STOCKBOT_TEST_SOURCE", "erp")
SECRET = os.environ.get("STOCKBOT_TEST_SECRET", "")
NOW = int(os.environ.get("STOCKBOT_TEST_NOW", "0"))
API_TOKEN = os.environ.get("STOCKBOT_TEST_API_TOKEN", "")
_TEXT = re.compile(TEXT_PATTERN)


MAX_DAYS = 3660


def _day(value: Any) -> date | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


def _valid_days(value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | str):
        return False
    try:
        return 1 <= int(value) <= MAX_DAYS
    except ValueError:
        return False


def _one_period(query: dict[str, Any]) -> None:
    since, until = _day(query.get("since")), _day(query.get("until"))
    if since is None and until is None:
        return
    if _valid_days(query.get("days")):
        del query["days"]
    if since is not None and until is not None:
        if until <= since or (until - since).days > MAX_DAYS:
            del query["until"]
            until = None
        else:
            return
    if since is not None and query.get("until") in (None, ""):
        end = datetime.fromtimestamp(NOW, UTC).date() + timedelta(days=1)
        if end <= since or (end - since).days > MAX_DAYS:
            query["since"] = (end - timedelta(days=7)).isoformat()
    elif until is not None and query.get("since") in (None, ""):
        query["since"] = (until - timedelta(days=7)).isoformat()


def _events(body: Any) -> list[Any]:
    if isinstance(body, dict) and isinstance(body.get("events"), list):
        return body["events"]
    return [body]


def _valid_text(value: Any) -> bool:
    return isinstance(value, str) and len(value) <= 64 and _TEXT.fullmatch(value) is not None


@schemathesis.auth()
class StockbotSignature:
    def get(self, case: Any, context: Any) -> str:
        return SECRET

    def set(self, case: Any, secret: str, context: Any) -> None:
        if case.operation.path.startswith("/api/v1/"):
            if case.operation.path == "/api/v1/reports/summary" and isinstance(case.query, dict):
                _one_period(case.query)
            if API_TOKEN:
                case.headers = {**(case.headers or {}), "Authorization": f"Bearer {API_TOKEN}"}
            return
        if case.operation.path not in ("/events/inventory", "/events/fulfillment-failed"):
            return
        if isinstance(case.body, NotSet):
            return  # no body: refused as not JSON before any signature is looked at
        for item in _events(case.body):
            if isinstance(item, dict) and _valid_text(item.get("source")):
                item["source"] = SOURCE
        if isinstance(case.body, bytes):
            raw = case.body
        else:
            raw = requests_json.dumps(case.body, allow_nan=False).encode("utf-8")
        case.headers = {**(case.headers or {}), HEADER: sign(secret, raw, NOW)}
