"""Opens a Jira issue (type Task by default) for an alert, comments as it moves, and can close it.

API: REST v2, https://developer.atlassian.com/cloud/jira/platform/rest/v2/ (Create issue, Add comment, Get
transitions, Transition issue; the same on Data Center). v2 takes a plain-text description, v3 would need
Atlassian Document Format.

Address: the project key (``OPS``: capitals, digits and underscores, starting with a letter).

With the receipt's issue key (later events of the same alert):
- acknowledge, escalate and any other event: a comment with the new status;
- resolve: the transition named by ``resolve_transition`` (a transition id, a transition name or the name of
  the status it leads to, e.g. ``Done``), then a comment with the closing note. When the issue offers no such
  transition (someone already closed it), only the comment is added and the receipt says so.

Credentials: Jira Cloud: ``email`` + ``api_token`` (https://id.atlassian.com/manage-profile/security/api-tokens)
as Basic auth. Data Center / Server: ``personal_access_token`` (profile → Personal Access Tokens) as Bearer.

``priorities`` maps our words to the project's priority names; set it to ``{}`` when the create screen has no
priority field (Jira then answers 400 "Field 'priority' cannot be set").
"""

from __future__ import annotations

import base64
import re
from typing import Any, ClassVar
from urllib.parse import quote

import aiohttp
from pydantic import SecretStr, model_validator

from stockbot.adapters.base import (
    ALL_EVENTS,
    AdapterSettings,
    AlertMessage,
    PermanentError,
    Receipt,
    Target,
    http_request,
)
from stockbot.adapters.render.text import level_text, resolution_note, status_line, ticket

DEFAULT_PRIORITIES = {"normal": "Medium", "high": "High", "urgent": "Highest"}
_PROJECT_KEY = re.compile(r"^[A-Z][A-Z0-9_]+$")


class JiraSettings(AdapterSettings):
    base_url: str  # https://your-domain.atlassian.net, or the Data Center root (with its context path)
    email: str | None = None
    api_token: SecretStr | None = None
    personal_access_token: SecretStr | None = None
    issue_type: str = "Task"
    priorities: dict[str, str] = DEFAULT_PRIORITIES
    resolve_transition: str | None = None

    @model_validator(mode="after")
    def _check(self) -> JiraSettings:
        cloud = self.email is not None and self.api_token is not None
        if cloud == (self.personal_access_token is not None):
            raise ValueError("set email and api_token (Jira Cloud), or personal_access_token (Data Center)")
        unknown = set(self.priorities) - set(DEFAULT_PRIORITIES)
        if unknown:
            raise ValueError(f"priorities keys are normal, high and urgent; unknown: {sorted(unknown)}")
        return self


def project_key(address: str) -> str:
    if not _PROJECT_KEY.match(address):
        raise PermanentError(f"jira address must be a project key like 'OPS', got {address[:40]!r}")
    return address


def progress_note(message: AlertMessage) -> str:
    if message.is_resolved:
        return resolution_note(message)
    return f"{status_line(message)}. {level_text(message)}."


def create_body(message: AlertMessage, address: str, settings: JiraSettings) -> dict[str, Any]:
    fields = ticket(message)
    issue: dict[str, Any] = {
        "project": {"key": project_key(address)},
        "issuetype": {"name": settings.issue_type},
        "summary": fields.title[:255],
        "description": fields.description,
        # Jira labels cannot contain spaces.
        "labels": [re.sub(r"\s+", "-", label) for label in fields.labels],
    }
    if fields.priority in settings.priorities:
        issue["priority"] = {"name": settings.priorities[fields.priority]}
    return {"fields": issue}


def find_transition(transitions: list[dict[str, Any]], wanted: str) -> str | None:
    """The id of the transition whose id, name or target status is ``wanted`` (names case-insensitive)."""
    folded = wanted.casefold()
    for transition in transitions:
        to_name = str((transition.get("to") or {}).get("name", ""))
        if wanted == str(transition.get("id")) or folded in (
            str(transition.get("name", "")).casefold(),
            to_name.casefold(),
        ):
            return str(transition["id"])
    return None


class JiraAdapter:
    name: ClassVar[str] = "jira"
    events: ClassVar[frozenset[str]] = ALL_EVENTS
    Settings: ClassVar[type[AdapterSettings]] = JiraSettings

    def __init__(self, settings: JiraSettings, http: aiohttp.ClientSession) -> None:
        self.settings = settings
        self.http = http

    def _headers(self) -> dict[str, str]:
        s = self.settings
        if s.personal_access_token is not None:
            auth = f"Bearer {s.personal_access_token.get_secret_value()}"
        else:
            assert s.api_token is not None  # the settings validator guarantees one or the other
            pair = f"{s.email}:{s.api_token.get_secret_value()}".encode()
            auth = f"Basic {base64.b64encode(pair).decode()}"
        return {"Authorization": auth, "Accept": "application/json"}

    async def _request(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        result = await http_request(
            self.http,
            "jira",
            method,
            f"{self.settings.base_url.rstrip('/')}/rest/api/2{path}",
            json=body,
            headers=self._headers(),
            timeout=self.settings.timeout_seconds,
        )
        try:
            return result.json()
        except ValueError:
            raise PermanentError(f"jira answered HTTP {result.status} with a body that is not JSON") from None

    async def _close(self, issue: str) -> str:
        """Run the configured resolve transition when the issue offers it; say what happened."""
        wanted = self.settings.resolve_transition
        if not wanted:
            return ""
        answer = await self._request("GET", f"/issue/{issue}/transitions")
        transition_id = find_transition((answer or {}).get("transitions") or [], wanted)
        if transition_id is None:
            return f"; transition {wanted!r} not available (already closed?)"
        await self._request("POST", f"/issue/{issue}/transitions", {"transition": {"id": transition_id}})
        return f"; transitioned ({wanted})"

    async def send(self, message: AlertMessage, target: Target) -> Receipt:
        if target.external_id is None:
            created = await self._request(
                "POST", "/issue", create_body(message, target.address, self.settings)
            )
            key = (created or {}).get("key")
            if not key:
                raise PermanentError("jira created no issue key")
            return Receipt(external_id=str(key), detail=f"issue {key} created")
        project_key(target.address)  # a bad address is a config error on every event, not only the first
        issue = quote(target.external_id, safe="")
        # Transition before commenting: if the comment then fails and is retried, the issue no longer offers
        # the transition and the retry only comments, instead of commenting twice.
        closed = await self._close(issue) if message.is_resolved else ""
        await self._request("POST", f"/issue/{issue}/comment", {"body": progress_note(message)})
        return Receipt(external_id=target.external_id, detail=f"commented{closed}")
