"""Creates a NetSuite task record for an alert and keeps that task current.

API: NetSuite REST Web Services, record API v1 (REST API Browser → task):
``POST /services/rest/record/v1/task`` answers 204 with the new record's URL in ``Location``;
``PATCH /services/rest/record/v1/task/{id}`` updates it (204).

Address: the internal id of the employee the task is assigned to (digits; ``-5`` is the account's first
administrator), or ``default`` to leave ``assigned`` out so NetSuite applies its default (the token's user).

With the receipt's task id (later events of the same alert) the task is updated in place (its message is
re-rendered with the new status line) and:
- resolve: status ``COMPLETE``;
- acknowledge: status ``PROGRESS``;
- escalate: priority ``HIGH``;
- reopen: status ``NOTSTART``.

Auth: OAuth 1.0a token-based authentication (TBA), HMAC-SHA256, realm = the account id, signed by
``oauthlib``. The JSON body is not part of an OAuth 1.0a signature (only form bodies are), so it is signed
without one. Credentials: Setup → Integration → Manage Integrations → New (Token-Based Authentication on)
gives ``consumer_key``/``consumer_secret``; Setup → Users/Roles → Access Tokens → New gives
``token_id``/``token_secret`` for a user whose role may create tasks and use REST Web Services.
``account_id`` is the one in Setup → Company → Company Information (e.g. ``1234567`` or ``1234567_SB1``).
"""

from __future__ import annotations

import logging
import re
from typing import Any, ClassVar, Literal
from urllib.parse import quote, urlsplit

import aiohttp
from oauthlib.oauth1 import SIGNATURE_HMAC_SHA256, SIGNATURE_TYPE_AUTH_HEADER, Client
from pydantic import Field, SecretStr

from stockbot.adapters.base import (
    ALL_EVENTS,
    AdapterSettings,
    AlertMessage,
    PermanentError,
    Receipt,
    Target,
    http_request,
)
from stockbot.adapters.render.text import ticket

TASKS = "/services/rest/record/v1/task"
Method = Literal["POST", "PATCH"]  # what the adapter sends; oauthlib's stubs type the verb it signs
_EMPLOYEE_ID = re.compile(r"^-?[0-9]{1,12}$")
# Our neutral priority word → the task record's priority enum.
PRIORITY = {"normal": "MEDIUM", "high": "HIGH", "urgent": "HIGH"}
# What an event does to an existing task's status (events not listed leave it as it is).
STATUS = {"resolved": "COMPLETE", "acknowledged": "PROGRESS", "reopened": "NOTSTART"}

# oauthlib's client logs every signature's parameters at DEBUG, consumer key and token id included; those are
# credentials here, so its signing chatter is dropped (warnings and errors still pass).
logging.getLogger("oauthlib.oauth1.rfc5849").addFilter(lambda record: record.levelno > logging.DEBUG)


class NetSuiteSettings(AdapterSettings):
    account_id: str = Field(pattern=r"^[0-9A-Za-z_-]+$")
    consumer_key: SecretStr
    consumer_secret: SecretStr
    token_id: SecretStr
    token_secret: SecretStr

    @property
    def realm(self) -> str:
        # The realm is the account id as NetSuite writes it: upper case, "_" before a sandbox suffix.
        return self.account_id.upper().replace("-", "_")

    @property
    def root(self) -> str:
        host = self.account_id.lower().replace("_", "-")  # the hostname form: 1234567-sb1
        return (self.base_url or f"https://{host}.suitetalk.api.netsuite.com").rstrip("/")


def create_body(message: AlertMessage, address: str) -> dict[str, Any]:
    fields = ticket(message)
    body: dict[str, Any] = {
        "title": fields.title,
        "message": fields.description,
        "priority": PRIORITY[fields.priority],
        "status": "NOTSTART",
    }
    if address != "default":
        body["assigned"] = {"id": address}
    return body


def update_body(message: AlertMessage) -> dict[str, Any]:
    body: dict[str, Any] = {"message": ticket(message).description}
    if message.event in STATUS:
        body["status"] = STATUS[message.event]
    if message.event == "escalated":
        body["priority"] = "HIGH"
    return body


def record_id(location: str | None) -> str | None:
    """The id at the end of ``Location: https://…/services/rest/record/v1/task/1234``."""
    if not location:
        return None
    last = urlsplit(location).path.rstrip("/").rsplit("/", 1)[-1]
    return last or None


class NetSuiteAdapter:
    name: ClassVar[str] = "netsuite"
    events: ClassVar[frozenset[str]] = ALL_EVENTS
    Settings: ClassVar[type[AdapterSettings]] = NetSuiteSettings

    def __init__(self, settings: NetSuiteSettings, http: aiohttp.ClientSession) -> None:
        self.settings = settings
        self.http = http

    def _authorization(self, method: Method, url: str) -> str:
        s = self.settings
        client = Client(
            s.consumer_key.get_secret_value(),
            client_secret=s.consumer_secret.get_secret_value(),
            resource_owner_key=s.token_id.get_secret_value(),
            resource_owner_secret=s.token_secret.get_secret_value(),
            signature_method=SIGNATURE_HMAC_SHA256,
            signature_type=SIGNATURE_TYPE_AUTH_HEADER,
            realm=s.realm,
        )
        # Fresh nonce and timestamp per request: NetSuite rejects a reused nonce.
        _, headers, _ = client.sign(url, http_method=method)
        return headers["Authorization"]

    async def _call(self, method: Method, path: str, body: dict[str, Any]) -> dict[str, str]:
        url = self.settings.root + path
        result = await http_request(
            self.http,
            "netsuite",
            method,
            url,
            json=body,
            headers={"Authorization": self._authorization(method, url), "Accept": "application/json"},
            timeout=self.settings.timeout_seconds,
        )
        return dict(result.headers)

    async def send(self, message: AlertMessage, target: Target) -> Receipt:
        if target.address != "default" and not _EMPLOYEE_ID.match(target.address):
            raise PermanentError(
                "netsuite address must be an employee internal id (digits) or 'default', "
                f"got {target.address[:40]!r}"
            )
        if target.external_id is not None:
            await self._call("PATCH", f"{TASKS}/{quote(target.external_id, safe='')}", update_body(message))
            return Receipt(external_id=target.external_id, detail="task updated")
        headers = await self._call("POST", TASKS, create_body(message, target.address))
        location = next((value for key, value in headers.items() if key.lower() == "location"), None)
        task_id = record_id(location)
        if task_id is None:
            # Created, but nothing to update later: say so rather than fail and create it twice on retry.
            return Receipt(external_id=None, detail="task created; NetSuite sent no Location header")
        return Receipt(external_id=task_id, detail=f"task {task_id} created")
