"""The webhook's body: compact JSON of the envelope, the same value json would give, whatever the text."""

from __future__ import annotations

import json

from stockbot.adapters.webhook import _encode


def test_the_body_is_compact_utf8_json_of_the_envelope() -> None:
    envelope = {
        "type": "stockbot.alert",
        "alert": {"product_name": "Pac-Man™ cabinet", "rate": 0.1, "n": [1]},
    }
    body = _encode(envelope)
    assert json.loads(body) == envelope
    assert "™".encode() in body and b", " not in body and b": " not in body


def test_text_pydantic_core_refuses_is_escaped_by_json_instead() -> None:
    envelope = {"alert": {"product_name": "half a pair \ud800"}}
    body = _encode(envelope)
    assert body == b'{"alert":{"product_name":"half a pair \\ud800"}}'
    assert json.loads(body) == envelope
