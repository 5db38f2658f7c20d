"""The feed watchdog: "no alerts" must never silently mean "the feed is down".

A source with ``expect_every`` (``[sources.erp] expect_every = "10m"``) that has sent no new event for longer
raises a ``feed silent`` alert, and the alert resolves (actor: the source) on the first sweep after its
events resume. The alert is an ordinary alert on a pseudo-product per source (SKU ``feed:<source>``, category
and location ``feed``, no stock level), so cards update in place, Acknowledge and Escalate work, and the audit
log and outbox are the ones every alert uses. Routing sends it to the source's ``channels``
(:func:`bot.routing.feed_policy`), or, without channels, wherever a critical alert in category ``feed``
would go.

The feed's stock-level row keeps one time in ``last_event_at``: when watching began (the first sweep that
saw the source configured, or its newest event if older), or the newest event seen when the alert was
raised. Events received after it end the silence; "events" are new ones accepted from the source (signed,
not duplicates), whatever their outcome. Each sweep is idempotent and locks the feed's row, so replicas
sweeping at once raise and resolve each alert once. A feed alert resolved by hand while the feed is still
silent is raised again (reopened) by the next sweep, as the batch check does for stock.

The alert is written with :meth:`AlertDesk.open_in` and :meth:`AlertDesk.resolve_in`, in the sweep's
transaction.
"""

from __future__ import annotations

import functools
from dataclasses import replace
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from stockbot.adapters import notes
from stockbot.adapters.message import FEED_CATEGORY, FEED_PREFIX, duration_text
from stockbot.bot.alerts import AlertDesk, retrying
from stockbot.bot.config import Config
from stockbot.bot.permissions import SYSTEM, Actor
from stockbot.storage import alerts as store
from stockbot.storage.alerts import Alert, Level
from stockbot.storage.db import READ_ONLY
from stockbot.storage.tables import alerts, events, products, stock_levels

FEED_LOCATION = "feed"
TRIGGER = "feed_silent"
SEVERITY = "critical"  # while a feed is silent every shortage it would report goes unseen
MIN_SWEEP, MAX_SWEEP = timedelta(seconds=15), timedelta(seconds=60)


def feed_sku(source: str) -> str:
    return FEED_PREFIX + source


def watched(config: Config) -> dict[str, timedelta]:
    """Each watched source's ``expect_every``."""
    return {name: s.expect_every for name, s in config.sources.items() if s.expect_every is not None}


def sweep_interval(config: Config) -> timedelta:
    """Half the shortest ``expect_every``, between 15 s and 60 s (60 s with nothing watched: the sweep
    still resolves alerts of sources that are no longer watched)."""
    expected = watched(config).values()
    half = min(expected) / 2 if expected else MAX_SWEEP
    return min(max(half, MIN_SWEEP), MAX_SWEEP)


async def check_feeds(desk: AlertDesk) -> int:
    """Raise or resolve each watched source's ``feed silent`` alert; return how many changed. Idempotent."""
    changed = 0
    for name, every in watched(desk.config).items():
        changed += await retrying(functools.partial(_check, desk, name, every))
    changed += await _forget_unwatched(desk)
    return changed


async def _check(desk: AlertDesk, name: str, every: timedelta) -> int:
    now = desk.clock.now()
    sku = feed_sku(name)
    async with desk.transaction() as conn:  # its deliveries go to the dispatcher once it commits
        last = await last_event_at(conn, name)
        await _ensure_feed(conn, name, last or now)
        level = await store.load_level(conn, sku, FEED_LOCATION, lock=True)  # one sweeper per feed at a time
        assert level is not None and level.last_event_at is not None
        alert = await store.load_unresolved(conn, sku, FEED_LOCATION)
        if alert is not None:
            if last is None or last <= level.last_event_at:
                return 0  # still silent: the card already says so
            resumed = notes.FEED_RESUMED.format(name=name, time=f"{last:%Y-%m-%d %H:%M}")
            await _resolve(desk, conn, alert, level, name, resumed)
            return 1
        since = max(level.last_event_at, last) if last else level.last_event_at
        if now - since <= every:
            return 0
        await conn.execute(
            update(stock_levels)
            .where(stock_levels.c.sku == sku, stock_levels.c.location == FEED_LOCATION)
            .values(last_event_at=since)
        )
        reason = _silent_reason(name, every, since, now, heard=last is not None)
        level = replace(level, last_event_at=since)
        await desk.open_in(conn, level, SEVERITY, TRIGGER, SYSTEM, reason)
        return 1


