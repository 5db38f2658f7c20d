"""The fake vendor itself: it passes every example request the vendor files publish, and refuses what the
vendor would refuse (no such operation, a deprecated one, a body against the schema or the docs' rules, the
wrong encoding), so the adapter tests built on it can fail."""

from __future__ import annotations

import json
import re
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from tests.fakes.shared import VENDOR_API_DIR
from tests.fakes.vendor import FakeVendor


def _examples() -> list[Any]:
    """(file, operation) for every described operation with an example request (read at collection: none
    without ../shared, and the tests that need it skip or fail through vendor_spec)."""
    params = []
    for path in sorted(VENDOR_API_DIR.glob("*.json")) if VENDOR_API_DIR.is_dir() else []:
        spec = json.loads(path.read_text())
        for entry in [spec, *spec.get("additional_operations", [])]:
            if isinstance(entry.get("example_request"), dict) and not entry.get("deprecated"):
                params.append(pytest.param(path.stem, entry, id=f"{path.stem}:{entry['operation']}"))
    return params


def _concrete(path: str) -> str:
    """A template path with every variable filled: ``v{version}`` → ``v1``, ``{id}`` → ``1``."""
    return re.sub(r"\{[^}]+\}", "1", path)


def _request(entry: dict[str, Any]) -> dict[str, Any]:
    """aiohttp keyword arguments that send the example as the file encodes it."""
    example = entry["example_request"]
    declared = (entry.get("content_type") or "").split(";")[0].strip()
    if "wire_form_body" in example:  # AWS Query: the file gives the exact wire form
        return {"data": example["wire_form_body"], "headers": {"Content-Type": declared}}
    if "query" in example:
        return {
            "params": {
                k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in example["query"].items()
            }
        }
    if "form" in example:
        form = aiohttp.FormData(default_to_multipart=True)
        for name, value in example["form"].items():
            for item in value if isinstance(value, list) else [value]:
                form.add_field(name, str(item))
        return {"data": form}
    body = example.get("body", example)  # HubSpot's legacy entry gives the body alone
    if declared == "application/x-www-form-urlencoded":
        return {"data": {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in body.items()}}
    if declared == "application/json":
        return {"json": body}
    return {}


async def _fake(file: str, *extra: tuple[str, str]) -> FakeVendor:
    fake = FakeVendor(file)
    fake.describe_by(file)
    for method, path in extra:
        fake.describe_path(method, path, file)
    fake.expect("*", "/{anything:.*}", respond=lambda recorded: web.json_response({}), name="any")
    await fake.start()
    return fake


@pytest.mark.parametrize(("file", "entry"), _examples())
async def test_every_published_example_passes(
    file: str, entry: dict[str, Any], http: aiohttp.ClientSession
) -> None:
    prose = not entry["path"].startswith("/")  # a URL as issued (Teams webhook): described by the test
    fake = await _fake(file, *([(entry["method"], "/hook")] if prose else []))
    path = "/hook" if prose else _concrete(entry["path"])
    try:
        async with http.request(entry["method"], fake.url + path, **_request(entry)) as response:
            status = response.status
    finally:
        await fake.close()
    assert fake.errors == []
    assert status == 200
    (recorded,) = fake.requests
    assert recorded.described == entry["operation"]


async def _send(fake: FakeVendor, http: aiohttp.ClientSession, method: str, path: str, **kwargs: Any) -> int:
    async with http.request(method, fake.url + path, **kwargs) as response:
        return response.status


async def test_a_request_no_operation_describes_is_refused(http: aiohttp.ClientSession) -> None:
    fake = await _fake("zendesk")
    try:
        status = await _send(fake, http, "DELETE", "/api/v2/tickets/7")
    finally:
        await fake.close()
    assert status == 404
    assert "DELETE /api/v2/tickets/7 is no operation in zendesk.json" in fake.errors[0]


async def test_a_deprecated_operation_is_refused_naming_its_successor(http: aiohttp.ClientSession) -> None:
    fake = await _fake("pipedrive")
    try:
        status = await _send(fake, http, "POST", "/v1/activities", json={"subject": "x"})
    finally:
        await fake.close()
    assert status == 410
    assert "deprecated" in fake.errors[0] and "/api/v2/activities" in fake.errors[0]


