"""Everything one stockbot process runs, built from the config and started and stopped together."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from sqlalchemy.ext.asyncio import AsyncEngine

from stockbot.bot.alerts import AlertDesk
from stockbot.bot.clock import Clock, SystemClock
from stockbot.bot.config import Config, ConfigError
from stockbot.bot.ingest import Incoming, apply_events
from stockbot.bot.relay import Dispatcher
from stockbot.bot.templates import validate_templates
from stockbot.bot.watchdog import unheard_feeds
from stockbot.storage import teams as teams_store
from stockbot.storage.db import create_engine, upgrade
from stockbot.storage.ingest_rows import Rows, open_writer_db
from stockbot.storage.writer import GroupCommitter

log = logging.getLogger("stockbot")


def check_config(config: Config) -> None:
    """Checks that need the core (templates compile, a watched feed has listeners); ConfigError lists them.

    bot.config validates shape and references; these run here and in ``stockbot config check``, so the
    config module imports nothing of the core.
    """
    problems = validate_templates(config) + unheard_feeds(config)
    if problems:
        raise ConfigError("\n".join(problems))


@dataclass
class Runtime:
    config: Config
    engine: AsyncEngine
    clock: Clock
    http: aiohttp.ClientSession
    desk: AlertDesk
    writer: GroupCommitter[Incoming, str]
    dispatcher: Dispatcher
    extras: dict[str, Any] = field(default_factory=dict)  # front ends keep their state here
    owns_http: bool = True

    @classmethod
    async def create(
        cls,
        config: Config,
        *,
        clock: Clock | None = None,
        http: aiohttp.ClientSession | None = None,
        migrate: bool = True,
        services: dict[str, Any] | None = None,
    ) -> Runtime:
        check_config(config)  # a bad [channels.X] template stops start-up, naming channel and line
        clock = clock or SystemClock()
        engine = create_engine(config.storage.url)
        if migrate:
            await upgrade(engine)
        owns_http = http is None
        http = http or aiohttp.ClientSession()
        desk = AlertDesk(config, engine, clock)
        services = {"conversations": teams_store.lookup(engine), **(services or {})}
        dispatcher = Dispatcher(config, engine, clock, http, services=services)
        desk.on_outbox(dispatcher.wake)

        async def apply(rows: Rows, batch: list[Incoming]) -> tuple[list[str], bool]:
            return await apply_events(desk, rows, batch)

        writer: GroupCommitter[Incoming, str] = GroupCommitter(
            lambda: open_writer_db(config.storage.url),
            apply,
            after_commit=desk.outbox_written,
        )
        return cls(config, engine, clock, http, desk, writer, dispatcher, owns_http=owns_http)

    async def start(self, *, dispatch: bool = True) -> None:
        """Start the writer and the dispatcher; the scheduled sweeps are started by the app (scheduler/)."""
        self.writer.start()
        if dispatch:
            self.dispatcher.start()

    async def stop(self) -> None:
        await self.dispatcher.stop()
        await self.writer.stop()
        await self.dispatcher.close_adapters()
        if self.owns_http:
            await self.http.close()
        await self.engine.dispose()
