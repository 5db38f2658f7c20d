"""The browser pages, served by the same aiohttp process: ``/reports``, ``/alerts``, ``/alerts/{id}``.

Never anonymous: a page without a live session answers 401 with how to get in (a personal link from chat,
see ``bot/access.py``). ``GET /login?token=…`` shows one button; its POST uses the link and sets the session
cookie: ``HttpOnly``, ``SameSite=Lax``, ``Secure`` when ``[server] public_url`` is https, for
``[web] session_lifetime``.

Acknowledge and Resolve are forms: each POST must carry the session's CSRF token (a hidden field) and come
from this host (``Origin``/``Referer``); the cookie's ``SameSite=Lax`` already keeps other sites' POSTs from
carrying it. The alert desk checks the role and writes the change, its audit row (actor ``web:<id>``) and its
deliveries, exactly as a click in Slack or Teams does; every posted card is then updated.

Every page is one self-contained document (inline CSS and SVG) sent with a Content-Security-Policy that
allows no script and nothing from elsewhere. Bad input (a page number that is not a number, an unknown
filter value) is a 400 page, never a 500.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from stockbot.adapters.page_data import SHOW_CHOICES, AlertFilter
from stockbot.adapters.render import alerts_html
from stockbot.adapters.render.html_page import Nav
from stockbot.adapters.render.report_html import ReportFilters, report_page
from stockbot.adapters.report_data import Cut, Period
from stockbot.bot.access import LOGIN_PATH, LinkRefused, WebSession
from stockbot.bot.alerts import NotFound, message_for, retrying
from stockbot.bot.history import timeline
from stockbot.bot.permissions import SYSTEM, PermissionDenied, may
from stockbot.bot.reports import report
from stockbot.bot.runtime import Runtime
from stockbot.bot.transitions import InvalidTransition
from stockbot.handlers.access import SESSION_COOKIE, access_of, check_form, page_session
from stockbot.handlers.inventory import RUNTIME
from stockbot.storage import alerts as alert_store
from stockbot.storage.alert_list import alert_page, scopes

log = logging.getLogger("stockbot.web")
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
SEVERITIES = ("low", "out", "critical")
PAGE_ACTIONS = ("acknowledge", "resolve")

PageHandler = Callable[[web.Request, WebSession], Awaitable[web.StreamResponse]]


class BadInput(Exception):
    """A query or form value this page cannot use; answered 400 with the message."""


async def form_of(request: web.Request) -> dict[str, str]:
    """The posted form's fields; a body that is not a form in UTF-8 is :class:`BadInput`, not a crash."""
    try:
        return {name: str(value) for name, value in (await request.post()).items()}
    except (UnicodeDecodeError, ValueError) as exc:
        wanted = "send it as UTF-8 application/x-www-form-urlencoded"
        raise BadInput(f"the form could not be read: {wanted}") from exc


def html(text: str, status: int = 200) -> web.Response:
    return web.Response(text=text, status=status, content_type="text/html", headers=SECURITY_HEADERS)


def nav_for(session: WebSession, here: str) -> Nav:
    return Nav(here=here, who=session.actor.display, csrf=session.csrf)


def with_session(handler: PageHandler) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """Pages and their forms run only with a live session; anything else is 401 with how to get in."""

    async def guarded(request: web.Request) -> web.StreamResponse:
        session = await page_session(request)
        if session is None:
            return html(alerts_html.refused_page("Sign in from chat", "This page needs a session."), 401)
        try:
            return await handler(request, session)
        except BadInput as bad:
            return html(alerts_html.refused_page("Bad request", str(bad), how_to_get_in=False), 400)

    return guarded


# --- signing in and out ---------------------------------------------------------------------------------


async def login_form(request: web.Request) -> web.Response:
    token = request.query.get("token", "")
    if not token:
        return html(alerts_html.refused_page("No link", "This address needs the link from chat."), 400)
    return html(alerts_html.login_page(token))


async def login(request: web.Request) -> web.Response:
    try:
        token = (await form_of(request)).get("token", "")
    except BadInput as bad:
        return html(alerts_html.refused_page("Bad request", str(bad), how_to_get_in=False), 400)
    web_access = access_of(request)
    try:
        cookie, session = await web_access.open_session(token, request.remote)
    except LinkRefused as refused:
        return html(alerts_html.refused_page("This link does not open the dashboard", f"{refused}."), 401)
    response = web.HTTPSeeOther("/reports", headers=SECURITY_HEADERS)
    response.set_cookie(
        SESSION_COOKIE,
        cookie,
        max_age=int(request.app[RUNTIME].config.web.session_lifetime.total_seconds()),
        path="/",
        httponly=True,
        samesite="Lax",
        secure=web_access.secure_cookies,
    )
    log.info("web: session opened for %s", session.actor.label)
    raise response


async def logout(request: web.Request, session: WebSession) -> web.Response:
    refused = check_form(session, await form_of(request), request)
    if refused:
        return html(alerts_html.refused_page("Not done", refused, how_to_get_in=False), 403)
    await access_of(request).close_session(request.cookies.get(SESSION_COOKIE, ""))
    response = html(alerts_html.message_page("Logged out", "Your session has ended."))
    response.del_cookie(SESSION_COOKIE, path="/")
    return response


# --- alerts -----------------------------------------------------------------------------------------------


