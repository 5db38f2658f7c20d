"""Schemathesis hooks for ``tests/test_openapi_contract.py`` (loaded through ``SCHEMATHESIS_HOOKS``).

The events API is signed, so every generated request is signed here, over the exact bytes the client will
send (``requests`` serialises ``case.body`` with its own JSON module), as a source would sign it. A source
that is valid text but not configured is replaced by one that is, so valid events reach validation
instead of stopping at 401; a source the schema refuses is left as generated. The signature is an auth
provider's work, so schemathesis's ``ignored_auth`` probes (sent without it) see the 401 they expect.
"""

from __future__ import annotations

import os
import re
from typing import Any

import schemathesis
from requests.compat import json as requests_json
from schemathesis.core import NotSet

from stockbot.adapters.signing import HEADER, sign
from stockbot.bot.ingest import TEXT_PATTERN

SOURCE = os.environ.get("STOCKBOT_TEST_SOURCE", "erp")
SECRET = os.environ.get("STOCKBOT_TEST_SECRET", "")
NOW = int(os.environ.get("STOCKBOT_TEST_NOW", "0"))
_TEXT = re.compile(TEXT_PATTERN)


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
