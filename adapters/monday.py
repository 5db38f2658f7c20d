"""Creates a monday.com item on a board for an alert and keeps that item current.

API: https://developer.monday.com/api-reference/reference/items (``create_item``,
``change_simple_column_value``) and /reference/updates (``create_update``), all GraphQL on ``POST /v2``.

Address: the board id (digits, from the board's URL), or ``board_id/group_id`` to put items in one group
(the group id is shown by "Copy group ID" in the group's menu, e.g. ``topics`` or ``new_group29179``).

With the receipt's item id (later events of the same alert):
- resolve: with ``status_column_id`` set, that status column changes to ``done_label`` (default "Done");
  without it, an update (comment) with the closing note;
- acknowledge, escalate and any other event: an update with the new status.

GraphQL answers HTTP 200 to most errors: the ``errors`` array (or ``error_code`` on older API versions) is
mapped by ``RETRYABLE_CODES`` below; anything not listed there, or flagged 429/5xx, is permanent.

Credentials: ``api_token``, a personal API token (avatar → Developers → My access tokens) of a user who can
write to the board; sent as the bare ``Authorization`` header. ``api_version`` pins ``API-Version``.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

import aiohttp
from pydantic import SecretStr

from stockbot.adapters.base import (
    ALL_EVENTS,
    AdapterSettings,
    AlertMessage,
    DeliveryError,
    PermanentError,
    Receipt,
    RetryableError,
    Target,
    http_request,
    parse_retry_after,
)
from stockbot.adapters.render.text import level_text, resolution_note, status_line, ticket

_ADDRESS = re.compile(r"^(?P<board>[0-9]{1,20})(?:/(?P<group>[A-Za-z0-9_]{1,100}))?$")
# Error codes that say "later, not never" (monday.com docs: rate limits and error handling pages).
RETRYABLE_CODES = frozenset(
    {
        "ComplexityException",
        "COMPLEXITY_BUDGET_EXHAUSTED",
        "RATE_LIMIT_EXCEEDED",
        "Rate Limit Exceeded",
        "DAILY_LIMIT_EXCEEDED",
        "IP_RATE_LIMIT_EXCEEDED",
        "maxConcurrencyExceeded",
        "FIELD_LIMIT_EXCEEDED",
        "INTERNAL_SERVER_ERROR",
        "InternalServerError",
    }
)
_RESET_IN = re.compile(r"reset in (\d+) seconds?")

CREATE_ITEM = (
    "mutation ($board_id: ID!, $item_name: String!, $group_id: String) "
    "{ create_item (board_id: $board_id, item_name: $item_name, group_id: $group_id) { id } }"
)
CREATE_UPDATE = (
    "mutation ($item_id: ID!, $body: String!) { create_update (item_id: $item_id, body: $body) { id } }"
)
CHANGE_STATUS = (
    "mutation ($board_id: ID!, $item_id: ID!, $column_id: String!, $value: String!) "
    "{ change_simple_column_value (board_id: $board_id, item_id: $item_id, column_id: $column_id, "
    "value: $value) { id } }"
)


class MondaySettings(AdapterSettings):
    base_url: str = "https://api.monday.com"
    api_token: SecretStr
    api_version: str = "2025-04"
    status_column_id: str | None = None
    done_label: str = "Done"


def progress_note(message: AlertMessage) -> str:
    if message.is_resolved:
        return resolution_note(message)
    return f"{status_line(message)}. {level_text(message)}."


def graphql_error(answer: Any) -> DeliveryError | None:
    """The error a GraphQL answer carries inside its HTTP 200, or None when it has none."""
    if not isinstance(answer, dict):
        return PermanentError("monday answered without a JSON body")
    errors = answer.get("errors") or []
    if answer.get("error_code"):  # the older top-level shape, still used for complexity errors
        errors = [{"message": answer.get("error_message", ""), "extensions": answer}]
    if not errors:
        return None
    first: dict[str, Any] = errors[0] if isinstance(errors[0], dict) else {"message": str(errors[0])}
    ext = first.get("extensions") or {}
    code = str(ext.get("code") or ext.get("error_code") or "")
    text = f"monday error {code or 'unknown'}: {str(first.get('message', ''))[:200]}"
    status = ext.get("status_code")
    if code in RETRYABLE_CODES or status == 429 or (isinstance(status, int) and status >= 500):
        return RetryableError(text, _retry_in(first, ext))
    return PermanentError(text)


def _retry_in(error: dict[str, Any], ext: dict[str, Any]) -> float | None:
    raw = ext.get("error_data")
    data: dict[str, Any] = raw if isinstance(raw, dict) else {}
    seconds = ext.get("retry_in_seconds", data.get("retry_in_seconds"))
    if seconds is not None:
        return parse_retry_after(str(seconds))
    found = _RESET_IN.search(str(error.get("message", "")))
    return float(found.group(1)) if found else None


class MondayAdapter:
    name: ClassVar[str] = "monday"
    events: ClassVar[frozenset[str]] = ALL_EVENTS
    Settings: ClassVar[type[AdapterSettings]] = MondaySettings

    def __init__(self, settings: MondaySettings, http: aiohttp.ClientSession) -> None:
        self.settings = settings
        self.http = http

    async def _graphql(self, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        result = await http_request(
            self.http,
            "monday",
            "POST",
            self.settings.base_url.rstrip("/") + "/v2",
            json={"query": query, "variables": variables},
            headers={
                "Authorization": self.settings.api_token.get_secret_value(),
                "API-Version": self.settings.api_version,
                "Accept": "application/json",
            },
            timeout=self.settings.timeout_seconds,
        )
        try:
            answer = result.json()
        except ValueError:
            answer = None
        error = graphql_error(answer)
        data = answer.get("data") if isinstance(answer, dict) else None
        # Errors may come with partial data: a mutation that did return its object did happen, and
        # retrying it would create a second item.
        if error is not None and not (isinstance(data, dict) and any(data.values())):
            raise error
        return data if isinstance(data, dict) else {}

    def _update_request(
        self, message: AlertMessage, board: str, item: str
    ) -> tuple[str, dict[str, Any], str]:
        s = self.settings
        if message.is_resolved and s.status_column_id:
            variables = {"board_id": board, "item_id": item, "column_id": s.status_column_id}
            return CHANGE_STATUS, {**variables, "value": s.done_label}, f"status set to {s.done_label!r}"
        return CREATE_UPDATE, {"item_id": item, "body": progress_note(message)}, "update added"

    async def send(self, message: AlertMessage, target: Target) -> Receipt:
        address = _ADDRESS.match(target.address)
        if address is None:
            raise PermanentError(
                "monday address must be a board id (digits) or board_id/group_id, "
                f"got {target.address[:40]!r}"
            )
        board = address["board"]
        if target.external_id is not None:
            query, variables, done = self._update_request(message, board, target.external_id)
            await self._graphql(query, variables)
            return Receipt(external_id=target.external_id, detail=done)
        # monday caps item names at 255 characters (ItemNameTooLongException).
        variables = {"board_id": board, "item_name": ticket(message).title[:255]}
        if address["group"]:
            variables["group_id"] = address["group"]
        data = await self._graphql(CREATE_ITEM, variables)
        item = data.get("create_item")
        item_id = item.get("id") if isinstance(item, dict) else None
        if not item_id:
            raise PermanentError("monday answered without an item id")
        return Receipt(external_id=str(item_id), detail=f"item {item_id} created")