def _choice(query: Any, name: str, allowed: tuple[str, ...], default: str | None = None) -> str | None:
    value = query.get(name) or default
    if value is not None and value not in allowed:
        raise BadInput(f"{name} must be one of {', '.join(allowed)}, not {value[:40]!r}")
    return value


def _page_number(query: Any) -> int:
    text = query.get("page", "1")
    if not text.isdigit() or not 1 <= int(text) <= 100_000:
        raise BadInput(f"page must be a whole number from 1, not {text[:20]!r}")
    return int(text)


def alert_filter(query: Any) -> AlertFilter:
    return AlertFilter(
        show=_choice(query, "show", SHOW_CHOICES, "open") or "open",
        location=query.get("location") or None,
        category=query.get("category") or None,
        severity=_choice(query, "severity", SEVERITIES),
        page=_page_number(query),
    )


async def alerts_list(request: web.Request, session: WebSession) -> web.Response:
    runtime = request.app[RUNTIME]
    data = await alert_page(runtime.engine, alert_filter(request.query), runtime.clock.now())
    return html(alerts_html.alerts_page(data, nav_for(session, "alerts")))


async def _alert_html(
    runtime: Runtime, alert_id: int, session: WebSession, notice: tuple[str, str] | None = None
) -> str | None:
    async with runtime.engine.connect() as conn:
        alert = await alert_store.load_alert(conn, alert_id, lock=False)
        level = await alert_store.load_level(conn, alert.sku, alert.location) if alert else None
    if alert is None or level is None:
        return None
    message = message_for(alert, level, "updated", SYSTEM, None, runtime.config.alerts.resolve_buffer)
    history = await timeline(runtime.engine, alert_id, runtime.clock.now())
    allowed = [a for a in PAGE_ACTIONS if may(runtime.config.roles, a, session.actor)]
    return alerts_html.alert_page(
        message, history, nav_for(session, "alerts"), allowed=allowed, notice=notice
    )


async def alert_detail(request: web.Request, session: WebSession) -> web.Response:
    runtime = request.app[RUNTIME]
    alert_id = int(request.match_info["id"])
    done = request.query.get("done")
    notice = ("ok", f"You {done} this alert.") if done in ("acknowledged", "resolved") else None
    text = await _alert_html(runtime, alert_id, session, notice)
    if text is None:
        return html(
            alerts_html.refused_page("No such alert", f"There is no alert #{alert_id}.", how_to_get_in=False),
            404,
        )
    return html(text)


async def alert_action(request: web.Request, session: WebSession) -> web.StreamResponse:
    """POST /alerts/{id}/acknowledge or /resolve: CSRF-checked, then the alert desk decides and audits."""
    runtime = request.app[RUNTIME]
    alert_id, action = int(request.match_info["id"]), request.match_info["action"]
    form = await form_of(request)
    refused = check_form(session, form, request)
    if refused:
        return html(alerts_html.refused_page("Not done", refused, how_to_get_in=False), 403)
    actor, desk = session.actor, runtime.desk
    reason = (form.get("reason") or "").strip()[:300] or None
    try:
        if action == "acknowledge":
            await retrying(lambda: desk.acknowledge(alert_id, actor))
        else:
            await retrying(lambda: desk.resolve(alert_id, actor, reason))
    except NotFound as exc:
        return html(alerts_html.refused_page("No such alert", str(exc), how_to_get_in=False), 404)
    except (PermissionDenied, InvalidTransition) as exc:  # PermissionDenied is audited by the desk
        status = 403 if isinstance(exc, PermissionDenied) else 409
        text = await _alert_html(runtime, alert_id, session, ("bad", f"Not done: {exc}"))
        return html(text or alerts_html.refused_page("Not done", str(exc), how_to_get_in=False), status)
    log.info("web: %s %s alert %s", actor.label, action, alert_id)
    done = "acknowledged" if action == "acknowledge" else "resolved"
    raise web.HTTPSeeOther(f"/alerts/{alert_id}?done={done}", headers=SECURITY_HEADERS)


# --- reports ----------------------------------------------------------------------------------------------

PERIOD_DAYS = {"7d": 7, "30d": 30}


async def reports(request: web.Request, session: WebSession) -> web.Response:
    runtime = request.app[RUNTIME]
    query = request.query
    period = _choice(query, "period", tuple(PERIOD_DAYS), "7d") or "7d"
    location, category = query.get("location") or None, query.get("category") or None
    locations, categories = await scopes(runtime.engine)
    for name, value, known in (("location", location, locations), ("category", category, categories)):
        if value is not None and value not in known:
            raise BadInput(f"there is no {name} called {value[:60]!r}")
    cut = Cut(location=location, category=category)
    made = await report(
        runtime.engine, runtime.config, Period.last(PERIOD_DAYS[period], runtime.clock.now()), cut
    )
    filters = ReportFilters(period, location, category, locations, categories)
    return html(report_page(made, nav=nav_for(session, "reports"), filters=filters))


def mount(app: web.Application, runtime: Runtime) -> None:
    """The pages and the sign-in routes."""
    app.router.add_get(LOGIN_PATH, login_form)
    app.router.add_get("/reports", with_session(reports))
    app.router.add_post(LOGIN_PATH, login)
    app.router.add_post("/logout", with_session(logout))
    app.router.add_get("/alerts", with_session(alerts_list))
    app.router.add_get(r"/alerts/{id:\d{1,18}}", with_session(alert_detail))
    app.router.add_post(r"/alerts/{id:\d{1,18}}/{action:acknowledge|resolve}", with_session(alert_action))
