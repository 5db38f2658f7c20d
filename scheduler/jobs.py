"""APScheduler jobs: idempotent sweeps over our own tables, so APScheduler keeps no state of its own.

With several replicas on one PostgreSQL, a lease row makes each tick run in one process only; a process
that dies simply stops renewing, and another takes the next tick.

Jobs: ``batch_check``, ``escalations``, ``feed_watchdog``; ``rollup`` (events into daily totals, then event
retention: ``bot/history.py``); ``forecast`` when ``[alerts] forecast_horizon`` is set (``bot/forecast.py``);
``scheduled_reports`` every minute when ``[[reports]]`` are configured (``bot/report_requests.py``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from functools import partial

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy.ext.asyncio import AsyncEngine

from stockbot.bot.alerts import AlertDesk
from stockbot.bot.clock import Clock
from stockbot.bot.config import Config
from stockbot.bot.forecast import sweep as forecast_sweep
from stockbot.bot.history import prune_events, roll_up_events
from stockbot.bot.outage import Outage
from stockbot.bot.report_requests import REPORT_SWEEP, send_due_reports
from stockbot.bot.watchdog import check_feeds, sweep_interval
from stockbot.storage.sweeps import take_lease

log = logging.getLogger("stockbot.scheduler")


def leased(
    engine: AsyncEngine,
    clock: Clock,
    worker: str,
    name: str,
    interval: timedelta,
    job: Callable[[], Awaitable[int]],
) -> Callable[[], Awaitable[None]]:
    async def tick() -> None:
        if not await take_lease(engine, name, worker, clock.now(), interval * 0.9):
            return
        try:
            done = await job()
        except asyncio.CancelledError:
            # APScheduler cancels a running job when the process stops, and would log the cancellation as
            # a failure with its traceback. Its transaction is rolled back; the next tick, here or on
            # another replica, does the work again.
            log.info("%s: stopped with the process; the next tick runs it again", name)
            return
        except Exception:
            log.exception("%s failed; it runs again in %s", name, interval)
            return
        if done:
            log.info("%s: %d changed", name, done)

    return tick


async def roll_up(engine: AsyncEngine, clock: Clock, config: Config) -> int:
    """New events into daily totals, then raw events past [storage] event_retention out (audit log stays)."""
    rolled = await roll_up_events(engine, clock.now())
    pruned = await prune_events(engine, clock.now(), config.storage.event_retention)
    if pruned:
        log.info(
            "rollup: deleted %d event(s) older than %s, kept as daily totals",
            pruned,
            config.storage.event_retention,
        )
    return rolled


def outage_sweep(outage: Outage) -> Callable[[], Awaitable[None]]:
    """Per process, no lease (each process audits what it saw): close an outage once the database is back,
    so its audit row is written even where nothing probes /readyz."""

    async def tick() -> None:
        if outage.ongoing:
            await outage.over()

    return tick


def build_scheduler(
    config: Config,
    desk: AlertDesk,
    engine: AsyncEngine,
    clock: Clock,
    worker: str,
    outage: Outage | None = None,
) -> AsyncIOScheduler:
    """The sweeps of one process; ``worker`` names it in the lease rows (the dispatcher's worker id)."""
    scheduler = AsyncIOScheduler(timezone="UTC")
    alerts = config.alerts
    jobs: dict[str, tuple[timedelta, Callable[[], Awaitable[int]]]] = {
        "batch_check": (alerts.batch_check_interval, desk.batch_check),
        "escalations": (alerts.escalation_sweep_interval, desk.escalate_due),
        "feed_watchdog": (sweep_interval(config), partial(check_feeds, desk)),
        "rollup": (config.storage.rollup_interval, partial(roll_up, engine, clock, config)),
    }
    if alerts.forecast_horizon is not None:
        jobs["forecast"] = (alerts.forecast_interval, partial(forecast_sweep, desk))
    if config.reports:  # [[reports]]: each due report into the outbox, once (bot/report_requests.py)
        jobs["scheduled_reports"] = (REPORT_SWEEP, partial(send_due_reports, config, engine, clock))
    for name, (interval, job) in jobs.items():
        scheduler.add_job(
            leased(engine, clock, worker, name, interval, job),
            "interval",
            seconds=interval.total_seconds(),
            id=name,
            max_instances=1,
            coalesce=True,
            # the first sweep soon after start: shortages whose events were missed while we were down
            next_run_time=datetime.now(UTC) + timedelta(seconds=2),
        )
    if outage is not None:
        interval = alerts.escalation_sweep_interval
        scheduler.add_job(
            outage_sweep(outage),
            "interval",
            seconds=interval.total_seconds(),
            id="outage",
            max_instances=1,
            coalesce=True,
        )
    return scheduler
