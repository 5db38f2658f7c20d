"""Creates a Salesforce Task for an alert and keeps it current until stock is back.

API: https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/dome_sobject_create.htm
(sObject create / update) and the Task object reference
https://developer.salesforce.com/docs/atlas.en-us.object_reference.meta/object_reference/sforce_api_objects_task.htm

Address: ``default`` (the integration user owns the task) or a user id to own it (``005…``, 15 or 18 chars).

With the receipt's Task id (later events of the same alert) the task is PATCHed in place: Subject and
Description always (the description shows who acknowledged or escalated); escalate also sets Priority High,
resolve sets Status Completed, reopen sets Status Not Started again.

Auth: OAuth 2.0 with a connected app (or External Client App): client-credentials flow by default, the
refresh-token flow when ``refresh_token`` is set. The client-credentials flow only works at the org's
My Domain, so set ``token_url = "https://MyDomain.my.salesforce.com/services/oauth2/token"`` for it. The
token answer's ``instance_url`` is the API root unless ``base_url`` is set. Salesforce tokens carry no
lifetime (the org's session timeout applies), so one is reused for at most ``token_lifetime_seconds``; an
HTTP 401 with a reused token drops it and the delivery is retried with a new one.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar
from urllib.parse import quote

import aiohttp
from pydantic import Field, SecretStr

from stockbot.adapters.base import (
    ALL_EVENTS,
    AdapterSettings,
    AlertMessage,
    HttpResult,
    PermanentError,
    Receipt,
    Target,
    classify_status,
    http_request,
)
from stockbot.adapters.oauth import CachedToken, TokenGrant, TokenRequest
from stockbot.adapters.render.text import ticket

# Task.Priority's standard picklist has High / Normal / Low: "urgent" has no word of its own.
PRIORITY = {"normal": "Normal", "high": "High", "urgent": "High"}
_OWNER_ID = re.compile(r"^005[a-zA-Z0-9]{12}([a-zA-Z0-9]{3})?$")


class SalesforceSettings(AdapterSettings):
    client_id: str
    client_secret: SecretStr
    refresh_token: SecretStr | None = None
    token_url: str = "https://login.salesforce.com/services/oauth2/token"
    api_version: str = Field(default="62.0", pattern=r"^[0-9]{2,3}\.[0-9]$")  # "62.0", no leading "v"
    token_lifetime_seconds: float = 900.0  # the shortest session timeout an org can set


def owner_fields(address: str) -> dict[str, str]:
    if address == "default":
        return {}
    if _OWNER_ID.match(address):
        return {"OwnerId": address}
    raise PermanentError(
        f"salesforce address must be 'default' or a user id (005 + 12 or 15 characters), got {address[:40]!r}"
    )


def create_body(message: AlertMessage, address: str) -> dict[str, Any]:
    fields = ticket(message)
    return {
        "Subject": fields.title[:255],
        "Description": fields.description[:32000],
        "Priority": PRIORITY[fields.priority],
        "Status": "Not Started",
        "ActivityDate": message.opened_at.date().isoformat(),
        **owner_fields(address),
    }


def update_body(message: AlertMessage) -> dict[str, Any]:
    fields = ticket(message)
    body: dict[str, Any] = {"Subject": fields.title[:255], "Description": fields.description[:32000]}
    if message.is_resolved:
        body["Status"] = "Completed"
    elif message.event == "reopened":
        body["Status"] = "Not Started"
    elif message.event == "escalated":
        body["Priority"] = "High"
    return body


class SalesforceGrant(TokenGrant):
    """Client credentials, or the refresh-token flow when ``refresh_token`` is set. The API root is the
    answer's ``instance_url`` unless ``base_url`` is set."""

    vendor = "salesforce"

    def __init__(self, settings: SalesforceSettings) -> None:
        self.settings = settings
        self.default_lifetime = settings.token_lifetime_seconds  # Salesforce answers carry no expires_in

    async def request(self) -> TokenRequest:
        s = self.settings
        form = {"client_id": s.client_id, "client_secret": s.client_secret.get_secret_value()}
        if s.refresh_token is not None:
            form |= {"grant_type": "refresh_token", "refresh_token": s.refresh_token.get_secret_value()}
        else:
            form |= {"grant_type": "client_credentials"}
        return TokenRequest(s.token_url, form)

    async def accept(self, answer: dict[str, Any]) -> dict[str, str]:
        root = self.settings.base_url or answer.get("instance_url")
        if not isinstance(root, str) or not root:
            raise PermanentError("salesforce token answer had no instance_url; set base_url")
        return {"api_root": root.rstrip("/")}


class SalesforceAdapter:
    name: ClassVar[str] = "salesforce"
    events: ClassVar[frozenset[str]] = ALL_EVENTS
    Settings: ClassVar[type[AdapterSettings]] = SalesforceSettings

    def __init__(self, settings: SalesforceSettings, http: aiohttp.ClientSession) -> None:
        self.settings = settings
        self.http = http
        self._token = CachedToken(SalesforceGrant(settings), http, settings.timeout_seconds)

    async def _call(self, method: str, path: str, body: dict[str, Any]) -> HttpResult:
        token, fresh = await self._token.get()
        result = await http_request(
            self.http,
            "salesforce",
            method,
            f"{token.extras['api_root']}/services/data/v{self.settings.api_version}{path}",
            json=body,
            headers={"Authorization": f"Bearer {token.value}", "Accept": "application/json"},
            timeout=self.settings.timeout_seconds,
            check=False,
        )
        if result.status == 401:  # an expired or revoked session: the retry logs in again
            self._token.unauthorized(token, fresh)
        classify_status("salesforce", result.status, result.headers, result.text)
        return result

    async def send(self, message: AlertMessage, target: Target) -> Receipt:
        if target.external_id is None:
            result = await self._call("POST", "/sobjects/Task", create_body(message, target.address))
            body = _json(result)
            if body.get("success") is False or not body.get("id"):
                raise PermanentError(f"salesforce did not create the task: {str(body.get('errors'))[:200]}")
            return Receipt(external_id=str(body["id"]), detail=f"Task {body['id']} created")
        owner_fields(target.address)  # a bad address is a config error on every event, not only the first
        path = f"/sobjects/Task/{quote(target.external_id, safe='')}"
        result = await self._call("PATCH", path, update_body(message))
        return Receipt(external_id=target.external_id, detail=f"Task updated (HTTP {result.status})")


def _json(result: HttpResult) -> dict[str, Any]:
    try:
        body = result.json()
    except ValueError:
        raise PermanentError(
            f"salesforce answered HTTP {result.status} with a body that is not JSON"
        ) from None
    return body if isinstance(body, dict) else {}
