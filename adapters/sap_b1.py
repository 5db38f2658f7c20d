"""Sends each alert event as an internal message to an SAP Business One user, through the Service Layer.

API: SAP Business One Service Layer (https://help.sap.com/docs/SAP_BUSINESS_ONE → Service Layer API
Reference; "Working with SAP Business One Service Layer"): ``POST /b1s/v1/Login`` with CompanyDB, UserName
and Password opens a session (cookies ``B1SESSION`` and, behind SAP's load balancer, ``ROUTEID``); then
``POST /b1s/v1/MessagesService_SendMessage`` with ``{"Message": {...}}`` answers 204.

Address: the B1 user code of the recipient (``OUSR.USER_CODE``, up to 25 characters, e.g. ``manager``).
The message lands in that user's Messages/Alerts Overview inside the B1 client.

SAP messages cannot be edited, so every event (opened, escalated, resolved, ...) is a new message, like
e-mail. The receipt's id is whatever the Service Layer returns (it normally returns nothing: 204), else
the delivery's idempotency key.

Session: the adapter logs in on first use and keeps the session cookies; when the Service Layer answers 401
(the session timed out, 30 minutes idle by default) it logs in again once and repeats the request.

Credentials: ``company_db`` (the company database, e.g. ``SBODEMOUS``), ``username`` and ``password`` of a
B1 user allowed to send messages (a dedicated user, created under Administration → Setup → General →
Users). ``base_url`` is the Service Layer root, e.g. ``https://sap.example.com:50000``; ``verify_tls =
false`` accepts the self-signed certificate many on-premise installations have.
"""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any, ClassVar

import aiohttp
from pydantic import SecretStr

from stockbot.adapters.base import (
    INTERRUPT_EVENTS,
    AdapterSettings,
    AlertMessage,
    HttpResult,
    PermanentError,
    Receipt,
    RetryableError,
    Target,
    classify_status,
    http_request,
)
from stockbot.adapters.render.text import ticket

_USER_CODE = re.compile(r"^\S(?:[^\x00-\x1f]{0,23}\S)?$")
# Our neutral priority word → the Service Layer's BoMsgPriorities values.
PRIORITY = {"normal": "pr_Normal", "high": "pr_High", "urgent": "pr_High"}
SESSION_COOKIES = ("B1SESSION", "ROUTEID")


class SapB1Settings(AdapterSettings):
    base_url: str
    company_db: str
    username: str
    password: SecretStr
    verify_tls: bool = True


def message_body(message: AlertMessage, user_code: str) -> dict[str, Any]:
    fields = ticket(message)
    return {
        "Message": {
            "Subject": fields.title,
            "Text": fields.description,
            "Priority": PRIORITY[fields.priority],
            "RecipientCollection": [{"UserCode": user_code, "SendInternal": "tYES"}],
        }
    }


class SapB1Adapter:
    name: ClassVar[str] = "sap_b1"
    events: ClassVar[frozenset[str]] = INTERRUPT_EVENTS
    Settings: ClassVar[type[AdapterSettings]] = SapB1Settings

    def __init__(self, settings: SapB1Settings, http: aiohttp.ClientSession) -> None:
        self.settings = settings
        self.http = http
        self._cookies: dict[str, str] | None = None
        self._login_lock = asyncio.Lock()

    def _url(self, path: str) -> str:
        return f"{self.settings.base_url.rstrip('/')}/b1s/v1/{path}"

    async def _login(self) -> dict[str, str]:
        """Open a session. Not through ``http_request``: it keeps one value per header, and the session
        needs both ``Set-Cookie`` headers (``B1SESSION`` and the load balancer's ``ROUTEID``)."""
        s = self.settings
        body = {"CompanyDB": s.company_db, "UserName": s.username, "Password": s.password.get_secret_value()}
        try:
            async with self.http.post(
                self._url("Login"),
                json=body,
                ssl=s.verify_tls,
                timeout=aiohttp.ClientTimeout(total=s.timeout_seconds),
            ) as response:
                text = await response.text()
                cookies = {
                    name: response.cookies[name].value for name in SESSION_COOKIES if name in response.cookies
                }
                status, headers = response.status, dict(response.headers)
        except TimeoutError as exc:
            raise RetryableError(f"sap_b1 login: no answer within {s.timeout_seconds:g}s") from exc
        except aiohttp.ClientError as exc:
            raise RetryableError(f"sap_b1 login: connection failed ({type(exc).__name__})") from exc
        if status == 401:
            raise PermanentError("sap_b1 login refused (HTTP 401): check company_db, username and password")
        classify_status("sap_b1 login", status, headers, text)
        if (
            "B1SESSION" not in cookies
        ):  # a proxy that drops Set-Cookie: the body's SessionId is the same value
            session_id = _json_field(text, "SessionId")
            if session_id:
                cookies["B1SESSION"] = session_id
        if "B1SESSION" not in cookies:
            raise PermanentError("sap_b1 login answered without a B1SESSION cookie")
        return cookies

    async def _session(self, stale: dict[str, str] | None = None) -> dict[str, str]:
        # One login at a time; a send that saw a 401 replaces only the session it used.
        async with self._login_lock:
            if self._cookies is None or self._cookies is stale:
                self._cookies = await self._login()
            return self._cookies

    async def _send_message(self, body: dict[str, Any], cookies: dict[str, str]) -> HttpResult:
        return await http_request(
            self.http,
            "sap_b1",
            "POST",
            self._url("MessagesService_SendMessage"),
            json=body,
            headers={"Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items())},
            ssl=self.settings.verify_tls,
            timeout=self.settings.timeout_seconds,
            check=False,
        )

    async def send(self, message: AlertMessage, target: Target) -> Receipt:
        if not _USER_CODE.match(target.address):
            raise PermanentError(
                f"sap_b1 address must be a B1 user code (up to 25 characters), got {target.address[:40]!r}"
            )
        body = message_body(message, target.address)
        cookies = await self._session()
        result = await self._send_message(body, cookies)
        if result.status == 401:  # session expired or was dropped by a Service Layer restart
            cookies = await self._session(stale=cookies)
            result = await self._send_message(body, cookies)
        classify_status("sap_b1", result.status, result.headers, result.text)
        return Receipt(external_id=_message_id(result) or target.idempotency_key, detail="message sent")


def _json_field(text: str, name: str) -> str | None:
    try:
        answer = json.loads(text) if text else None
    except ValueError:
        return None
    value = answer.get(name) if isinstance(answer, dict) else None
    return str(value) if value is not None else None


def _message_id(result: HttpResult) -> str | None:
    # The documented answer is 204 without a body; an instance that does answer with the entity gives its
    # key (``Code`` on the Messages entity).
    return _json_field(result.text, "Code")
