"""The one aiohttp application: inbound events, health, metrics, and the chat front ends."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import func, select, text

from stockbot.bot.metrics import ALERTS, OUTBOX, REGISTRY
from stockbot.bot.outage import RETRY_AFTER_SECONDS
from stockbot.bot.runtime import Runtime
from stockbot.handlers import api as report_api
from stockbot.handlers import inventory
from stockbot.handlers import web as web_pages
from stockbot.handlers.access import api_auth
from stockbot.handlers.inventory import RUNTIME
from stockbot.handlers.openapi import document
from stockbot.handlers.problems import problem
from stockbot.scheduler.jobs import build_scheduler
from stockbot.storage.db import READ_ONLY, unavailable
from stockbot.storage.deliveries import counts
from stockbot.storage.tables import alerts

log = logging.getLogger("stockbot")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def database_away(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A request that fails because the database is away is answered 503 with Retry-After, and counted by
    the outage latch (one audit row per outage, written when the database is back), never a bare 500."""
    try:
        return await handler(request)
    except Exception as exc:
        if not unavailable(exc):
            raise
        request.app[RUNTIME].outage.seen(exc)
        return problem(
            503,
            "Service Unavailable",
            "the database is unavailable, so nothing of this request was stored or done; "
            f"retry in {RETRY_AFTER_SECONDS} seconds",
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )


async def livez(_: web.Request) -> web.Response:
    """Liveness: the process answers. It needs nothing else, so a database outage never restarts it."""
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    """Readiness: the database answers and the writer and dispatcher run. A probe that finds the database
    back closes the outage (its one audit row)."""
    runtime = request.app[RUNTIME]
    database = True
    try:
        async with runtime.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except Exception as exc:
        database = False
        if unavailable(exc):
            runtime.outage.seen(exc, refused=False)
        else:
            log.error("readiness: the database check failed: %s", exc)
    if database and runtime.outage.ongoing:
        database = await runtime.outage.over()
    dispatcher = runtime.dispatcher.alive
    healthy = database and dispatcher and runtime.writer.alive
    body = {
        "status": "ok" if healthy else "degraded",
        "database": database,
        "dispatcher": dispatcher,
        "writer": runtime.writer.alive,
    }
    headers = None if healthy else {"Retry-After": str(RETRY_AFTER_SECONDS)}
    return web.json_response(body, status=200 if healthy else 503, headers=headers)


async def metrics(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    async with runtime.engine.connect() as conn:
        conn = await conn.execution_options(**READ_ONLY)
        by_state = await conn.execute(
            select(alerts.c.state, alerts.c.severity, func.count()).group_by(
                alerts.c.state, alerts.c.severity
            )
        )
        ALERTS.clear()
        for state, severity, n in by_state.all():
            ALERTS.labels(state, severity).set(n)
        OUTBOX.clear()
        for status, n in (await counts(conn)).items():
            OUTBOX.labels(status).set(n)
    return web.Response(body=generate_latest(REGISTRY), headers={"Content-Type": CONTENT_TYPE_LATEST})


async def openapi(_: web.Request) -> web.Response:
    return web.json_response(document())


def build_app(runtime: Runtime, *, start: bool = True) -> web.Application:
    """The application around a created runtime; ``start`` runs its background work with the app."""
    # database_away answers 503 for an unavailable database, around everything; api_auth guards /api/v1/*
    # only (bearer tokens), every other route has its own check
    app = web.Application(
        client_max_size=runtime.config.server.body_limit_bytes, middlewares=[database_away, api_auth]
    )
    app[RUNTIME] = runtime
    inventory.add_routes(app)
    report_api.add_routes(app)  # /api/v1: alerts, stock, reports (handlers/api.py)
    app.router.add_get("/livez", livez)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/healthz", readyz)  # the older name, kept as an alias of readiness
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/openapi.json", openapi)
    for mount in FRONT_ENDS:
        mount(app, runtime)

    async def lifecycle(_: web.Application) -> AsyncIterator[None]:
        scheduler = None
        if start:
            await runtime.start()
            scheduler = build_scheduler(
                runtime.config,
                runtime.desk,
                runtime.engine,
                runtime.clock,
                runtime.dispatcher.worker,
                runtime.outage,
            )
            scheduler.start()
        yield
        if scheduler is not None:
            scheduler.shutdown(wait=False)
        await runtime.stop()

    app.cleanup_ctx.append(lifecycle)
    return app


def mount_slack(app: web.Application, runtime: Runtime) -> None:
    if runtime.config.slack is not None:  # Slack Bolt and its SDK load only when configured
        from stockbot.handlers import slack

        slack.mount(app, runtime)


def mount_teams(app: web.Application, runtime: Runtime) -> None:
    if runtime.config.teams is not None:  # the Agents SDK (and msal) load only when configured
        from stockbot.handlers import teams

        teams.mount(app, runtime)


# Front ends add their routes here (Slack at /slack/events, Teams at /api/messages, the pages at /reports, …).
FRONT_ENDS: list[Callable[[web.Application, Runtime], None]] = [mount_slack, mount_teams, web_pages.mount]