async def last_event_at(conn: AsyncConnection, source: str) -> datetime | None:
    """When the newest event from ``source`` arrived (index ``ix_events_source_received_at``)."""
    query = (
        select(events.c.received_at)
        .where(events.c.source == source)
        .order_by(events.c.received_at.desc())
        .limit(1)
    )
    return (await conn.execute(query)).scalar_one_or_none()


async def _ensure_feed(conn: AsyncConnection, name: str, watching_since: datetime) -> None:
    """The feed's pseudo-product and level, created once (concurrent sweeps insert nothing twice)."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    sku = feed_sku(name)
    product = {"sku": sku, "name": f"{name} feed", "category": FEED_CATEGORY, "key_product": False}
    await conn.execute(dialect.insert(products).values(product).on_conflict_do_nothing())
    # No on_hand: the batch check (on_hand <= minimum) never sees a feed.
    level = {
        "sku": sku,
        "location": FEED_LOCATION,
        "minimum": 0,
        "on_hand": None,
        "last_event_at": watching_since,
        "last_source": name,
    }
    await conn.execute(dialect.insert(stock_levels).values(level).on_conflict_do_nothing())


def _silent_reason(name: str, every: timedelta, since: datetime, now: datetime, *, heard: bool) -> str:
    expected = duration_text(timedelta(0), every)
    if heard:
        return notes.FEED_SILENT.format(name=name, duration=duration_text(since, now), every=expected)
    return notes.FEED_NEVER_HEARD.format(name=name, since=f"{since:%Y-%m-%d %H:%M}", every=expected)


async def _resolve(
    desk: AlertDesk, conn: AsyncConnection, alert: Alert, level: Level, name: str, reason: str
) -> None:
    """Resolve in the sweep's transaction, by the source itself."""
    await desk.resolve_in(conn, alert, level, Actor(id=name, via="source"), reason)


async def _forget_unwatched(desk: AlertDesk) -> int:
    """Resolve feed alerts left open by a source that is no longer watched (its config changed)."""
    keep = [feed_sku(name) for name in watched(desk.config)]
    query = select(alerts.c.id).where(
        alerts.c.location == FEED_LOCATION,
        alerts.c.sku.startswith(FEED_PREFIX),
        alerts.c.sku.not_in(keep),
        alerts.c.state != "resolved",
    )
    async with desk.engine.connect() as conn:
        conn = await conn.execution_options(**READ_ONLY)
        stale = list((await conn.execute(query)).scalars())
    changed = 0
    for alert_id in stale:
        async with desk.transaction() as conn:
            alert = await store.load_alert(conn, alert_id)
            if alert is None or alert.state == "resolved":
                continue  # another replica got there first
            level = await store.load_level(conn, alert.sku, alert.location, lock=True)
            if level is None or level.category != FEED_CATEGORY:
                continue
            name = alert.sku.removeprefix(FEED_PREFIX)
            why = notes.FEED_UNWATCHED.format(name=name)
            await _resolve(desk, conn, alert, level, name, why)
            changed += 1
    return changed


def unheard_feeds(config: Config) -> list[str]:
    """Config problems: a watched source whose silence nobody would hear (no channels, no matching route)."""
    from stockbot.bot.routing import policy_for

    return [
        f"sources.{name}.expect_every: nobody would hear that {name} went silent; add channels = [...] to "
        f'[sources.{name}], or a route that matches category "feed"'
        for name, source in config.sources.items()
        if source.expect_every
        and not source.channels
        and not policy_for(config, "critical", FEED_CATEGORY, FEED_LOCATION, feed_sku(name)).steps[0].channels
    ]