async def test_a_body_against_the_schema_is_refused(http: aiohttp.ClientSession) -> None:
    fake = await _fake("pipedrive")
    try:
        status = await _send(fake, http, "PATCH", "/api/v2/activities/5", json={"done": 1})  # v1's 0/1
    finally:
        await fake.close()
    assert status == 400
    assert fake.errors == ["any: done: 1 is not of type 'boolean'"]


@pytest.mark.parametrize(
    ("file", "path", "form", "problem"),
    [
        pytest.param(  # docs_constraints: one of From / MessagingServiceSid
            "twilio_sms",
            "/2010-04-01/Accounts/AC1/Messages.json",
            {"To": "+15551234567", "Body": "hi"},
            "is not valid under any of the given schemas",
            id="twilio-from-or-service",
        ),
        pytest.param(  # docs_constraints: if grant_type=refresh_token then refresh_token
            "quickbooks_online",
            "/oauth2/v1/tokens/bearer",
            {"grant_type": "refresh_token"},
            "'refresh_token' is a required property",
            id="intuit-refresh-token",
        ),
        pytest.param(  # docs_constraints: exactly one of TopicArn, TargetArn, PhoneNumber (AWS Query form)
            "amazon_sns",
            "/",
            {
                "Action": "Publish",
                "Version": "2010-03-31",
                "TopicArn": "arn:x",
                "PhoneNumber": "+1555",
                "Message": "m",
            },
            "is valid under each of",
            id="sns-one-target",
        ),
    ],
)
async def test_docs_constraints_are_checked(
    file: str, path: str, form: dict[str, str], problem: str, http: aiohttp.ClientSession
) -> None:
    fake = await _fake(file)
    try:
        status = await _send(fake, http, "POST", path, data=form)
    finally:
        await fake.close()
    assert status == 400
    assert any(problem in error for error in fake.errors), fake.errors


async def test_the_encoding_the_file_names_is_required(http: aiohttp.ClientSession) -> None:
    fake = await _fake("zoho_crm")
    try:
        status = await _send(fake, http, "POST", "/oauth/v2/token", json={"grant_type": "refresh_token"})
    finally:
        await fake.close()
    assert status == 400
    assert (
        "sent as application/json" in fake.errors[0] and "application/x-www-form-urlencoded" in fake.errors[0]
    )


async def test_query_parameters_are_read_as_the_types_described(http: aiohttp.ClientSession) -> None:
    fake = await _fake("trello")
    try:
        assert await _send(fake, http, "PUT", "/1/cards/abc", params={"closed": "true"}) == 200
        assert await _send(fake, http, "PUT", "/1/cards/abc", params={"closed": "maybe"}) == 400
    finally:
        await fake.close()
    assert fake.errors == ["any: closed: 'maybe' is not of type 'boolean'"]


async def test_graphql_mutations_are_told_apart_by_field(http: aiohttp.ClientSession) -> None:
    """One POST /v2 carries every monday.com mutation: each is checked against its own entry, with the
    wire's variable names mapped to the mutation's argument names."""
    fake = await _fake("monday")
    change = (
        "mutation ($b: ID!, $c: String!) { change_simple_column_value (board_id: $b, column_id: $c) { id } }"
    )
    try:
        ok = await _send(fake, http, "POST", "/v2", json={"query": change, "variables": {"b": "1", "c": "s"}})
        missing = await _send(fake, http, "POST", "/v2", json={"query": change, "variables": {"b": "1"}})
        unknown = await _send(
            fake, http, "POST", "/v2", json={"query": "mutation { delete_item (item_id: 1) { id } }"}
        )
    finally:
        await fake.close()
    assert (ok, missing, unknown) == (200, 400, 404)
    assert [r.described for r in fake.requests] == ["change_simple_column_value"] * 2 + [""]
    assert "'column_id' is a required property" in fake.errors[0]
    assert "is no operation in monday.json" in fake.errors[1]
