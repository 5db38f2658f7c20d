"""A fake Slack Web API on 127.0.0.1, for the Slack adapter and the Bolt front end.

Built on :class:`~tests.fakes.vendor.FakeVendor`: every call is recorded, looked up in
``../shared/vendor-api/slack.json`` by its method's path (Slack takes every method by GET or POST, whichever
the archived spec lists) and checked against its ``request_schema`` plus its query/form ``parameters``; it
must carry ``Authorization: Bearer xoxb-…``. slack_sdk sends JSON, where ``blocks`` and ``view`` are arrays
and objects; the archived spec describes the form encoding, where they are JSON strings. So each body is
brought to the form shape before the check (arrays/objects → JSON text), and ``blocks`` is then also held
to Slack's Block Kit limits (:func:`block_kit_problems`). Problems go to ``errors`` and are answered like
Slack would (``{"ok": false, "error": "invalid_arguments"}``).

Messages are kept per channel and ts, so a test reads the *current* card after ``chat.update``
(:meth:`FakeSlack.card`) and its thread (:meth:`FakeSlack.replies`). ``views.publish`` keeps each person's
App Home (:meth:`FakeSlack.home`), held to Slack's limits for Home views.

Several workspaces: :meth:`FakeSlack.consent` is a person approving the app on Slack's consent screen; it
hands out the ``code`` that ``oauth.v2.access`` exchanges (client id and secret by HTTP Basic, as slack_sdk
sends them, or as form fields) for a new bot token of that workspace. Every later call is answered for the
workspace its token belongs to (``auth.test`` names it), and :meth:`FakeSlack.revoke` makes a workspace's
tokens answer ``token_revoked``. Tokens the fake did not issue belong to :data:`TEAM_ID`.

:meth:`FakeSlack.fail_next` queues a Slack failure: ``fail_next("chat.postMessage")`` is a 429
``ratelimited`` with ``Retry-After: 3``; ``fail_next("chat.postMessage", "channel_not_found", status=200)`` is
an ``ok: false`` inside a 200.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import itertools
import json
import re
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

import pytest
from aiohttp import web

from tests.fakes.described import Described, operation_schema
from tests.fakes.shared import vendor_spec
from tests.fakes.vendor import Document, FakeVendor, Recorded

TEAM_ID = "T0STOCK"
BOT_USER_ID = "U0STOCKBOT"
BOT_ID = "B0STOCKBOT"
_BEARER = re.compile(r"^Bearer xox[be](?:\.xoxb)?-[A-Za-z0-9-]+$")
# apps.connections.open (Socket Mode) takes the app-level token instead of the bot token.
_APP_BEARER = re.compile(r"^Bearer xapp-[A-Za-z0-9-]+$")

# Slack's documented Block Kit limits (https://api.slack.com/reference/block-kit).
MAX_MESSAGE_BLOCKS = 50
MAX_VIEW_BLOCKS = 100  # modals and Home tabs
MAX_SELECT_OPTIONS = 100
TEXT_LIMITS = {"header": 150, "section": 3000, "field": 2000, "context": 3000, "button": 75, "option": 75}


@cache
def method_schema(operation: str) -> dict[str, Any]:
    """The request schema of a Web API method: the spec's body properties plus its query/form parameters
    (the archived spec models views.open's ``trigger_id`` and ``view`` as query parameters). ``token`` is
    left out: with JSON bodies it travels as the Bearer header, which the fake checks on its own."""
    spec = vendor_spec("slack")
    entry = (
        spec
        if spec["operation"] == operation
        else next(o for o in spec["additional_operations"] if o["operation"] == operation)
    )
    schema = copy.deepcopy(operation_schema(spec, operation))
    for param in entry.get("parameters", []):
        if param.get("in") in ("query", "formData") and param["name"] != "token":
            schema.setdefault("properties", {})[param["name"]] = {"type": param.get("type", "string")}
            if param.get("required"):
                schema.setdefault("required", []).append(param["name"])
    return schema


def slack_document(recorded: Recorded, described: Described) -> Document:
    """Query string and body (JSON or form) together, in the form shape the archived spec describes."""
    params = dict(recorded.query)
    if isinstance(recorded.body, dict):
        params.update(recorded.body)
    schema = method_schema(described.operation)
    return form_shape(params, schema), schema, []


def invalid_arguments(problems: list[str]) -> web.Response:
    return web.json_response(
        {"ok": False, "error": "invalid_arguments", "response_metadata": {"messages": problems}}
    )


def form_shape(params: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """A JSON body as the form body the spec describes: arrays/objects → JSON text, "true" ↔ true."""
    properties = schema.get("properties", {})
    shaped = {}
    for key, value in params.items():
        kind = properties.get(key, {}).get("type")
        if kind == "string" and isinstance(value, list | dict):
            value = json.dumps(value)
        elif kind == "string" and isinstance(value, bool):
            value = str(value).lower()
        elif kind == "boolean" and value in ("true", "false", "1", "0"):
            value = value in ("true", "1")
        shaped[key] = value
    return shaped


def block_kit_problems(blocks: Any, max_blocks: int = MAX_MESSAGE_BLOCKS) -> list[str]:
    """Slack's limits for message blocks: what Slack answers ``invalid_blocks`` for."""
    if not isinstance(blocks, list):
        return [f"blocks must be a JSON array, not {type(blocks).__name__}"]
    problems = [f"{len(blocks)} blocks; Slack allows {max_blocks}"] if len(blocks) > max_blocks else []

    def check(where: str, obj: Any, kind: str) -> None:
        text = obj.get("text") if isinstance(obj, dict) else None
        if not isinstance(text, str) or not text:
            problems.append(f"{where}: missing text")
        elif len(text) > TEXT_LIMITS[kind]:
            problems.append(f"{where}: {len(text)} characters; the limit is {TEXT_LIMITS[kind]}")

    for i, block in enumerate(blocks):
        kind = block.get("type")
        if kind == "header":
            check(f"blocks[{i}].text", block.get("text"), "header")
        elif kind == "section":
            if "text" in block:
                check(f"blocks[{i}].text", block["text"], "section")
            for j, field_ in enumerate(block.get("fields", [])):
                check(f"blocks[{i}].fields[{j}]", field_, "field")
            if len(block.get("fields", [])) > 10:
                problems.append(f"blocks[{i}]: more than 10 fields")
        elif kind == "context":
            for j, element in enumerate(block.get("elements", [])):
                check(f"blocks[{i}].elements[{j}]", element, "context")
        elif kind == "actions":
            for j, element in enumerate(block.get("elements", [])):
                if element.get("type") == "button":
                    check(f"blocks[{i}].elements[{j}].text", element.get("text"), "button")
                for k, option in enumerate(element.get("options", [])):
                    check(f"blocks[{i}].elements[{j}].options[{k}].text", option.get("text"), "option")
                    if len(option.get("value", "")) > 150:
                        problems.append(f"blocks[{i}].elements[{j}].options[{k}].value: over 150")
            if len(block.get("elements", [])) > 25:
                problems.append(f"blocks[{i}]: more than 25 elements")
        if len(block.get("block_id", "")) > 255:
            problems.append(f"blocks[{i}].block_id: over 255 characters")
        accessory = block.get("accessory")
        if isinstance(accessory, dict) and accessory.get("type") == "static_select":
            problems += select_problems(f"blocks[{i}].accessory", accessory)
    return problems


def select_problems(where: str, menu: dict[str, Any]) -> list[str]:
    """A static_select: 1 to 100 options, short labels and values, the initial option one of them."""
    options = menu.get("options") or []
    problems = [] if 0 < len(options) <= MAX_SELECT_OPTIONS else [f"{where}: {len(options)} options"]
    for k, option in enumerate(options):
        text = (option.get("text") or {}).get("text", "")
        if not text or len(text) > TEXT_LIMITS["option"] or len(option.get("value", "")) > 150:
            problems.append(f"{where}.options[{k}]: text 1-75 and value up to 150 characters")
    if "initial_option" in menu and menu["initial_option"] not in options:
        problems.append(f"{where}.initial_option is not one of its options")
    return problems


def view_problems(view: Any) -> list[str]:
    """A Home view (views.publish): type home, at most 100 blocks, block ids unique, Block Kit limits."""
    if not isinstance(view, dict):
        return ["view must be a JSON object"]
    problems = (
        [] if view.get("type") == "home" else [f"views.publish takes a home view, not {view.get('type')!r}"]
    )
    blocks = view.get("blocks")
    problems += block_kit_problems(blocks, MAX_VIEW_BLOCKS)
    ids = [b["block_id"] for b in blocks or [] if isinstance(b, dict) and "block_id" in b]
    problems += [f"block_id {i!r} is used twice" for i in sorted(set(ids)) if ids.count(i) > 1]
    return problems


@dataclass
class _Failure:
    method: str
    status: int
    error: str
    retry_after: float | None


class FakeSlack:
    """A Slack workspace with one bot. Give it a FakeVendor to install into (the contract test does), or
    let it make and :meth:`start` its own."""

    def __init__(self, vendor: FakeVendor | None = None) -> None:
        self.vendor = vendor or FakeVendor("slack")
        self.messages: dict[str, dict[str, dict[str, Any]]] = {}  # channel id → ts → message
        self.ephemeral: list[dict[str, Any]] = []
        self.views: list[dict[str, Any]] = []
        self.users: dict[str, dict[str, Any]] = {}
        self.usergroups: dict[str, list[str]] = {}
        self._channel_ids: dict[str, str] = {}
        self.socket_url = "ws://127.0.0.1:9/link"  # what apps.connections.open answers; set by a test
        self.responses: list[dict[str, Any]] = []  # what was posted to a response_url (see response_url())
        self._failures: list[_Failure] = []
        self._last_us = 0
        self.homes: dict[tuple[str, str], dict[str, Any]] = {}  # (team, user) → their published Home view
        self.tokens: dict[str, str] = {}  # bot token → its workspace, for tokens issued by oauth.v2.access
        self.revoked: set[str] = set()
        self.client_id, self.client_secret = "1111.2222", "fake-slack-client-secret-0123456789"
        self._codes: dict[str, tuple[str, str, str]] = {}  # code → (team id, team name, installer)
        self._issued = itertools.count(1)
        handlers: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
            "auth.test": self._auth_test,
            "chat.postMessage": self._post_message,
            "chat.update": self._update,
            "chat.postEphemeral": self._post_ephemeral,
            "views.open": self._views_open,
            "views.publish": self._views_publish,
            "oauth.v2.access": self._oauth_v2_access,
            "users.info": self._users_info,
            "usergroups.users.list": self._usergroup_users,
            "apps.connections.open": self._connections_open,
        }
        self.vendor.describe_by(
            "slack", prefix="/api", any_method=True, document=slack_document, refuse=invalid_arguments
        )
        for method, handler in handlers.items():
            self.vendor.expect("*", f"/api/{method}", respond=self._responder(method, handler), name=method)
        self.vendor.expect(
            "POST",
            "/response_url/{hook}",
            respond=self._response_url,
            name="response_url",
            undescribed="a response_url is a per-interaction webhook Slack issues, not a Web API method",
        )

    # --- set-up and inspection ------------------------------------------------------------------------
    async def start(self) -> str:
        return await self.vendor.start()

    async def close(self) -> None:
        await self.vendor.close()

    @property
    def url(self) -> str:
        return self.vendor.url

    @property
    def api_url(self) -> str:
        """What to give ``AsyncWebClient(base_url=…)`` or ``[slack] api_url``."""
        return self.vendor.url + "/api/"

    @property
    def errors(self) -> list[str]:
        return self.vendor.errors

    @property
    def requests(self) -> list[Recorded]:
        return self.vendor.requests

    def calls(self, method: str) -> list[Recorded]:
        return self.vendor.calls(method)

    def fail_next(
        self, method: str, error: str = "ratelimited", status: int = 429, retry_after: float | None = 3
    ) -> None:
        """Answer the next call to ``method`` with ``{"ok": false, "error": error}`` and this status;
        ``Retry-After`` is sent with non-200 answers."""
        self._failures.append(_Failure(method, status, error, retry_after))

    def add_user(
        self, user_id: str, name: str, *, tz: str = "UTC", is_bot: bool = False, locale: str = "en-US"
    ) -> None:
        self.users[user_id] = {
            "id": user_id, "name": name, "real_name": name, "tz": tz, "is_bot": is_bot, "locale": locale
        }  # fmt: skip

    def channel_id(self, channel: str) -> str:
        """Slack answers with ids even when called with ``#name``; the fake makes a stable id per name."""
        if not channel.startswith("#"):
            return channel
        digest = hashlib.sha1(channel.encode()).hexdigest()[:8].upper()
        return self._channel_ids.setdefault(channel, f"C{digest}")

    def consent(self, team_id: str, team_name: str = "Acme", installer: str = "U0INSTALLER") -> str:
        """A person in ``team_id`` approves the app on Slack's consent screen: the ``code`` Slack then puts
        on the redirect URL."""
        code = f"{next(self._issued)}.{team_id}.{hashlib.sha1(team_id.encode()).hexdigest()[:8]}"
        self._codes[code] = (team_id, team_name, installer)
        return code

    def revoke(self, team_id: str) -> None:
        """The workspace removed the app: its tokens stop working."""
        self.revoked |= {token for token, team in self.tokens.items() if team == team_id}

    def token_of(self, team_id: str) -> str:
        (token,) = [t for t, team in self.tokens.items() if team == team_id and t not in self.revoked]
        return token

    def team_of(self, recorded: Recorded) -> str:
        """The workspace a call was made for, by its token."""
        token = recorded.headers.get("Authorization", "").removeprefix("Bearer ")
        return self.tokens.get(token, TEAM_ID)

    def home(self, user_id: str, team_id: str = TEAM_ID) -> dict[str, Any]:
        """``user_id``'s App Home as last published."""
        return self.homes[(team_id, user_id)]

    def response_url(self, hook: str = "T0STOCK-1") -> str:
        """A ``response_url`` for a test payload: what is posted there lands in :attr:`responses`."""
        return f"{self.url}/response_url/{hook}"

    def posts(self, channel: str) -> list[dict[str, Any]]:
        """Top-level messages in ``channel`` (cards), oldest first, as they are now."""
        return [m for m in self.messages.get(channel, {}).values() if "thread_ts" not in m]

    def card(self, channel: str, ts: str) -> dict[str, Any]:
        return self.messages[channel][ts]

    def replies(self, channel: str, ts: str) -> list[dict[str, Any]]:
        return [m for m in self.messages.get(channel, {}).values() if m.get("thread_ts") == ts]

    # --- serving --------------------------------------------------------------------------------------
    def _responder(
        self, method: str, handler: Callable[[dict[str, Any]], dict[str, Any]]
    ) -> Callable[[Recorded], web.Response]:
        def respond(recorded: Recorded) -> web.Response:
            params = dict(recorded.query)
            if isinstance(recorded.body, dict):
                params.update(recorded.body)
            problems = self._problems(method, recorded, params)
            token = recorded.headers.get("Authorization", "").removeprefix("Bearer ")
            if not problems and token in self.revoked:
                return web.json_response({"ok": False, "error": "token_revoked"})
            if problems:
                self.errors.extend(f"{method}: {p}" for p in problems)
                error = "not_authed" if any("Authorization" in p for p in problems) else "invalid_arguments"
                return web.json_response(
                    {"ok": False, "error": error, "response_metadata": {"messages": problems}}
                )
            failure = next((f for f in self._failures if f.method == method), None)
            if failure:
                self._failures.remove(failure)
                headers = {}
                if failure.retry_after is not None and failure.status != 200:
                    headers["Retry-After"] = f"{failure.retry_after:g}"
                body = {"ok": False, "error": failure.error}
                return web.json_response(body, status=failure.status, headers=headers)
            if method in ("auth.test", "views.publish"):
                params = {**params, "_team": self.team_of(recorded)}  # answered for the token's workspace
            return web.json_response(handler(params))

        return respond

    def _problems(self, method: str, recorded: Recorded, params: dict[str, Any]) -> list[str]:
        problems = []
        if method == "oauth.v2.access":
            return self._client_problems(recorded, params)
        app_level = method == "apps.connections.open"
        if not (_APP_BEARER if app_level else _BEARER).match(recorded.headers.get("Authorization", "")):
            token = "xapp-" if app_level else "xoxb-"
            problems.append(f"no Authorization: Bearer {token}… header (Slack requires it with JSON bodies)")
        if "blocks" in params:
            blocks = params["blocks"]
            problems += block_kit_problems(json.loads(blocks) if isinstance(blocks, str) else blocks)
        if method == "chat.postMessage" and not any(params.get(k) for k in ("text", "blocks", "attachments")):
            problems.append("no_text: one of text, blocks or attachments is required")
        if method == "views.publish":
            view = params.get("view")
            problems += view_problems(json.loads(view) if isinstance(view, str) else view)
        return problems

    def _client_problems(self, recorded: Recorded, params: dict[str, Any]) -> list[str]:
        """oauth.v2.access takes no token: the app's client id and secret, by HTTP Basic or as fields."""
        header = recorded.headers.get("Authorization", "")
        if header.startswith("Basic "):
            client_id, _, secret = base64.b64decode(header[6:]).decode().partition(":")
        else:
            client_id, secret = params.get("client_id", ""), params.get("client_secret", "")
        if (client_id, secret) != (self.client_id, self.client_secret):
            return ["invalid_client_id or bad_client_secret: not the app's client id and secret"]
        return []

    def _next_ts(self) -> str:
        """Message timestamps as Slack makes them: wall-clock seconds.microseconds, strictly increasing."""
        self._last_us = max(time.time_ns() // 1000, self._last_us + 1)
        return f"{self._last_us // 1_000_000}.{self._last_us % 1_000_000:06d}"

    @staticmethod
    def _blocks(params: dict[str, Any]) -> list[Any]:
        blocks = params.get("blocks", [])
        return json.loads(blocks) if isinstance(blocks, str) else blocks

    # --- one handler per Web API method, answering the documented success shape ---------------------
    def _auth_test(self, params: dict[str, Any]) -> dict[str, Any]:
        team = params.get("_team", TEAM_ID)
        return {
            "ok": True,
            "url": f"https://{team.lower()}.slack.com/",
            "team": "stockbot test",
            "user": "stockbot",
            "team_id": team,
            "user_id": BOT_USER_ID,
            "bot_id": BOT_ID,
            "is_enterprise_install": False,
        }

    def _views_publish(self, params: dict[str, Any]) -> dict[str, Any]:
        view = params["view"]
        view = json.loads(view) if isinstance(view, str) else view
        team = params["_team"]
        self.homes[(team, params["user_id"])] = view
        return {"ok": True, "view": {"id": f"V{len(self.homes):08d}", "team_id": team, **view}}

    def _oauth_v2_access(self, params: dict[str, Any]) -> dict[str, Any]:
        """The documented answer: a bot token for the workspace whose person gave this code (once)."""
        found = self._codes.pop(params.get("code", ""), None)
        if found is None:
            return {"ok": False, "error": "invalid_code"}
        team, name, installer = found
        token = f"xoxb-{team}-{next(self._issued)}-{hashlib.sha1(team.encode()).hexdigest()[:12]}"
        self.tokens[token] = team
        return {
            "ok": True,
            "access_token": token,
            "token_type": "bot",
            "scope": "chat:write,commands,usergroups:read,users:read",
            "bot_user_id": BOT_USER_ID,
            "app_id": "A0STOCKBOT",
            "team": {"name": name, "id": team},
            "enterprise": None,
            "is_enterprise_install": False,
            "authed_user": {"id": installer},
        }

    def _post_message(self, params: dict[str, Any]) -> dict[str, Any]:
        channel, ts = self.channel_id(params["channel"]), self._next_ts()
        message = {
            "type": "message",
            "user": BOT_USER_ID,
            "bot_id": BOT_ID,
            "ts": ts,
            "text": params.get("text", ""),
            "blocks": self._blocks(params),
        }
        if params.get("thread_ts"):
            message["thread_ts"] = params["thread_ts"]
        self.messages.setdefault(channel, {})[ts] = message
        return {"ok": True, "channel": channel, "ts": ts, "message": message}

    def _update(self, params: dict[str, Any]) -> dict[str, Any]:
        channel, ts = self.channel_id(params["channel"]), params["ts"]
        message = self.messages.get(channel, {}).get(ts)
        if message is None:
            return {"ok": False, "error": "message_not_found"}
        if "text" in params:
            message["text"] = params["text"]
        if "blocks" in params:  # Slack keeps the old blocks when none are sent
            message["blocks"] = self._blocks(params)
        message["edited"] = {"user": BOT_USER_ID, "ts": self._next_ts()}
        return {"ok": True, "channel": channel, "ts": ts, "text": message["text"], "message": message}

    def _post_ephemeral(self, params: dict[str, Any]) -> dict[str, Any]:
        ts = self._next_ts()
        self.ephemeral.append({**params, "blocks": self._blocks(params), "message_ts": ts})
        return {"ok": True, "message_ts": ts}

    def _views_open(self, params: dict[str, Any]) -> dict[str, Any]:
        view = params["view"]
        view = json.loads(view) if isinstance(view, str) else view
        self.views.append({"trigger_id": params["trigger_id"], "view": view})
        return {"ok": True, "view": {"id": f"V{len(self.views):08d}", "team_id": TEAM_ID, **view}}

    def _users_info(self, params: dict[str, Any]) -> dict[str, Any]:
        user = self.users.get(params.get("user", ""))
        if user is None:
            return {"ok": False, "error": "user_not_found"}
        profile = {"real_name": user["real_name"], "display_name": user["name"]}
        found = {**user, "team_id": TEAM_ID, "deleted": False, "profile": profile}
        found.pop("locale", None)
        if str(params.get("include_locale")).lower() in ("true", "1"):  # Slack adds it only when asked
            found["locale"] = user.get("locale", "en-US")
        return {"ok": True, "user": found}

    def _connections_open(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "url": self.socket_url}

    def _response_url(self, recorded: Recorded) -> web.Response:
        """Slack's response_url answers a bare ``ok``; the body is the message (JSON)."""
        body = recorded.body if isinstance(recorded.body, dict) else {}
        self.responses.append({"hook": recorded.match.get("hook", ""), **body})
        return web.Response(text="ok")

    def _usergroup_users(self, params: dict[str, Any]) -> dict[str, Any]:
        users = self.usergroups.get(params.get("usergroup", ""))
        if users is None:
            return {"ok": False, "error": "no_such_subteam"}
        return {"ok": True, "users": list(users)}


@pytest.fixture
async def fake_slack() -> AsyncIterator[FakeSlack]:
    """A started :class:`FakeSlack`; point clients at ``fake_slack.api_url``."""
    fake = FakeSlack()
    await fake.start()
    try:
        yield fake
    finally:
        await fake.close()
