"""A person's own list of alerts: what Teams' personal ``alerts`` answers and Slack's App Home shows.

"By their routes and roles", defined simply: ``[roles]`` applies to every route (a rep acknowledges any
alert, wherever it was sent), so a person's alerts are **every unresolved alert, if their roles let them act
on alerts at all** (acknowledge, escalate, snooze or resolve), optionally narrowed to one location. Someone
with no role gets an empty list: they could not use a single button on it. Which buttons each front end then
offers is :func:`stockbot.bot.permissions.alert_actions_of`.

Most urgent first (critical, out, low), the longest-standing first within a severity; read-only.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from stockbot.adapters.message import AlertMessage
from stockbot.bot.alerts import message_for
from stockbot.bot.config import Config
from stockbot.bot.permissions import SYSTEM, Actor, alert_actions_of
from stockbot.storage import alerts as store
from stockbot.storage.db import READ_ONLY


async def open_alerts_for(
    engine: AsyncEngine,
    config: Config,
    actor: Actor,
    *,
    location: str | None = None,
    limit: int = 50,
) -> list[AlertMessage]:
    """The unresolved alerts ``actor`` may act on (see the module docstring), at ``location`` if given
    (ignoring case), most urgent first, at most ``limit``."""
    if not alert_actions_of(config.roles, actor):
        return []
    async with engine.connect() as conn:
        conn = await conn.execution_options(**READ_ONLY)
        found = await store.unresolved(conn, location=location, limit=limit)
    public_url = config.server.public_url
    return [message_for(alert, level, "updated", SYSTEM, public_url) for alert, level in found]


async def location_named(engine: AsyncEngine, location: str) -> str | None:
    """The catalog's spelling of a location typed by a person (ignoring case); None when unknown."""
    async with engine.connect() as conn:
        conn = await conn.execution_options(**READ_ONLY)
        return await store.known_location(conn, " ".join(location.split()))
