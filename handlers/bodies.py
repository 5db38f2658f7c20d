"""Reading request bodies at the edge, the same way on every route: size, transfer decoding, strict JSON.

Every way in (events API, Slack, Teams) reads its body through :func:`read_body` and, where it is JSON,
:func:`json_body`, so a hostile body is refused with a 4xx that says what was wrong, never a 500:

- larger than ``[server] body_limit_bytes`` → 413;
- a ``Content-Encoding`` (gzip, deflate, br) whose data does not decompress → 400;
- not UTF-8, not JSON, ``NaN``/``Infinity`` (not JSON, though Python's parser takes them), nested deeper than
  :data:`MAX_DEPTH`, or an integer of more than 4300 digits → 400.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from stockbot.handlers.problems import problem

# Deeper than any event, Slack payload or Teams activity; far below where Python's parser would give up.
MAX_DEPTH = 64


class BodyError(ValueError):
    """Why a body was refused: ``status`` and a detail that says how to fix it."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail

    def answer(self) -> web.Response:
        title = "Payload Too Large" if self.status == 413 else "Bad Request"
        return problem(self.status, title, self.detail, errors=[{"path": "/", "message": self.detail}])


async def read_body(request: web.Request, limit: int) -> bytes:
    """The raw body (decompressed if the sender compressed it), or :class:`BodyError`; ``limit`` is the
    ``[server] body_limit_bytes`` the app was built with."""
    try:
        return await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise BodyError(413, f"the body exceeds {limit} bytes; split it into smaller requests") from None
    except (HttpProcessingError, web.RequestPayloadError) as exc:  # data that does not decode, a bad chunk
        encoding = request.headers.get("Content-Encoding")
        how = f"its Content-Encoding ({encoding[:40]}) does not decode" if encoding else str(exc).strip()
        raise BodyError(400, f"the body could not be read: {how}; send it uncompressed") from None


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON; send numbers as digits")


# One decoder for every body: json.loads with an argument builds a new one per call.
_DECODER = json.JSONDecoder(parse_constant=_reject_constant)


def _depth(value: Any) -> int:
    """How deeply arrays and objects nest (iteratively: no recursion limit to hit)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, level)
            if deepest > MAX_DEPTH:
                return deepest
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, level + 1) for child in children)
    return deepest


def json_body(raw: bytes | str) -> Any:
    """Parse ``raw`` as strict JSON (RFC 8259), or raise :class:`BodyError` naming the problem."""
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
    except UnicodeDecodeError as exc:
        raise BodyError(400, f"the body is not UTF-8 (byte {exc.start}); send JSON in UTF-8") from None
    try:
        if text.startswith("\ufeff"):  # as json.loads says it, which the decoder alone does not
            raise json.JSONDecodeError("Unexpected UTF-8 BOM (decode using utf-8-sig)", text, 0)
        value = _DECODER.decode(text)
    except json.JSONDecodeError as exc:
        raise BodyError(400, f"the body is not valid JSON: {exc}") from None
    except RecursionError:
        raise BodyError(400, f"the body nests arrays or objects deeper than {MAX_DEPTH} levels") from None
    except ValueError as exc:  # NaN/Infinity, or an integer too long to convert
        raise BodyError(400, f"the body is not valid JSON: {exc}") from None
    # Each level of nesting opens with a bracket: a text with few brackets needs no walk (the events API's
    # bodies have one to three), and a bracket inside a string only makes the walk happen.
    brackets = text.count("{") + text.count("[")
    if brackets > MAX_DEPTH and _depth(value) > MAX_DEPTH:
        raise BodyError(400, f"the body nests arrays or objects deeper than {MAX_DEPTH} levels")
    return value
