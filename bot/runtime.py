"""Everything one stockbot process runs, built from the config and started and stopped together."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import aiohttp
from sqlalchemy.ext.asyncio import AsyncEngine

from stockbot.adapters import adapter_class
from stockbot.adapters.base import register_secret
from stockbot.bot.alerts import AlertDesk
from stockbot.bot.clock import Clock, SystemClock
from stockbot.bot.config import Config, ConfigError, slack_settings
from stockbot.bot.ingest import Incoming, apply_events
from stockbot.bot.outage import Outage
from stockbot.bot.relay import Dispatcher
from stockbot.bot.templates import validate_templates
from stockbot.bot.watchdog import unheard_feeds
from stockbot.storage import teams as teams_store
from stockbot.storage.db import create_engine, upgrade
from stockbot.storage.deliveries import Claimed
from stockbot.storage.ingest_rows import Rows, open_writer_db
from stockbot.storage.secrets import SecretStore, fernet
from stockbot.storage.writer import GroupCommitter

if TYPE_CHECKING:
    from stockbot.storage.slack_installations import SlackInstallations

log = logging.getLogger("stockbot")

SECRET_KEY_VAR = "STOCKBOT_SECRET_KEY"
# What a batch that changed alerts hands on after its commit: the deliveries it queued, and those of them
# the dispatcher claimed in the same transaction.
Committed = tuple[Sequence[int], list[Claimed]]
GENERATE_KEY = "python3 -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'"


def check_config(config: Config, env: Mapping[str, str] | None = None) -> None:
    """Checks that need the core (templates compile, a watched feed has listeners, a secret key where an
    adapter keeps secrets); ConfigError lists them.

    bot.config validates shape and references; these run here and in ``stockbot config check``, so the
    config module imports nothing of the core.
    """
    environment = os.environ if env is None else env
    problems = validate_templates(config) + unheard_feeds(config) + secret_key_problems(config, environment)
    if problems:
        raise ConfigError("\n".join(problems))


def keeping_secrets(config: Config) -> list[str]:
    """Configured adapters that keep a secret across restarts (they ask for the ``token_store`` service, or
    are Slack installed per workspace, whose workspaces' bot tokens are stored)."""
    slack = slack_settings(config)
    return sorted(
        name
        for name in config.adapter_settings
        if "token_store" in getattr(adapter_class(name), "services", ())
        or (name == "slack" and slack is not None and slack.distributed)
    )


def secret_key_problems(config: Config, env: Mapping[str, str]) -> list[str]:
    """The secret key must be a Fernet key when set, and set when an adapter keeps secrets (QuickBooks)."""
    key, needing = env.get(SECRET_KEY_VAR, ""), keeping_secrets(config)
    if key:
        try:
            fernet(key)
        except ValueError:
            problem = f"{SECRET_KEY_VAR} is not a Fernet key (or keys, comma-separated)"
            return [f"{problem}; generate one: {GENERATE_KEY}"]
        return []
    if needing:
        keeps = (
            "[slack] client_id: each workspace's bot token is stored"
            if needing[0] == "slack"
            else f"adapters.{needing[0]} stores its rotated refresh token"
        )
        return [
            f"{SECRET_KEY_VAR} is not set: {keeps} in the database encrypted with it; generate one "
            f"({GENERATE_KEY}) and export {SECRET_KEY_VAR}=... before starting stockbot"
        ]
    return []


def token_store(engine: AsyncEngine, env: Mapping[str, str]) -> dict[str, SecretStore]:
    """The ``token_store`` service, when there is a key to encrypt with (check_config says when it is due)."""
    key = env.get(SECRET_KEY_VAR, "")
    for part in key.split(","):
        register_secret(part.strip())  # never in a log line or an error
    return {"token_store": SecretStore(engine, key)} if key else {}


def slack_installations(
    config: Config, engine: AsyncEngine, clock: Clock, env: Mapping[str, str]
) -> dict[str, SlackInstallations]:
    """The ``slack_installations`` service (installed workspaces' bot tokens, encrypted with the secret key)
    when Slack is installed per workspace; the adapter and the Slack front end share it."""
    slack, key = slack_settings(config), env.get(SECRET_KEY_VAR, "")
    if not (slack is not None and slack.distributed and key):
        return {}
    from stockbot.storage.slack_installations import SlackInstallations  # slack_sdk: only with Slack

    return {"slack_installations": SlackInstallations(engine, key, now=clock.now)}


@dataclass
class Runtime:
    config: Config
    engine: AsyncEngine
    clock: Clock
    http: aiohttp.ClientSession
    desk: AlertDesk
    writer: GroupCommitter[Incoming, str]
    dispatcher: Dispatcher
    outage: Outage  # the database's outage latch: one audit row per outage
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
        busy = config.storage.busy_timeout.total_seconds()
        engine = create_engine(config.storage.url, busy_timeout=busy)
        if migrate:
            await upgrade(engine)
        owns_http = http is None
        http = http or aiohttp.ClientSession()
        desk = AlertDesk(config, engine, clock)
        services = {
            "conversations": teams_store.lookup(engine),
            **token_store(engine, os.environ),
            **slack_installations(config, engine, clock, os.environ),
            **(services or {}),
        }
        dispatcher = Dispatcher(config, engine, clock, http, services=services)
        desk.on_outbox(dispatcher.handoff)  # committed deliveries go straight to their lanes

        async def apply(rows: Rows, batch: list[Incoming]) -> tuple[list[str], Committed | None]:
            # The writer hands the queued ids, and those the dispatcher claimed in this same transaction
            # (no transaction of its own to claim them, no wait for it), to after_commit once the batch
            # has committed; None (no alert changed): no call.
            with desk.collecting(rows.owner) as queued:
                outcomes, _ = await apply_events(desk, rows, batch)
            if not (queued or queued.changed):
                return outcomes, None
            return outcomes, (queued, await dispatcher.claim_committed(rows.core, queued))

        def after_commit(committed: Committed) -> None:
            queued, claimed = committed
            dispatcher.adopt(claimed)  # first: the hand-off that follows skips what it adopted
            desk.outbox_written(queued)

        writer: GroupCommitter[Incoming, str] = GroupCommitter(
            lambda: open_writer_db(config.storage.url, busy_timeout=busy),
            apply,
            after_commit=after_commit,
        )
        dispatcher.ride_on(writer)
        outage = Outage(engine, clock)
        return cls(config, engine, clock, http, desk, writer, dispatcher, outage, owns_http=owns_http)

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
