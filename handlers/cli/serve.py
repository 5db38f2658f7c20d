"""``stockbot serve``: build the runtime and serve the app until interrupted."""

from __future__ import annotations

import gc
import logging

from aiohttp import web

from stockbot.bot import logs
from stockbot.bot.config import Config
from stockbot.bot.eventloop import use_fast_event_loop
from stockbot.bot.routing import channels_of
from stockbot.bot.runtime import Runtime
from stockbot.handlers.app import build_app

log = logging.getLogger("stockbot")


async def make_app(config: Config) -> web.Application:
    runtime = await Runtime.create(config)
    describe(config)
    app = build_app(runtime)
    app.on_startup.append(_freeze)  # after the runtime's own start-up (build_app's cleanup_ctx runs first)
    return app


async def _freeze(_: web.Application) -> None:
    """Everything built at start-up (modules, schema, config, SDK clients) lives until shutdown: moved out of
    the cyclic collector's view, it is no longer traversed by every collection a busy server triggers."""
    gc.collect()
    gc.freeze()


def describe(config: Config) -> None:
    channels = channels_of(config)
    log.info("storage: %s", config.storage.url.split("@")[-1])
    log.info("channels: %s", ", ".join(f"{n} ({c.adapter})" for n, c in channels.items()))
    if not config.sources:
        log.warning(
            "no [sources] configured: /events/* will refuse every request (see bot/stockbot.example.toml)"
        )
    if not any((config.roles.rep, config.roles.manager, config.roles.warehouse)):
        log.warning("no [roles] configured: chat users may look up stock but not acknowledge or escalate")


def serve(config: Config, host: str, port: int) -> None:
    logs.configure(config.logging.level, config.logging.format)
    log.info("event loop: %s", use_fast_event_loop())
    web.run_app(
        make_app(config),
        host=host,
        port=port,
        print=lambda _: log.info("stockbot listening on http://%s:%s", host, port),
        access_log=None,
    )
