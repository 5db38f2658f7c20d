"""Forecast alerts (opt-in: ``[alerts] forecast_horizon = "3d"``): warn before the minimum is reached.

A sweep (``scheduler/jobs.py``, leased like the others) reads every product-location above its minimum with
no alert open, and its rate of sale over the last ``[reorder] sales_window_days``. When its days of cover
(on hand ÷ rate of sale, README "History and reports") are within the horizon, it opens a ``low`` alert with
trigger ``forecast``: "expected to run out in about 2 days at the current rate (4.5 a day)". The alert is
routed, escalated, acknowledged and audited like any other.

It resolves when the forecast no longer says so: a later sweep finds the product above its minimum and its
days of cover beyond the horizon (after a restock, or when sales slow down). A level above the minimum does
not resolve it on its own (``bot/alerts.py``), or every sale would close and reopen it; once the level falls
to the minimum the alert is an ordinary low-stock alert and the sweep leaves it to the level.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import and_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from stockbot.adapters import notes
from stockbot.adapters.message import FEED_CATEGORY, FEED_PREFIX, duration_text
from stockbot.adapters.report_data import Cover, Period
from stockbot.bot.alerts import FORECAST, AlertDesk, retrying
from stockbot.bot.history import cover, sales
from stockbot.bot.permissions import SYSTEM
from stockbot.storage import alerts as store
from stockbot.storage.db import READ_ONLY
from stockbot.storage.tables import alerts, products, stock_levels

SEVERITY = "low"


@dataclass(frozen=True)
class Candidate:
    sku: str
    location: str
    on_hand: int
    minimum: int
    lead_time_days: int | None
    open_alert_id: int | None


def expected_in(days: float) -> str:
    """How a forecast reads: "less than a day", "about 1 day", "about 3 days" (to the nearest day)."""
    if days < 0.5:
        return notes.LESS_THAN_A_DAY
    whole = int(days + 0.5)
    return (notes.ABOUT_A_DAY if whole == 1 else notes.ABOUT_DAYS).format(days=whole)


def reason_for(found: Cover) -> str:
    assert found.days_of_cover is not None
    rate = f"{found.rate_of_sale:.1f}".removesuffix(".0")
    return notes.RUNS_OUT.format(when=expected_in(found.days_of_cover), rate=rate)


def within(found: Cover, horizon: timedelta) -> bool:
    return found.days_of_cover is not None and found.days_of_cover * 86400 <= horizon.total_seconds()


async def sweep(desk: AlertDesk) -> int:
    """Open forecast alerts that are due and resolve those the forecast no longer supports; return how many
    alerts changed. Idempotent: each change re-checks the level under its lock."""
    horizon = desk.config.alerts.forecast_horizon
    if horizon is None:
        return 0
    now = desk.clock.now()
    window = Period.last(desk.config.reorder.sales_window_days, now)
    async with desk.engine.connect() as conn:
        conn = await conn.execution_options(**READ_ONLY)
        rows = await _candidates(conn)
        sold = await sales(conn, window)
        forecast_ids = set(
            (
                await conn.execute(
                    select(alerts.c.id).where(alerts.c.state != "resolved", alerts.c.trigger == FORECAST)
                )
            ).scalars()
        )
    elapsed = window.until - window.starts_at
    changed = 0
    for row in rows:
        found = _cover(desk, row, sold.get((row.sku, row.location), 0), elapsed)
        if row.open_alert_id is None and within(found, horizon):
            changed += await retrying(functools.partial(_open, desk, row, found))
        elif (
            row.open_alert_id is not None and row.open_alert_id in forecast_ids and not within(found, horizon)
        ):
            changed += await retrying(functools.partial(_resolve, desk, row.open_alert_id, horizon))
    return changed  # each change's transaction handed its deliveries to the dispatcher


async def _candidates(conn: AsyncConnection) -> list[Candidate]:
    """Product-locations above their minimum (a forecast's ground), stock only, with their open alert."""
    query = (
        select(
            stock_levels.c.sku,
            stock_levels.c.location,
            stock_levels.c.on_hand,
            stock_levels.c.minimum,
            stock_levels.c.lead_time_days,
            stock_levels.c.open_alert_id,
        )
        .join(products, products.c.sku == stock_levels.c.sku)
        .where(
            stock_levels.c.on_hand > stock_levels.c.minimum,
            ~and_(products.c.category == FEED_CATEGORY, products.c.sku.startswith(FEED_PREFIX)),
        )
    )
    return [Candidate(*row) for row in (await conn.execute(query)).all()]


def _cover(desk: AlertDesk, row: Candidate, units: int, elapsed: timedelta) -> Cover:
    reorder = desk.config.reorder
    lead = row.lead_time_days if row.lead_time_days is not None else reorder.lead_time_days
    return cover(units, elapsed, row.on_hand, row.minimum, lead, reorder.review_period_days)


async def _open(desk: AlertDesk, row: Candidate, found: Cover) -> int:
    async with desk.transaction() as conn:
        level = await store.load_level(conn, row.sku, row.location, lock=True)
        if level is None or level.open_alert_id is not None or level.on_hand != row.on_hand:
            return 0  # an event or another replica got there first; the next sweep looks again
        await desk.open_in(conn, level, SEVERITY, FORECAST, SYSTEM, reason_for(found))
    return 1


async def _resolve(desk: AlertDesk, alert_id: int, horizon: timedelta) -> int:
    async with desk.transaction() as conn:
        alert = await store.load_alert(conn, alert_id)
        if alert is None or alert.state == "resolved" or alert.trigger != FORECAST:
            return 0
        level = await store.load_level(conn, alert.sku, alert.location, lock=True)
        if level is None or level.on_hand is None or level.on_hand <= level.minimum:
            return 0  # short now: an ordinary low-stock alert, resolved by the level
        why = f"forecast: no longer expected to run out within {duration_text(timedelta(0), horizon)}"
        await desk.resolve_in(conn, alert, level, SYSTEM, why)
    return 1
