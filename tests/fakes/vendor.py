"""A local fake vendor API on 127.0.0.1 that checks each request against ``../shared/vendor-api``.

A test registers the operations it expects with :meth:`FakeVendor.expect`; each request to them is recorded,
its body validated against the operation's ``request_schema`` (plus ``docs_constraints`` where the file has
them), and answered with the documented success status unless the test queued another answer with
:meth:`FakeVendor.fail_next`. Requests that fail validation are answered 400 and listed in ``errors``, so a
test asserts ``fake.errors == []`` as well as what it recorded.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import jsonschema
from aiohttp import web
from aiohttp.test_utils import TestServer

Responder = Callable[["Recorded"], Awaitable[web.StreamResponse] | web.StreamResponse]


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    raw: bytes
    body: Any  # parsed: dict for JSON and forms, the raw text otherwise
    match: dict[str, str] = field(default_factory=dict)
    operation: str = ""
    at: float = field(default_factory=time.monotonic)  # when it arrived, for rate-limit checks


@dataclass
class _Operation:
    name: str
    method: str
    path: str
    schema: dict[str, Any] | None
    responder: Responder | None
    validate_query: bool


def schema_errors(schema: dict[str, Any], body: Any) -> list[str]:
    """Every validation error of ``body`` against a draft 2020-12 (or declared) JSON Schema."""
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    validator = cls(schema, format_checker=cls.FORMAT_CHECKER)
    return [
        f"{'/'.join(str(p) for p in error.absolute_path) or '<body>'}: {error.message}"
        for error in validator.iter_errors(body)
    ]


def operation_schema(spec: dict[str, Any], operation: str | None = None) -> dict[str, Any]:
    """The request schema of the spec's main operation, or of a named ``additional_operations`` entry,
    combined with its ``docs_constraints`` when there are any."""
    op = spec
    if operation and operation != spec.get("operation"):
        op = next(o for o in spec.get("additional_operations", []) if o.get("operation") == operation)
    schema = dict(op.get("request_schema") or {})
    constraints = op.get("docs_constraints")
    if isinstance(constraints, dict) and any(k in constraints for k in ("allOf", "anyOf", "oneOf", "not")):
        schema = {"allOf": [schema, {k: v for k, v in constraints.items() if k != "description"}]}
        if "$defs" in op.get("request_schema", {}):
            schema["$defs"] = op["request_schema"]["$defs"]
        if "definitions" in op.get("request_schema", {}):
            schema["definitions"] = op["request_schema"]["definitions"]
    return schema


class FakeVendor:
    def __init__(self, name: str) -> None:
        self.name = name
        self.requests: list[Recorded] = []
        self.errors: list[str] = []
        self._operations: list[_Operation] = []
        self._queued: list[tuple[str | None, int, dict[str, str], str, float]] = []
        self._server: TestServer | None = None

    # --- set-up ---------------------------------------------------------------------------------------
    def expect(
        self,
        method: str,
        path: str,
        *,
        schema: dict[str, Any] | None = None,
        respond: Responder | None = None,
        name: str = "",
        validate_query: bool = False,
    ) -> None:
        """Accept ``method path`` (aiohttp route syntax, e.g. ``/v3/{domain}/messages``)."""
        self._operations.append(
            _Operation(name or f"{method} {path}", method, path, schema, respond, validate_query)
        )

    def fail_next(
        self,
        status: int,
        body: str = "",
        headers: dict[str, str] | None = None,
        *,
        operation: str | None = None,
        delay: float = 0.0,
    ) -> None:
        """Answer the next request (to ``operation``, if named) with this instead of its own answer,
        after ``delay`` seconds: a delay longer than the client's timeout tests timeouts."""
        self._queued.append((operation, status, headers or {}, body, delay))

    def _take_queued(self, operation: str) -> tuple[int, dict[str, str], str, float] | None:
        for index, (target, status, headers, body, delay) in enumerate(self._queued):
            if target is None or target == operation:
                del self._queued[index]
                return status, headers, body, delay
        return None

    async def start(self) -> str:
        app = web.Application(client_max_size=10 * 1024 * 1024)
        for op in self._operations:
            app.router.add_route(op.method, op.path, self._handler(op))
        app.router.add_route("*", "/{tail:.*}", self._unexpected)
        self._server = TestServer(app, host="127.0.0.1")
        await self._server.start_server(access_log=None)  # request lines may carry credentials
        return self.url

    async def close(self) -> None:
        if self._server:
            await self._server.close()

    @property
    def url(self) -> str:
        assert self._server is not None, "start() the fake first"
        return str(self._server.make_url("")).rstrip("/")

    # --- serving --------------------------------------------------------------------------------------
    def _handler(self, op: _Operation) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def handle(request: web.Request) -> web.StreamResponse:
            recorded = await self._record(request, op.name)
            if op.schema is not None:
                target = recorded.query if op.validate_query else recorded.body
                problems = schema_errors(op.schema, target)
                if problems:
                    self.errors.extend(f"{op.name}: {p}" for p in problems)
                    return web.json_response({"error": "invalid request", "details": problems}, status=400)
            queued = self._take_queued(op.name)
            if queued:
                status, headers, body, delay = queued
                if delay:
                    await asyncio.sleep(delay)
                return web.Response(status=status, headers=headers, text=body)
            if op.responder is None:
                return web.json_response({"ok": True})
            result = op.responder(recorded)
            if isinstance(result, Awaitable):
                result = await result
            return result

        return handle

    async def _unexpected(self, request: web.Request) -> web.StreamResponse:
        await self._record(request, "unexpected")
        self.errors.append(f"unexpected request: {request.method} {request.path}")
        return web.json_response({"error": "no such operation in the fake"}, status=404)

    async def _record(self, request: web.Request, operation: str) -> Recorded:
        raw = await request.read()
        ctype = request.content_type
        body: Any = raw.decode("utf-8", "replace")
        if ctype == "application/json" and raw:
            body = json.loads(raw)
        elif ctype == "application/x-www-form-urlencoded":
            body = dict(parse_qsl(raw.decode(), keep_blank_values=True))
        elif ctype.startswith("multipart/"):
            body = await _multipart(request, raw)
        recorded = Recorded(
            method=request.method,
            path=request.path,
            query=dict(request.query),
            headers=dict(request.headers),
            raw=raw,
            body=body,
            match=dict(request.match_info),
            operation=operation,
        )
        self.requests.append(recorded)
        return recorded

    def calls(self, operation: str) -> list[Recorded]:
        return [r for r in self.requests if r.operation == operation]


async def _multipart(request: web.Request, raw: bytes) -> dict[str, Any]:
    """Parse a multipart body that ``request.read()`` already consumed; repeated fields become lists."""
    from email.parser import BytesParser
    from email.policy import HTTP

    header = f"Content-Type: {request.headers['Content-Type']}\r\n\r\n".encode()
    message = BytesParser(policy=HTTP).parsebytes(header + raw)
    fields: dict[str, Any] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        value = part.get_content()
        if isinstance(value, bytes):
            value = value.decode("utf-8", "replace")
        if name in fields:
            existing = fields[name]
            fields[name] = [*existing, value] if isinstance(existing, list) else [existing, value]
        else:
            fields[name] = value
    return fields
