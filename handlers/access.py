"""Who is asking, for every HTTP way in that is not a chat platform or a signed source.

- ``/api/v1/*`` (machines): :func:`api_auth` is an aiohttp middleware. ``Authorization: Bearer <token>``
  must match an ``[[api.tokens]]`` hash; then ``request["actor"]`` is a
  :class:`~stockbot.bot.permissions.Actor` (``api:NAME``, the token's roles). Without a token, or with a
  wrong one: 401 ``application/problem+json`` with ``WWW-Authenticate: Bearer``, an audit row
  (``request.refused``, actor ``api:?``) and nothing else.
  Route handlers then call :func:`require_role` for their action (``"report"``, ``"acknowledge"``, …): 403
  problem+json, audited, when the token's roles do not allow it.
- Pages (people): :func:`page_session` reads the session cookie (``bot.access`` explains links and sessions);
  :func:`check_form` checks a POST's CSRF token and origin.

Decisions: the refusal of an API call is audited because a machine retrying with a revoked token is
something an admin wants to find; a page opened without a session is not (it is a person who followed an old
bookmark, and gets a page saying how to get in).
"""

from __future__ import annotations

import hmac
import logging
import warnings
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

from aiohttp import web

from stockbot.bot.access import WebAccess, WebSession, api_actor
from stockbot.bot.metrics import REQUESTS_REFUSED
from stockbot.bot.permissions import RULES, Actor, PermissionDenied, require
from stockbot.bot.runtime import Runtime
from stockbot.handlers.inventory import RUNTIME
from stockbot.handlers.problems import PROBLEM_JSON, problem
from stockbot.storage.audit import audit_row, record

log = logging.getLogger("stockbot.access")
API_PREFIX = "/api/v1/"
ACTOR = "actor"  # request["actor"]: who is calling, set by api_auth and by the pages
# Worded so the log redactor (adapters/base.py) has no "Authorization: …" or "token: …" to hide.
MISSING_TOKEN = "no API token was sent (the Authorization header takes Bearer <token>)"
SESSION_COOKIE = "stockbot_session"
CSRF_FIELD = "csrf"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _bearer(request: web.Request) -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


async def _audit_refusal(runtime: Runtime, request: web.Request, actor: str, reason: str) -> None:
    row = audit_row(
        runtime.clock.now(),
        "request.refused",
        actor,
        subject=request.path,
        reason=reason,
        remote=request.remote,
    )
    await record(runtime.engine, row)
    log.warning("refused %s %s from %s: %s", request.method, request.path, request.remote, reason)


@web.middleware
async def api_auth(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Authenticate every ``/api/v1/*`` request by its bearer token; other paths pass untouched."""
    if not request.path.startswith(API_PREFIX):
        return await handler(request)
    runtime = request.app[RUNTIME]
    token = _bearer(request)
    actor = api_actor(runtime.config.api.tokens, token) if token else None
    if actor is None:
        reason = "wrong or revoked API token" if token else MISSING_TOKEN
        REQUESTS_REFUSED.labels("api", "token").inc()
        await _audit_refusal(runtime, request, "api:?", reason)
        response = problem(
            401,
            "Unauthorized",
            f"{reason}; create one with `stockbot tokens create NAME --role manager` and send it as "
            "`Authorization: Bearer <token>`",
        )
        response.headers["WWW-Authenticate"] = 'Bearer realm="stockbot"'
        return response
    set_actor(request, actor)
    return await handler(request)


def set_actor(request: web.Request, actor: Actor) -> None:
    # request["actor"] is a plain string key, as the route handlers read it; aiohttp would rather see a
    # RequestKey and warns on every request.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", web.NotAppKeyWarning)
        request[ACTOR] = actor


def request_actor(request: web.Request) -> Actor:
    actor = request.get(ACTOR)
    if not isinstance(actor, Actor):
        raise RuntimeError(f"{request.path}: no actor; is the route under {API_PREFIX} or a page?")
    return actor


async def require_role(request: web.Request, action: str) -> Actor:
    """The request's actor, if its roles allow ``action`` (a ``bot.permissions.RULES`` key); else a 403
    problem+json (raised, so a handler reads as one line), audited as ``action.refused``."""
    if action not in RULES:
        raise KeyError(f"unknown action {action!r}; add it to bot.permissions.RULES")
    actor = request_actor(request)
    runtime = request.app[RUNTIME]
    try:
        require(runtime.config.roles, action, actor)
    except PermissionDenied as denied:
        row = audit_row(
            runtime.clock.now(),
            "action.refused",
            actor.label,
            subject=request.path,
            action=action,
            reason=str(denied),
        )
        await record(runtime.engine, row)
        raise web.HTTPForbidden(
            text=problem(403, "Forbidden", str(denied)).text, content_type=PROBLEM_JSON
        ) from None
    return actor


# --- pages ---------------------------------------------------------------------------------------------


def access_of(request: web.Request) -> WebAccess:
    runtime = request.app[RUNTIME]
    return WebAccess(runtime.config, runtime.engine, runtime.clock)


async def page_session(request: web.Request) -> WebSession | None:
    """The person behind the request's session cookie (``request["actor"]`` is set), or None."""
    session = await access_of(request).session(request.cookies.get(SESSION_COOKIE))
    if session is not None:
        set_actor(request, session.actor)
    return session


def _same_origin(request: web.Request) -> bool:
    """A browser names the page a form came from (``Origin``, else ``Referer``); it must be this host."""
    source = request.headers.get("Origin") or request.headers.get("Referer")
    if not source or source == "null":
        return source is None  # no header at all: an old browser or a tool; "null": a sandboxed frame
    return urlsplit(source).netloc == request.host


def check_form(session: WebSession, form: dict[str, str], request: web.Request) -> str | None:
    """Why a POST from a page is refused (CSRF), or None when it is the session's own form."""
    if not hmac.compare_digest(str(form.get(CSRF_FIELD, "")), session.csrf):
        return "the form's security token does not match your session; reload the page and try again"
    if not _same_origin(request):
        return "the form was sent from another site"
    return None
