"""Jira Cloud: Basic email:api_token auth; create an issue, then comment on and transition it."""

import base64

from aiohttp import web

from tests.adapters.cases import AdapterCase
from tests.fakes.vendor import FakeVendor, Recorded

EMAIL = "stockbot@example.com"
API_TOKEN = "ATATT3x-jira-token-1c9e"
PAT = "jira-pat-NzQ2ODE1MjM0"
ISSUE_KEY = "OPS-24"
TRANSITIONS = [
    {"id": "11", "name": "Start progress", "to": {"id": "3", "name": "In Progress"}},
    {"id": "31", "name": "Close issue", "to": {"id": "10001", "name": "Done"}},
]


def _authorised(recorded: Recorded) -> web.Response | None:
    basic = base64.b64encode(f"{EMAIL}:{API_TOKEN}".encode()).decode()
    if recorded.headers.get("Authorization") not in (f"Basic {basic}", f"Bearer {PAT}"):
        return web.json_response({"errorMessages": ["You are not authenticated."]}, status=401)
    return None


def _created(recorded: Recorded) -> web.Response:
    body = {"id": "10000", "key": ISSUE_KEY, "self": "https://example.atlassian.net/rest/api/2/issue/10000"}
    return _authorised(recorded) or web.json_response(body, status=201)


def _commented(recorded: Recorded) -> web.Response:
    body = {"id": "10050", "body": recorded.body["body"], "created": "2026-11-26T13:05:00.000+0000"}
    return _authorised(recorded) or web.json_response(body, status=201)


def _transitions(recorded: Recorded) -> web.Response:
    return _authorised(recorded) or web.json_response({"expand": "transitions", "transitions": TRANSITIONS})


def _transitioned(recorded: Recorded) -> web.Response:
    return _authorised(recorded) or web.Response(status=204)


def configure(fake: FakeVendor) -> None:
    fake.describe_by("jira")
    fake.expect("POST", "/rest/api/2/issue", respond=_created, name="create")
    fake.expect("POST", "/rest/api/2/issue/{key}/comment", respond=_commented, name="comment")
    fake.expect("GET", "/rest/api/2/issue/{key}/transitions", respond=_transitions, name="transitions")
    fake.expect("POST", "/rest/api/2/issue/{key}/transitions", respond=_transitioned, name="transition")


def settings(base_url: str) -> dict[str, object]:
    return {"base_url": base_url, "email": EMAIL, "api_token": API_TOKEN, "resolve_transition": "Done"}


def _check(fake: FakeVendor) -> None:
    (call,) = fake.calls("create")
    fields = call.body["fields"]
    assert fields["project"] == {"key": "OPS"}
    assert fields["issuetype"] == {"name": "Task"}
    assert fields["priority"] == {"name": "Highest"}  # critical severity
    assert isinstance(fields["description"], str) and "PIN-GODZ-PRO" in fields["description"]
    assert "pin-godz-pro" in fields["labels"]


CASE = AdapterCase(
    name="jira",
    configure=configure,
    settings=settings,
    address="OPS",
    main_operation="create",
    secrets=[API_TOKEN],
    check_sent=_check,
    external_id=ISSUE_KEY,
)
