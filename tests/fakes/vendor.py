"""A local fake vendor API on 127.0.0.1 that checks each request against ``../shared/vendor-api``.

A test binds the fake to the vendor's file with :meth:`FakeVendor.describe_by` and then registers the
routes it answers with :meth:`FakeVendor.expect`. Each request to them is recorded and looked up in the
file (method and path, plus the GraphQL field or AWS ``Action`` where one endpoint carries several; see
``tests/fakes/described.py``); its body is validated against that operation's ``request_schema`` and
``docs_constraints`` in the encoding the file names (JSON, form, multipart or query string). It is answered
by the test's responder, or with a failure the test queued with :meth:`FakeVendor.fail_next`.

What does not pass is answered like a vendor would (404 for no such operation, 410 for one the vendor has
deprecated, 400 for an invalid body) and listed in ``errors``, so a test asserts ``fake.errors == []`` as well
as what it recorded. A request to a route the test did not register is an error too.

A destination with no vendor file (our own signed webhook, Apprise's JSON plugin, a test receiver) is a route
registered before any :meth:`describe_by` (one fake may serve both): it may carry a ``schema`` of its own.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web
from aiohttp.test_utils import TestServer

from tests.fakes.described import (
    Described,
    aws_query_input,
    describe,
    graphql_request,
    operation_entry,
    operation_schema,
    operations,
    schema_errors,
    typed_parameters,
)
from tests.fakes.shared import vendor_spec

__all__ = ["FakeVendor", "Recorded", "default_document", "operation_schema", "schema_errors"]

Responder = Callable[["Recorded"], Awaitable[web.StreamResponse] | web.StreamResponse]
# What to validate for a request, against which schema, and any problem found bringing it to that shape.
Document = tuple[Any, dict[str, Any] | None, list[str]]
Documenter = Callable[["Recorded", Described], Document]
Refusal = Callable[[list[str]], web.StreamResponse]


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    raw: bytes
    body: Any  # parsed: dict for JSON and forms (a repeated field becomes a list), the raw text otherwise
    match: dict[str, str] = field(default_factory=dict)
    operation: str = ""  # the test's name for the route
    at: float = field(default_factory=time.monotonic)  # when it arrived, for rate-limit checks
    described: str = ""  # the vendor file's operation it was checked against

    @property
    def content_type(self) -> str:
        return self.headers.get("Content-Type", "").split(";")[0].strip().lower()


@dataclass
class _Route:
    name: str
    method: str
    path: str
    schema: dict[str, Any] | None
    responder: Responder | None
    undescribed: str | None  # why this route is not looked up in the vendor file
    described: bool  # registered after describe_by: the vendor file says what its requests must be


@dataclass
class _Binding:
    operations: list[Described]
    prefix: str = ""
    any_method: bool = False
    document: Documenter | None = None
    refuse: Refusal | None = None


class FakeVendor:
    def __init__(self, name: str) -> None:
        self.name = name
        self.requests: list[Recorded] = []
        self.errors: list[str] = []
        self._routes: list[_Route] = []
        self._bindings: list[_Binding] = []
        self._queued: list[tuple[str | None, int, dict[str, str], str, float]] = []
        self._server: TestServer | None = None

    # --- set-up ---------------------------------------------------------------------------------------
    def describe_by(
        self,
        file: str,
        *,
        only: Iterable[str] | None = None,
        prefix: str = "",
        any_method: bool = False,
        document: Documenter | None = None,
        refuse: Refusal | None = None,
    ) -> None:
        """Check requests against the operations ``../shared/vendor-api/<file>.json`` describes (or those
        named in ``only``). ``prefix`` is the path of the vendor's base URL the file's paths are relative to
        (Slack's ``/api``); ``any_method`` is for APIs that take every operation by GET or POST alike;
        ``document`` and ``refuse`` replace how a request is shaped for validation and how a refusal reads."""
        self._bindings.append(_Binding(operations(file, only), prefix, any_method, document, refuse))

    def describe_path(self, method: str, path: str, file: str, operation: str | None = None) -> None:
        """Describe ``method path`` by an operation of ``file`` (its main one if None) whose own path cannot
        match: a URL the vendor issues per customer (a Teams webhook), or a route the file says takes the
        same body as the one it names (Bot Connector replies and updates)."""
        spec = vendor_spec(file)
        entry = operation_entry(spec, operation)
        described = describe(file, spec, entry, method, path)
        self._bindings.append(_Binding([described]))

    def expect(
        self,
        method: str,
        path: str,
        *,
        schema: dict[str, Any] | None = None,
        respond: Responder | None = None,
        name: str = "",
        undescribed: str | None = None,
    ) -> None:
        """Answer ``method path`` (aiohttp route syntax, e.g. ``/v3/{domain}/messages``) with ``respond``.

        After :meth:`describe_by` the vendor file says what the request must be: give no ``schema``. A
        route there that is no vendor API call (Slack's ``response_url``) says why in ``undescribed``."""
        described = bool(self._bindings) and undescribed is None
        if schema is not None and described:
            raise ValueError(f"{method} {path}: the vendor file describes the request; give no schema")
        route = _Route(name or f"{method} {path}", method, path, schema, respond, undescribed, described)
        self._routes.append(route)

    def respond_with(self, name: str, respond: Responder) -> None:
        """Answer the routes registered as ``name`` with ``respond`` from now on."""
        routes = [route for route in self._routes if route.name == name]
        if not routes:
            raise KeyError(f"no route is called {name!r}")
        for route in routes:
            route.responder = respond

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
        for route in self._routes:
            app.router.add_route(route.method, route.path, self._handler(route))
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

    # --- checking -------------------------------------------------------------------------------------
    def lookup(self, recorded: Recorded) -> tuple[Described | None, _Binding | None, list[str]]:
        """The described operation a request is, the binding that describes it, and any problem reading
        what tells operations on one endpoint apart."""
        candidates = []
        for binding in self._bindings:
            if not recorded.path.startswith(binding.prefix):
                continue
            path = recorded.path[len(binding.prefix) :] or "/"
            for described in binding.operations:
                same_method = binding.any_method or described.method == recorded.method
                if same_method and described.matches_path(path):
                    candidates.append((described, binding))
        problems: list[str] = []
        if any(d.graphql_field for d, _ in candidates):
            field_name, _, problems = graphql_request(recorded.body)
            candidates = [(d, b) for d, b in candidates if d.graphql_field == field_name]
        if any(d.aws_action for d, _ in candidates):
            action = recorded.body.get("Action") if isinstance(recorded.body, dict) else None
            candidates = [(d, b) for d, b in candidates if d.aws_action == action]
        if not candidates:
            return None, None, problems
        return candidates[0][0], candidates[0][1], problems

    def problems(self, recorded: Recorded) -> tuple[int, list[str]]:
        """Why the vendor would refuse this request (an HTTP status and the reasons), or (200, [])."""
        described, binding, problems = self.lookup(recorded)
        if described is None or binding is None:
            files = sorted({d.file for b in self._bindings for d in b.operations})
            where = ", ".join(f"{f}.json" for f in files)
            return 404, [f"{recorded.method} {recorded.path} is no operation in {where}", *problems]
        recorded.described = described.operation
        if described.deprecated:
            successor = described.notes[-1] if described.notes else "see the vendor's changelog"
            return 410, [f"{described.label} is deprecated by the vendor: {successor}"]
        document, schema, problems = (binding.document or default_document)(recorded, described)
        if schema is not None and document is not None:
            problems += schema_errors(schema, document)
        return (400, problems) if problems else (200, [])

    def _handler(self, route: _Route) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def handle(request: web.Request) -> web.StreamResponse:
            recorded = await self._record(request, route.name)
            refusal = self._refusal(recorded, route)
            if refusal is not None:
                return refusal
            queued = self._take_queued(route.name)
            if queued:
                status, headers, body, delay = queued
                if delay:
                    await asyncio.sleep(delay)
                return web.Response(status=status, headers=headers, text=body)
            if route.responder is None:
                return web.json_response({"ok": True})
            result = route.responder(recorded)
            if isinstance(result, Awaitable):
                result = await result
            return result

        return handle

    def _refusal(self, recorded: Recorded, route: _Route) -> web.StreamResponse | None:
        if route.described:
            status, problems = self.problems(recorded)
        elif route.schema is not None:
            status, problems = 400, schema_errors(route.schema, recorded.body)
        else:
            return None
        if not problems:
            return None
        self.errors.extend(f"{route.name}: {p}" for p in problems)
        refuse = next((b.refuse for b in self._bindings if b.refuse), None)
        if status == 400 and refuse is not None:
            return refuse(problems)
        return web.json_response({"error": "refused by the fake vendor", "details": problems}, status=status)

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
            body = _fields(parse_qsl(raw.decode(), keep_blank_values=True))
        elif ctype.startswith("multipart/"):
            body = _multipart(request, raw)
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


def default_document(recorded: Recorded, described: Described) -> Document:
    """The request as the file describes it, by the file's content type (see ``tests/fakes/described.py``)."""
    schema = described.schema
    declared = (described.content_type or "").split(";")[0].strip().lower()
    if declared.startswith("query string"):  # Trello: query parameters, which a body may replace
        params = {**recorded.query, **(recorded.body if isinstance(recorded.body, dict) else {})}
        return typed_parameters(params, schema or {}), schema, []
    if not declared:
        return None, schema, []  # nothing to send (a GET, a logout)
    if recorded.content_type != declared:
        sent = recorded.content_type or "no Content-Type"
        return None, schema, [f"sent as {sent}; {described.label} takes {declared}"]
    if declared == "application/json":
        if described.graphql_field:
            _, arguments, problems = graphql_request(recorded.body)
            return {**recorded.body, "variables": arguments}, schema, problems
        return recorded.body, schema, []
    params = recorded.body if isinstance(recorded.body, dict) else {}
    if described.aws_action:
        params = aws_query_input(params)
    return typed_parameters(params, schema or {}), schema, []


def _fields(pairs: Iterable[tuple[str, Any]]) -> dict[str, Any]:
    """Form fields as a dict; a field sent more than once becomes a list of its values."""
    fields: dict[str, Any] = {}
    for name, value in pairs:
        if name in fields:
            existing = fields[name]
            fields[name] = [*existing, value] if isinstance(existing, list) else [existing, value]
        else:
            fields[name] = value
    return fields


def _multipart(request: web.Request, raw: bytes) -> dict[str, Any]:
    """Parse a multipart body that ``request.read()`` already consumed."""
    from email.parser import BytesParser
    from email.policy import HTTP

    header = f"Content-Type: {request.headers['Content-Type']}\r\n\r\n".encode()
    message = BytesParser(policy=HTTP).parsebytes(header + raw)
    pairs = []
    for part in message.iter_parts():
        value = part.get_content()
        pairs.append((part.get_param("name", header="content-disposition"), value))
    return _fields((name, v.decode("utf-8", "replace") if isinstance(v, bytes) else v) for name, v in pairs)
