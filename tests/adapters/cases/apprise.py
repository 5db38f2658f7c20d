"""Apprise: a ``json://`` URL (Apprise's JSON plugin) pointed at the fake, with Basic credentials in it."""

from __future__ import annotations

import base64

from aiohttp import web

from tests.adapters.cases import AdapterCase
from tests.fakes.vendor import FakeVendor, Recorded

USER = "stockbot"
PASSWORD = "apprise-pass-8d4f1b6e"
PATH = "/hooks/apprise"
# What Apprise's JSON plugin (apprise/plugins/custom_json.py) posts: Apprise's own shape, no vendor file.
PAYLOAD = {
    "type": "object",
    "required": ["version", "title", "message", "type"],
    "properties": {
        "version": {"const": "1.0"},
        "title": {"type": "string", "minLength": 1},
        "message": {"type": "string", "minLength": 1},
        "type": {"enum": ["info", "success", "warning", "failure"]},
    },
}


def _answer(recorded: Recorded) -> web.Response:
    basic = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    if recorded.headers.get("Authorization") != f"Basic {basic}":
        return web.json_response({"error": "unauthorised"}, status=401)
    return web.json_response({"ok": True})


def configure(fake: FakeVendor) -> None:
    fake.expect("POST", PATH, schema=PAYLOAD, respond=_answer, name="post")


def address_for(base_url: str) -> str:
    # base_url is http://127.0.0.1:PORT; Apprise's json:// is plain-HTTP JSON POST (jsons:// would be HTTPS).
    return base_url.replace("http://", f"json://{USER}:{PASSWORD}@", 1) + PATH


def _check(fake: FakeVendor) -> None:
    (call,) = fake.calls("post")
    assert call.body["title"] == "CRITICAL shortage: Godzilla Pro pinball table (PIN-GODZ-PRO) at Chicago DC"
    assert "SO-1001" in call.body["message"]
    assert call.body["type"] == "failure"  # critical severity


CASE = AdapterCase(
    name="apprise",
    configure=configure,
    settings=lambda base_url: {},
    address="",
    address_for=address_for,
    main_operation="post",
    secrets=[PASSWORD],
    check_sent=_check,
    # Apprise reports delivered-or-not plus its log lines, never the response headers: a Retry-After
    # cannot reach the adapter, so the contract test checks only the error class for this case.
    retry_after_hidden=True,
)
