"""The Slack front end: ``/stock``, ``/oos`` and the alert card's buttons, through a slack-bolt ``AsyncApp``.

HTTP mode: Slack sends slash commands and interactivity to ``POST /slack/events`` on the main aiohttp app.
Socket Mode: with ``[slack] app_token`` (``xapp-…``), the same Bolt app also takes requests over a WebSocket
that stockbot opens to Slack, so no public URL is needed (the HTTP route stays, verified as always).

Decisions:

- Every HTTP request is verified here, before Bolt: ``X-Slack-Signature`` over ``v0:<timestamp>:<raw body>``
  with the signing secret, timestamp within 5 minutes of stockbot's clock. A failure answers 401, writes a
  ``request.refused`` audit row and counts ``stockbot_requests_refused_total{front_end="slack"}``; nothing
  else happens. Bolt's own verifier is off, so there is one check, on one clock, and it is audited.
- Retries never act twice: a request carrying ``X-Slack-Retry-Num`` (HTTP, or ``retry_attempt`` in Socket
  Mode, which Bolt maps to the same header) is verified, then answered 200 with ``X-Slack-No-Retry: 1`` and
  skipped. Slack retries only when the first delivery got no 200 within 3 s, and every listener here answers
  within milliseconds (ack first), so a retry means the first attempt reached us or Slack gives up anyway;
  an in-memory dedupe key would not survive a restart or span several replicas, skipping does.
- Ack first, work after: each listener calls ``ack()`` and hands the work to a tracked task
  (:meth:`SlackFrontEnd.spawn`); failures are logged and the user is told. :meth:`SlackFrontEnd.settle`
  waits for pending work (tests, shutdown).
- Answers are ephemeral (``chat.postEphemeral``); where the bot may not post (a channel it is not in),
  they go through the request's ``response_url`` instead.
- Permission is the core's: the user's id and their Slack user groups (those named in ``[roles]``, looked
  up with ``usergroups.users.list`` and cached 5 minutes) go into an :class:`Actor`; ``AlertDesk`` decides.
- A verified body is read before Bolt (``handlers/slack_body.py``): anything but the shapes Slack sends is
  answered 400 (Bolt assumes those shapes and would answer 500). Bolt then gets the body as JSON, so its
  own parsing cannot read it differently.
- Bolt's authorization is this app's bot token, not an ``auth.test`` call on the first request: requests
  are verified above and listeners use stockbot's own client, so Slack's API being unreachable never turns
  a slash command into an error.
- One workspace (``[slack] bot_token``) or many (``client_id``/``client_secret``: installed from "Add to
  Slack", ``handlers/slack_install.py``): every answer and lookup uses the token of the workspace the request
  came from (:meth:`SlackFrontEnd.workspace`), and the actor carries that workspace for workspace roles.
- The App Home tab (``handlers/slack_home.py``) lists a person's open alerts with the card's buttons; a click
  there is answered by republishing their Home (:meth:`SlackFrontEnd.tell`).
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import re
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import aiohttp
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_bolt.authorization import AuthorizeResult
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient

from stockbot.adapters import notes
from stockbot.adapters.base import register_secret
from stockbot.adapters.i18n import language_of, phrase, said
from stockbot.adapters.render import slack_answers as say
from stockbot.adapters.render.slack import (
    ACK_ACTION_ID,
    ACK_ALL_ACTION,
    ESCALATE_ACTION_ID,
    RESOLVE_ACTION_ID,
    SNOOZE_ACTION_ID,
)
from stockbot.adapters.slack import SlackSettings
from stockbot.bot.access import WebAccess
from stockbot.bot.alerts import NotFound, Outcome, retrying
from stockbot.bot.clock import Clock
from stockbot.bot.permissions import Actor, PermissionDenied
from stockbot.bot.refusals import refuse_request
from stockbot.bot.report_requests import BadReportRequest, chat_report
from stockbot.bot.runtime import Runtime
from stockbot.bot.stock import (
    escalated_to,
    escalation_channels,
    lookup,
    parse_flag,
    record_lookup,
    resolve_sku,
)
from stockbot.bot.transitions import InvalidTransition
from stockbot.handlers import slack_install
from stockbot.handlers.bodies import BodyError, read_body
from stockbot.handlers.problems import problem
from stockbot.handlers.slack_body import slack_body
from stockbot.handlers.slack_home import HomeTab
from stockbot.storage.slack_installations import SlackInstallations

log = logging.getLogger("stockbot.slack")
PATH = "/slack/events"
EXTRA_KEY = "slack"  # runtime.extras["slack"] is the SlackFrontEnd
TOLERANCE_SECONDS = 300
GROUP_CACHE = timedelta(minutes=5)
NAME_CACHE = timedelta(hours=1)
STOCK_RESULTS = 5
RESOLVED_FROM_CARD = notes.RESOLVED_FROM_SLACK  # the reason a button click gives (no room to type one)
CLICKS = {
    ACK_ACTION_ID: "acknowledge",
    ESCALATE_ACTION_ID: "escalate",
    SNOOZE_ACTION_ID: "snooze",
    RESOLVE_ACTION_ID: "resolve",
}
SHUTDOWN_GRACE_SECONDS = 10.0
_USER_GROUP = re.compile(r"^S[A-Z0-9]{2,}$")
_ENTITIES = (("&lt;", "<"), ("&gt;", ">"), ("&amp;", "&"))


class RefusedRequest(Exception):
    """Why a request was not verified; the text is safe for the log and the audit row."""


def verify_request(secret: str | None, body: bytes, headers: Mapping[str, str], now: float) -> None:
    """Raise :class:`RefusedRequest` unless Slack signed ``body`` with ``secret`` within 5 minutes."""
    if not secret:
        raise RefusedRequest("no [slack] signing_secret is configured, so no request can be verified")
    timestamp = headers.get("X-Slack-Request-Timestamp", "")
    signature = headers.get("X-Slack-Signature", "")
    if not timestamp or not signature:
        raise RefusedRequest("missing X-Slack-Request-Timestamp or X-Slack-Signature header")
    try:
        sent_at = int(timestamp)
    except ValueError:
        raise RefusedRequest("malformed X-Slack-Request-Timestamp: not a unix time") from None
    if abs(now - sent_at) > TOLERANCE_SECONDS:
        raise RefusedRequest("stale request: X-Slack-Request-Timestamp is more than 5 minutes from now")
    try:
        expected = SignatureVerifier(secret).generate_signature(timestamp=timestamp, body=body)
    except UnicodeDecodeError:
        raise RefusedRequest("the body is not UTF-8, so Slack did not sign it") from None
    if not expected or not hmac.compare_digest(expected, signature):
        raise RefusedRequest("X-Slack-Signature does not match the body")


def _unescape(text: str) -> str:
    """Slack sends ``&``, ``<`` and ``>`` in command text as HTML entities."""
    for entity, char in _ENTITIES:
        text = text.replace(entity, char)
    return text


class UserGroups:
    """Which of the user groups named in ``[roles]`` a user is in, from ``usergroups.users.list``."""

    def __init__(self, client: AsyncWebClient, group_ids: list[str], clock: Clock) -> None:
        self.client = client
        self.group_ids = group_ids
        self.clock = clock
        self._members: dict[str, tuple[datetime, frozenset[str]]] = {}
        self._lock = asyncio.Lock()

    async def of(self, user_id: str) -> tuple[str, ...]:
        return tuple([g for g in self.group_ids if user_id in await self._users(g)])

    async def _users(self, group: str) -> frozenset[str]:
        cached = self._members.get(group)
        if cached and self.clock.now() - cached[0] < GROUP_CACHE:
            return cached[1]
        async with self._lock:  # one lookup per group at a time, however many clicks arrive
            cached = self._members.get(group)
            if cached and self.clock.now() - cached[0] < GROUP_CACHE:
                return cached[1]
            try:
                response = await self.client.usergroups_users_list(usergroup=group)
            except (SlackClientError, aiohttp.ClientError, TimeoutError) as exc:
                # Not cached: the next action asks again. A stale answer beats none while Slack is away.
                log.warning("slack usergroups.users.list %s failed: %s", group, _slack_error(exc))
                return cached[1] if cached else frozenset()
            users = frozenset(response.get("users") or [])
            self._members[group] = (self.clock.now(), users)
            return users


def _slack_error(exc: Exception) -> str:
    if isinstance(exc, SlackApiError):
        return str(exc.response.get("error") or "error")
    return type(exc).__name__


def _id(value: Any, key: str = "id") -> str | None:
    """Slack names a user or channel by its id, or by an object holding it."""
    found = value.get(key) if isinstance(value, dict) else value
    return found if isinstance(found, str) and found else None


def _channel_of(body: dict[str, Any]) -> str | None:
    return _id(body.get("channel_id")) or _id(body.get("channel")) or _id(body.get("container"), "channel_id")


def _user_of(body: dict[str, Any]) -> str:
    return _id(body.get("user_id")) or _id(body.get("user")) or ""


def _authorizer(token: str) -> Callable[..., Awaitable[AuthorizeResult]]:
    """Bolt's authorization: the configured bot token, without Bolt's ``auth.test`` round trip on the first
    request (module docstring). Bolt passes arguments by name."""

    async def authorize(
        enterprise_id: str | None, team_id: str | None, user_id: str | None
    ) -> AuthorizeResult:
        return AuthorizeResult(enterprise_id=enterprise_id, team_id=team_id, user_id=user_id, bot_token=token)

    return authorize


def _team_of(body: dict[str, Any]) -> str:
    """The workspace a request came from: commands and events say ``team_id``, interactions ``team.id``."""
    team = body.get("team_id") or (body.get("team") or {}).get("id")
    return str(team or (body.get("user") or {}).get("team_id") or "")


class UserNames:
    """People's names and languages from ``users.info`` (with ``include_locale``), cached for an hour, so
    cards, SMS and e-mail say "Rita Rep" where they would say U0REP00001, and answers to a person are in
    their Slack language. Slack's display name wins over the real name, as Slack itself shows it."""

    def __init__(self, client: AsyncWebClient, clock: Clock) -> None:
        self.client = client
        self.clock = clock
        self._names: dict[str, tuple[datetime, str, str | None]] = {}  # id: (fetched, name, locale)

    async def of(self, user_id: str, fallback: str) -> str:
        name, _ = await self._info(user_id)
        return name or fallback

    async def language(self, user_id: str) -> str:
        """The shipped language nearest the person's Slack locale (``es-LA`` → ``es``), else English."""
        _, locale = await self._info(user_id)
        return language_of(locale)

    async def _info(self, user_id: str) -> tuple[str, str | None]:
        cached = self._names.get(user_id)
        if cached and self.clock.now() - cached[0] < NAME_CACHE:
            return cached[1], cached[2]
        try:
            response = await self.client.users_info(user=user_id, include_locale=True)
        except (SlackClientError, aiohttp.ClientError, TimeoutError) as exc:
            log.info("slack users.info %s failed: %s", user_id, _slack_error(exc))
            return (cached[1], cached[2]) if cached else ("", None)
        user = response.get("user") or {}
        profile = user.get("profile") or {}
        name = str(profile.get("display_name") or profile.get("real_name") or user.get("real_name") or "")
        locale = str(user.get("locale") or "") or None
        self._names[user_id] = (self.clock.now(), name, locale)
        return name, locale


