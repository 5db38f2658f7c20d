"""Creates a Zoho CRM Task for an alert and completes it when stock is back.

API: https://www.zoho.com/crm/developer/docs/api/v8/insert-records.html and .../update-records.html
(``POST /crm/v8/Tasks``, ``PUT /crm/v8/Tasks/{id}``; body ``{"data": [{...}]}``).

Address: ``default`` (the token's user owns the task) or a Zoho user id (digits) set as the task ``Owner``.

With the receipt's record id (later events of the same alert) the task is updated in place: Subject and
Description always (the description shows who acknowledged or escalated); escalate also sets Priority
Highest, resolve sets Status Completed, reopen sets Not Started again.

Auth: OAuth 2.0 refresh-token flow for a Self Client (https://api-console.zoho.com → Self Client → scope
``ZohoCRM.modules.tasks.ALL`` → generate a code → exchange it once for a refresh token). Data centres differ:
use the accounts server of yours in ``token_url`` (accounts.zoho.eu, .in, .com.au, .jp, .ca, .sa …). The API
root is ``base_url`` if set, else the ``api_domain`` the token answer names. The header prefix is
``Zoho-oauthtoken``, not ``Bearer``. Zoho reports per-record results inside a 2xx body (``data[].code``);
those codes are mapped below.
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
    DeliveryError,
    HttpResult,
    PermanentError,
    Receipt,
    RetryableError,
    Target,
    classify_status,
    http_request,
    json_object,
)
from stockbot.adapters.oauth import CachedToken, TokenGrant, TokenRequest
from stockbot.adapters.render.text import ticket

# Tasks' standard Priority picklist: Highest, High, Normal, Low, Lowest.
PRIORITY = {"normal": "Normal", "high": "High", "urgent": "Highest"}
# data[].code values that are not SUCCESS. Any other code is permanent: the record itself was refused.
RECORD_ERRORS: dict[str, type[DeliveryError]] = {
    "INTERNAL_ERROR": RetryableError,
    "LIMIT_EXCEEDED": RetryableError,
    "TOO_MANY_REQUESTS": RetryableError,
    "MANDATORY_NOT_FOUND": PermanentError,
    "INVALID_DATA": PermanentError,
    "DUPLICATE_DATA": PermanentError,
    "NO_PERMISSION": PermanentError,
    "RECORD_NOT_FOUND": PermanentError,
}
# The accounts server answers some refusals with HTTP 200 and an "error" field; this one means too many
# token requests in a short time (Zoho limits them per refresh token).
TOKEN_RETRYABLE = {"Access Denied"}
_USER_ID = re.compile(r"^[0-9]{1,25}$")


class ZohoCrmSettings(AdapterSettings):
    client_id: str
    client_secret: SecretStr
    refresh_token: SecretStr
    token_url: str = "https://accounts.zoho.com/oauth/v2/token"
    # base_url (inherited): None = the token answer's api_domain, e.g. https://www.zohoapis.com


def owner_fields(address: str) -> dict[str, Any]:
    if address == "default":
        return {}
    if _USER_ID.match(address):
        return {"Owner": {"id": address}}
    raise PermanentError(f"zoho_crm address must be 'default' or a user id (digits), got {address[:40]!r}")


def create_record(message: AlertMessage, address: str) -> dict[str, Any]:
    fields = ticket(message)
    return {
        "Subject": fields.title,
        "Description": fields.description,
        "Priority": PRIORITY[fields.priority],
        "Status": "Not Started",
        "Due_Date": message.opened_at.date().isoformat(),
        **owner_fields(address),
    }


def update_record(message: AlertMessage) -> dict[str, Any]:
    fields = ticket(message)
    record: dict[str, Any] = {"Subject": fields.title, "Description": fields.description}
    if message.is_resolved:
        record["Status"] = "Completed"
    elif message.event == "reopened":
        record["Status"] = "Not Started"
    elif message.event == "escalated":
        record["Priority"] = "Highest"
    return record


def record_id(result: HttpResult) -> str:
    """The id of the one record written, or the error its ``data[0].code`` maps to."""
    try:
        (record,) = result.json()["data"]
        code = str(record.get("code", ""))
    except (ValueError, TypeError, KeyError):
        raise PermanentError(f"zoho_crm answered HTTP {result.status} without a record result") from None
    if code == "SUCCESS" and record.get("details", {}).get("id"):
        return str(record["details"]["id"])
    error = RECORD_ERRORS.get(code, PermanentError)
    raise error(f"zoho_crm refused the task: {code or 'no code'} {str(record.get('message', ''))[:120]}")


class ZohoGrant(TokenGrant):
    """The refresh-token grant; the API root is the answer's ``api_domain`` unless ``base_url`` is set."""

    vendor = "zoho_crm"

    def __init__(self, settings: ZohoCrmSettings) -> None:
        self.settings = settings

    async def request(self) -> TokenRequest:
        s = self.settings
        form = {
            "grant_type": "refresh_token",
            "client_id": s.client_id,
            "client_secret": s.client_secret.get_secret_value(),
            "refresh_token": s.refresh_token.get_secret_value(),
        }
        # In the body, not the query string Zoho's examples use: secrets stay out of URLs and logs.
        return TokenRequest(s.token_url, form)

    def check(self, result: HttpResult) -> None:
        error = str(json_object(result.text).get("error", ""))
        if error in TOKEN_RETRYABLE:
            raise RetryableError(f"zoho_crm token endpoint: {error} (too many token requests)", 60.0)
        super().check(result)
        if error:
            raise PermanentError(f"zoho_crm token request refused: {error}")

    async def accept(self, answer: dict[str, Any]) -> dict[str, str]:
        root = self.settings.base_url or answer.get("api_domain")
        if not isinstance(root, str) or not root:
            raise PermanentError("zoho_crm token answer had no api_domain; set base_url")
        return {"api_root": root.rstrip("/")}


class ZohoCrmAdapter:
    name: ClassVar[str] = "zoho_crm"
    events: ClassVar[frozenset[str]] = ALL_EVENTS
    Settings: ClassVar[type[AdapterSettings]] = ZohoCrmSettings

    def __init__(self, settings: ZohoCrmSettings, http: aiohttp.ClientSession) -> None:
        self.settings = settings
        self.http = http
        self._token = CachedToken(ZohoGrant(settings), http, settings.timeout_seconds)

    async def _call(self, method: str, path: str, record: dict[str, Any]) -> str:
        token, fresh = await self._token.get()
        result = await http_request(
            self.http,
            "zoho_crm",
            method,
            f"{token.extras['api_root']}/crm/v8{path}",
            json={"data": [record]},
            headers={"Authorization": f"Zoho-oauthtoken {token.value}"},
            timeout=self.settings.timeout_seconds,
            check=False,
        )
        if result.status == 401:  # INVALID_TOKEN: expired or revoked early
            self._token.unauthorized(token, fresh)
        classify_status("zoho_crm", result.status, result.headers, result.text)
        return record_id(result)

    async def send(self, message: AlertMessage, target: Target) -> Receipt:
        if target.external_id is None:
            new_id = await self._call("POST", "/Tasks", create_record(message, target.address))
            return Receipt(external_id=new_id, detail=f"task {new_id} created")
        owner_fields(target.address)  # a bad address is a config error on every event, not only the first
        await self._call("PUT", f"/Tasks/{quote(target.external_id, safe='')}", update_record(message))
        return Receipt(external_id=target.external_id, detail="task updated")
