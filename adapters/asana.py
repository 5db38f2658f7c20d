"""Creates an Asana task in a project for an alert and keeps that task current.

API: https://developers.asana.com/reference/createtask (Create a task), /reference/updatetask (Update a
task), /reference/createstoryfortask (Create a story on a task). Bodies are wrapped in ``{"data": {...}}``.

Address: the project gid (digits; the number after ``/project/`` in the project's URL).

With the receipt's task gid (later events of the same alert):
- resolve: the task is marked completed;
- reopen: the task is marked not completed again;
- acknowledge, escalate and any other event: a comment (story) with the new status.

Asana has no built-in priority field (only per-workspace custom fields), so the priority shows in the notes.

Credentials: ``access_token``, a Personal Access Token (https://app.asana.com/0/my-apps → Create new token)
of a user who is a member of the project; sent as ``Authorization: Bearer``. ``assignee`` (optional): "me",
an e-mail or a user gid the new tasks are assigned to.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar
from urllib.parse import quote

import aiohttp
from pydantic import SecretStr

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

_GID = re.compile(r"^[0-9]{1,30}$")
PRIORITY_WORDS = {"normal": "Normal", "high": "High", "urgent": "Urgent"}


class AsanaSettings(AdapterSettings):
    base_url: str = "https://app.asana.com/api/1.0"
    access_token: SecretStr
    assignee: str | None = None


def progress_note(message: AlertMessage) -> str:
    if message.is_resolved:
        return resolution_note(message)
    return f"{status_line(message)}. {level_text(message)}."


def create_body(message: AlertMessage, project_gid: str, assignee: str | None) -> dict[str, Any]:
    fields = ticket(message)
    task: dict[str, Any] = {
        "name": fields.title,
        "notes": f"Priority: {PRIORITY_WORDS[fields.priority]}\n\n{fields.description}",
        "projects": [project_gid],
    }
    if assignee:
        task["assignee"] = assignee
    return {"data": task}


def update_request(message: AlertMessage, task_gid: str) -> tuple[str, str, dict[str, Any], str]:
    """(method, path, body, what it does) of the request that brings an existing task up to date."""
    task = f"/tasks/{quote(task_gid, safe='')}"
    if message.is_resolved:
        return "PUT", task, {"data": {"completed": True}}, "task completed"
    if message.event == "reopened":
        return "PUT", task, {"data": {"completed": False}}, "task reopened"
    return "POST", f"{task}/stories", {"data": {"text": progress_note(message)}}, "comment added"


class AsanaAdapter:
    name: ClassVar[str] = "asana"
    events: ClassVar[frozenset[str]] = ALL_EVENTS
    Settings: ClassVar[type[AdapterSettings]] = AsanaSettings

    def __init__(self, settings: AsanaSettings, http: aiohttp.ClientSession) -> None:
        self.settings = settings
        self.http = http

    async def _call(self, method: str, path: str, body: dict[str, Any]) -> Any:
        result = await http_request(
            self.http,
            "asana",
            method,
            self.settings.base_url.rstrip("/") + path,
            json=body,
            headers={
                "Authorization": f"Bearer {self.settings.access_token.get_secret_value()}",
                "Accept": "application/json",
            },
            timeout=self.settings.timeout_seconds,
        )
        try:
            return result.json()
        except ValueError:
            return None

    async def send(self, message: AlertMessage, target: Target) -> Receipt:
        if not _GID.match(target.address):
            raise PermanentError(f"asana address must be a project gid (digits), got {target.address[:40]!r}")
        if target.external_id is not None:
            method, path, body, done = update_request(message, target.external_id)
            await self._call(method, path, body)
            return Receipt(external_id=target.external_id, detail=done)
        answer = await self._call(
            "POST", "/tasks", create_body(message, target.address, self.settings.assignee)
        )
        data = answer.get("data") if isinstance(answer, dict) else None
        gid = data.get("gid") if isinstance(data, dict) else None
        if not gid:
            raise PermanentError("asana answered without a task gid")
        return Receipt(external_id=str(gid), detail=f"task {gid} created")