@dataclass(frozen=True)
class Workspace:
    """A workspace stockbot answers in: a client with its bot token, and the lookups made with it."""

    team_id: str
    client: AsyncWebClient
    groups: UserGroups
    names: UserNames


class SlackFrontEnd:
    def __init__(self, runtime: Runtime, settings: SlackSettings) -> None:
        self.runtime = runtime
        self.settings = settings
        self.tz = settings.workspace_timezone
        # Installed per workspace, each workspace's token comes from the database (bot/runtime.py builds the
        # store when STOCKBOT_SECRET_KEY is set, which config check demands); else the configured token.
        self.installations: SlackInstallations | None = runtime.dispatcher.services.get("slack_installations")
        token = settings.bot_token.get_secret_value() if settings.bot_token else None
        self.client = self._web_client(token)
        secret = settings.signing_secret.get_secret_value() if settings.signing_secret else None
        self.signing_secret = secret
        self.groups = UserGroups(self.client, self._group_ids(None), runtime.clock)
        self.names = UserNames(self.client, runtime.clock)
        self._workspaces: dict[str, Workspace] = {}
        # One workspace: Bolt's own client carries no token and `authorize` hands Bolt the configured one,
        # with no auth.test round trip. Installed per workspace: Bolt's OAuth flow finds each installation.
        authorization: dict[str, Any] = (
            {"oauth_flow": slack_install.oauth_flow(self)}
            if settings.distributed
            else {"authorize": _authorizer(token or "")}
        )
        self.app = AsyncApp(
            name="stockbot",
            client=self._web_client(None),
            signing_secret=secret or "",
            request_verification_enabled=False,  # verified before Bolt, see the module docstring
            process_before_response=True,  # listeners only ack and spawn, so this answers at once
            logger=logging.getLogger("stockbot.slack.bolt"),
            **authorization,
        )
        self.home = HomeTab(self)
        self.home.listen(self.app)  # before _listen: its catch-all would take the Home tab's menu
        _listen(self.app, self)
        slack_install.listen(self.app, self)
        self.socket: AsyncSocketModeHandler | None = None
        self._socket_task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def _web_client(self, token: str | None) -> AsyncWebClient:
        client = AsyncWebClient(
            token=token, base_url=self.settings.api_url, session=self.runtime.http, logger=log
        )
        client.proxy = None  # the shared session decides about proxies, as for the adapters
        return client

    def _group_ids(self, team: str | None) -> list[str]:
        """The user groups named in [roles] (``S…``), and those given for ``team`` (``T…/S…``)."""
        roles = self.runtime.config.roles
        found = set()
        for entry in (i for ids in (roles.rep, roles.warehouse, roles.manager) for i in ids):
            owner, _, group = entry.rpartition("/")
            if _USER_GROUP.match(group) and (not owner or owner == team):
                found.add(group)
        return sorted(found)

    async def workspace(self, team_id: str) -> Workspace | None:
        """The workspace a request came from; None when installed per workspace and this one is not."""
        if self.installations is None:
            return Workspace(team_id, self.client, self.groups, self.names)
        token = await self.installations.bot_token(team_id) if team_id else None
        if token is None:
            return None
        known = self._workspaces.get(team_id)
        if known is None or known.client.token != token:  # first request, or reinstalled since
            register_secret(token)  # never in a log line or an error
            client, clock = self._web_client(token), self.runtime.clock
            groups = UserGroups(client, self._group_ids(team_id), clock)
            known = Workspace(team_id, client, groups, UserNames(client, clock))
            self._workspaces[team_id] = known
        return known

    def forget(self, team_id: str) -> None:
        """A workspace uninstalled: drop its client and caches."""
        self._workspaces.pop(team_id, None)

    # --- HTTP ------------------------------------------------------------------------------------------
    async def handle(self, request: web.Request) -> web.StreamResponse:
        try:
            raw = await read_body(request, self.runtime.config.server.body_limit_bytes)
        except BodyError as exc:
            return exc.answer()
        try:
            verify_request(self.signing_secret, raw, request.headers, self.runtime.clock.now().timestamp())
        except RefusedRequest as exc:
            return await self._refuse(request, str(exc))
        try:
            body = slack_body(raw, request.headers.get("Content-Type", ""))
        except BodyError as exc:
            return exc.answer()
        # Bolt reads `body` as we did
        headers: dict[str, str | Sequence[str]] = {**request.headers, "Content-Type": "application/json"}
        bolt_request = AsyncBoltRequest(body=json.dumps(body), query=request.query_string, headers=headers)
        return await to_aiohttp_response(await self.app.async_dispatch(bolt_request))

    async def _refuse(self, request: web.Request, reason: str) -> web.Response:
        await refuse_request(
            self.runtime.engine,
            self.runtime.clock,
            front_end="slack",
            why="signature",
            actor="slack:?",
            path=request.path,
            remote=request.remote,
            reason=reason,
        )
        return problem(401, "Unauthorized", reason + "; check [slack] signing_secret and the server clock")

    # --- Socket Mode and lifecycle ------------------------------------------------------------------------
    async def start(self) -> None:
        await self.home.start()
        if self.settings.app_token is None:
            return
        self.socket = AsyncSocketModeHandler(
            self.app, self.settings.app_token.get_secret_value(), logger=log, web_client=self.client
        )
        # Connecting runs in the background: the SDK keeps retrying while Slack is unreachable, and
        # the HTTP side (health, metrics, inbound events) must not wait for it.
        self._socket_task = asyncio.create_task(self.socket.connect_async(), name="slack-socket-mode")
        log.info("slack: Socket Mode on (app_token set); connecting to Slack")

    async def stop(self) -> None:
        await self.home.stop()
        if self.socket is not None:
            await self.socket.close_async()
        if self._socket_task is not None:
            self._socket_task.cancel()
            await asyncio.gather(self._socket_task, return_exceptions=True)
        try:
            await self.settle(SHUTDOWN_GRACE_SECONDS)
        except TimeoutError:
            log.error("slack: %d answers were still running at shutdown", len(self._tasks))

    # --- work after ack ---------------------------------------------------------------------------------
    def spawn(
        self, work: Coroutine[Any, Any, None], what: str, body: dict[str, Any], respond: AsyncRespond | None
    ) -> None:
        task = asyncio.create_task(self._guard(work, what, body, respond), name=f"slack {what}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _guard(
        self, work: Coroutine[Any, Any, None], what: str, body: dict[str, Any], respond: AsyncRespond | None
    ) -> None:
        try:
            await work
        except Exception:
            log.exception("slack %s for %s failed after ack", what, _user_of(body))
            try:
                await self.tell(body, say.failed(await self.language(body)), respond)
            except Exception as exc:
                log.error("slack: could not tell %s about the failure: %s", _user_of(body), exc)

    async def settle(self, timeout: float | None = None) -> None:
        """Wait until every answer started so far (and any it started) has finished."""
        async with asyncio.timeout(timeout):
            while self._tasks:
                await asyncio.wait(set(self._tasks))

    async def tell(self, body: dict[str, Any], answer: say.Answer, respond: AsyncRespond | None) -> None:
        """Answer only the person who asked or clicked (a click on the Home tab: on their Home)."""
        if self.home.owns(body):
            await self.home.answer(body, answer.text)
            return
        channel, user = _channel_of(body), _user_of(body)
        workspace = await self.workspace(_team_of(body))
        if channel and user and workspace:
            try:
                await workspace.client.chat_postEphemeral(
                    channel=channel, user=user, text=answer.text, blocks=answer.blocks
                )
                return
            except SlackApiError as exc:
                if respond is None or not body.get("response_url"):
                    raise
                log.info(
                    "slack chat.postEphemeral in %s: %s; answering via response_url",
                    channel,
                    _slack_error(exc),
                )
        if respond is None:
            raise RuntimeError("no channel and no response_url to answer in")
        await respond(
            text=answer.text, blocks=answer.blocks, response_type="ephemeral", replace_original=False
        )

    async def language(self, body: dict[str, Any]) -> str:
        """The language to answer this person in: their Slack locale (users.info, cached with their name)."""
        return await self.language_in(_team_of(body), _user_of(body))

    async def language_in(self, team: str, user: str) -> str:
        """``user``'s language in workspace ``team`` (their Slack locale), asked with that workspace's token;
        English when the workspace is not installed or there is no user."""
        workspace = await self.workspace(team) if user else None
        return await workspace.names.language(user) if workspace is not None else "en"

    async def actor(self, body: dict[str, Any]) -> Actor:
        handle = _id(body.get("user_name")) or _id(body.get("user"), "username") or ""
        return await self.actor_in(_team_of(body), _user_of(body), handle)

    async def actor_in(self, team: str, user: str, handle: str = "", *, named: bool = True) -> Actor:
        """``user`` of workspace ``team`` as the core sees them: name, user groups, workspace."""
        workspace = await self.workspace(team)
        if workspace is None:
            return Actor(id=user, via="slack", name=handle, team=team)
        name = await workspace.names.of(user, handle) if user and named else handle
        groups = await workspace.groups.of(user)
        return Actor(id=user, via="slack", name=name, groups=groups, team=team)

    # --- /stock -------------------------------------------------------------------------------------------
    async def stock(self, body: dict[str, Any], respond: AsyncRespond | None) -> None:
        query = _unescape(str(body.get("text") or "")).strip()
        language = await self.language(body)
        if not query or query.lower() == "help":
            await self.tell(body, say.stock_help(language), respond)
            return
        word, _, rest = query.partition(" ")
        if word.lower() == "dashboard":
            await self.dashboard(body, respond)
            return
        if word.lower() == "report":
            await self.report(body, rest, respond)
            return
        buffer = self.runtime.config.alerts.resolve_buffer
        found = await lookup(self.runtime.engine, query, limit=STOCK_RESULTS + 1, resolve_buffer=buffer)
        if not found:
            await self.tell(body, say.nothing_found(query, language), respond)
            await self._record_lookup(body, query, [])
            return
        config = self.runtime.config
        escalations = {
            (p.sku, w.location): [self._channel_label(c) for c in escalated_to(config, p, w)]
            for p in found
            for w in p.locations
        }
        answer = say.stock_answer(
            found[:STOCK_RESULTS],
            more=len(found) > STOCK_RESULTS,
            escalations=escalations,
            tz=self.tz,
            language=language,
        )
        await self.tell(body, answer, respond)
        await self._record_lookup(body, query, found)

    async def _record_lookup(self, body: dict[str, Any], query: str, found: list[Any]) -> None:
        # After the answer: the person is not kept waiting for the audit row. No user-group lookup either:
        # the row needs who asked, not their roles.
        name = str(body.get("user_name") or (body.get("user") or {}).get("username") or "")
        actor = Actor(id=_user_of(body), via="slack", name=name)
        shown = min(len(found), STOCK_RESULTS)
        await record_lookup(
            self.runtime.engine, self.runtime.clock, actor, query, shown, more=len(found) > STOCK_RESULTS
        )

    # --- /stock dashboard and /stock report -------------------------------------------------------------
    async def dashboard(self, body: dict[str, Any], respond: AsyncRespond | None) -> None:
        """A personal, single-use link to the pages, told only to the asker (ephemeral)."""
        actor, language = await self.actor(body), await self.language(body)
        web = WebAccess(self.runtime.config, self.runtime.engine, self.runtime.clock)
        try:
            link = await web.link_for(actor)
        except PermissionDenied as exc:  # audited by WebAccess
            await self.tell(body, say.refused("open the dashboard", said(exc, language), language), respond)
            return
        minutes = int(self.runtime.config.web.link_lifetime.total_seconds() // 60)
        await self.tell(body, say.dashboard_link(link, minutes, language), respond)

    async def report(self, body: dict[str, Any], words: str, respond: AsyncRespond | None) -> None:
        actor, language = await self.actor(body), await self.language(body)
        runtime = self.runtime
        try:
            card = await chat_report(runtime.engine, runtime.config, runtime.clock, actor, words)
        except (PermissionDenied, BadReportRequest) as exc:  # a refusal is audited by chat_report
            await self.tell(body, say.refused("make that report", said(exc, language), language), respond)
            return
        await self.tell(body, say.report_answer(card, language), respond)

    # --- /oos ---------------------------------------------------------------------------------------------
    async def oos(self, body: dict[str, Any], respond: AsyncRespond | None) -> None:
        text = _unescape(str(body.get("text") or "")).strip()
        language = await self.language(body)
        if not text or text.lower() in ("help", "clear"):
            await self.tell(body, say.oos_help(language), respond)
            return
        command, _, rest = text.partition(" ")
        if command.lower() == "clear":
            await self.clear(body, rest.strip(), respond)
            return
        known = await resolve_sku(self.runtime.engine, text.split()[0])
        request = parse_flag(text, known[1] if known else ())
        # An unknown SKU still goes to the core: it checks permission first, then says the SKU is unknown.
        sku = known[0] if known else request.sku
        actor = await self.actor(body)
        try:
            outcome = await retrying(
                lambda: self.runtime.desk.flag(sku, request.location, actor, request.reason)
            )
        except (PermissionDenied, NotFound) as exc:
            await self.tell(body, say.refused("flag stock", said(exc, language), language), respond)
            return
        log.info("slack: %s flagged %s at %s", actor.label, outcome.message.sku, outcome.message.location)
        await self.tell(body, say.flagged(replace(outcome.message, language=language), self.tz), respond)

    async def clear(self, body: dict[str, Any], text: str, respond: AsyncRespond | None) -> None:
        """``/oos clear SKU [location] [reason]``: warehouse staff take back a mistaken flag."""
        known = await resolve_sku(self.runtime.engine, text.split()[0]) if text else None
        request = parse_flag(text, known[1] if known else ())
        sku = known[0] if known else request.sku
        actor, language = await self.actor(body), await self.language(body)
        try:
            outcome = await retrying(
                lambda: self.runtime.desk.clear(sku, request.location, actor, request.reason)
            )
        except (PermissionDenied, NotFound, InvalidTransition) as exc:  # audited by the core
            await self.tell(body, say.refused("clear the flag", said(exc, language), language), respond)
            return
        log.info("slack: %s cleared the flag on alert %s", actor.label, outcome.alert.id)
        await self.tell(body, say.cleared(replace(outcome.message, language=language)), respond)

    # --- buttons ------------------------------------------------------------------------------------------
    async def click(self, body: dict[str, Any], respond: AsyncRespond | None) -> None:
        action = (body.get("actions") or [{}])[0]
        action_id = str(action.get("action_id") or "")
        actor, language = await self.actor(body), await self.language(body)
        what = CLICKS.get(action_id, "do that")
        value = str((action.get("selected_option") or {}).get("value") or action.get("value") or "")
        alert_text, _, choice = value.partition(":")
        if not alert_text.isdigit():
            why = phrase(
                "this button names no alert ({value}); use the buttons on a stockbot card",
                value=repr(value[:40]),
            )
            await self.runtime.desk.refuse(actor, what, str(why))
            await self.tell(body, say.refused(what, said(why, language), language), respond)
            return
        try:
            outcome = await retrying(lambda: self._apply(action_id, int(alert_text), choice, actor))
        except (PermissionDenied, InvalidTransition, NotFound) as exc:  # audited by the core
            await self.tell(body, say.refused(what, said(exc, language), language), respond)
            return
        log.info("slack: %s %s alert %s", actor.label, outcome.event, outcome.alert.id)
        mine = replace(outcome.message, language=language)  # the confirmation is the clicking person's
        await self.tell(body, say.acted(mine, self._escalated_to(outcome), self.tz), respond)

    async def click_all(self, body: dict[str, Any], respond: AsyncRespond | None) -> None:
        """A digest's "Acknowledge all" button: its value is the comma-separated alert ids."""
        action = (body.get("actions") or [{}])[0]
        ids = [int(part) for part in str(action.get("value") or "").split(",") if part.strip().isdigit()]
        actor, language = await self.actor(body), await self.language(body)
        try:
            done, skipped = await self.runtime.desk.acknowledge_many(ids, actor)
        except PermissionDenied as exc:
            await self.tell(body, say.refused("acknowledge", said(exc, language), language), respond)
            return
        await self.tell(body, say.acknowledged_many(len(done), len(skipped), language), respond)

    def _apply(self, action_id: str, alert_id: int, choice: str, actor: Actor) -> Awaitable[Outcome]:
        desk = self.runtime.desk
        if action_id == ACK_ACTION_ID:
            return desk.acknowledge(alert_id, actor)
        if action_id == ESCALATE_ACTION_ID:
            return desk.escalate(alert_id, actor)
        if action_id == RESOLVE_ACTION_ID:
            return desk.resolve(alert_id, actor, RESOLVED_FROM_CARD)
        return desk.snooze(alert_id, actor, choice, tz_name=self.tz)

    def _escalated_to(self, outcome: Outcome) -> list[str]:
        message, config = outcome.message, self.runtime.config
        names = escalation_channels(
            config,
            message.severity,
            message.category,
            message.location,
            message.sku,
            message.escalation_level,
        )
        return [self._channel_label(name) for name in names]

    def _channel_label(self, name: str) -> str:
        channel = self.runtime.config.channels.get(name)
        return say.channel_label(
            name, channel.adapter if channel else None, channel.address if channel else None
        )


Listener = Callable[[dict[str, Any], AsyncRespond | None], Coroutine[Any, Any, None]]


def _listen(app: AsyncApp, front: SlackFrontEnd) -> None:
    """Bolt routes every command and click here; each listener acks, then hands the work on."""

    @app.middleware
    async def skip_retries(
        req: AsyncBoltRequest, next_: Callable[[], Awaitable[BoltResponse | None]]
    ) -> BoltResponse | None:
        retry = req.headers.get("x-slack-retry-num")
        if retry:
            reason = (req.headers.get("x-slack-retry-reason") or ["?"])[0]
            log.info("slack: skipped retry %s (%s); the first delivery is the one acted on", retry[0], reason)
            return BoltResponse(status=200, body="", headers={"x-slack-no-retry": "1"})
        return await next_()

    def after_ack(work: Listener, what: str) -> Callable[..., Awaitable[None]]:
        async def listener(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
            await ack()
            front.spawn(work(body, respond), what, body, respond)

        return listener

    async def unknown(body: dict[str, Any], respond: AsyncRespond | None) -> None:
        language = await front.language(body)
        await front.tell(body, say.unknown_command(str(body.get("command")), language), respond)

    async def other_command(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        await ack()
        front.spawn(unknown(body, respond), "command", body, respond)

    async def other_action(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()  # a stale or foreign button: nothing to do, but Slack must not show an error
        action = (body.get("actions") or [{}])[0]
        log.info("slack: ignored action %r from %s", action.get("action_id"), _user_of(body))

    app.command("/stock")(after_ack(front.stock, "/stock"))
    app.command("/oos")(after_ack(front.oos, "/oos"))
    app.command(re.compile(r".*"))(other_command)
    for action_id in CLICKS:
        app.action(action_id)(after_ack(front.click, action_id))
    app.action(ACK_ALL_ACTION)(after_ack(front.click_all, ACK_ALL_ACTION))
    app.action(re.compile(r".*"))(other_action)


def mount(app: web.Application, runtime: Runtime) -> None:
    """Serve Slack at ``/slack/events`` (and Socket Mode with an app token); nothing without ``[slack]``."""
    if runtime.config.slack is None:
        return
    settings = runtime.config.settings_for("slack")
    assert isinstance(settings, SlackSettings)
    front = SlackFrontEnd(runtime, settings)
    runtime.extras[EXTRA_KEY] = front
    app.router.add_post(PATH, front.handle)
    slack_install.add_routes(app, front)
    if settings.signing_secret is None:
        log.warning(
            "slack: no [slack] signing_secret: %s refuses every request (Socket Mode still works)", PATH
        )

    async def started(_: web.Application) -> None:
        await front.start()

    async def stopping(_: web.Application) -> None:
        # on_shutdown runs before the runtime is stopped (cleanup), so pending answers still have a database.
        await front.stop()

    app.on_startup.append(started)
    app.on_shutdown.append(stopping)
