"""Reports asked for in chat and reports sent on a schedule; the figures come from :mod:`bot.reports`.

**In chat**: ``/stock report [7d|30d] [location or category]`` (Slack) and ``report …`` (Teams). Anyone with a
role may ask (``report`` in :data:`bot.permissions.RULES`); a refusal is audited. The words after the period
name one location or one category, matched ignoring case (locations first, since a shop may be called after a
product line). The answer is a :class:`~adapters.report_card.ReportCard`: key figures with arrows against the
previous period of the same length, and the top 5 repeat offenders.

**On a schedule**: ``[[reports]] channels = [...], every = "mon 09:00", period = "7d"``. ``every`` is read
in each channel's ``timezone``. A sweep (``scheduler/jobs.py``, every minute, one replica at a time) finds
each channel's latest due time; when it passed less than :data:`CATCH_UP` ago and that report is not queued
yet, the report goes into the outbox like an alert (event ``report``): cards in Slack and Teams, HTML
e-mail, text elsewhere, retried and audited by the dispatcher. The delivery's idempotency key names the
report, the channel and the due time, so a restart or a second replica never sends it twice. A scheduled
report covers whole UTC days: the ``period`` days before the day it is sent.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from stockbot.adapters.i18n import WordedError, phrase
from stockbot.adapters.message import AlertMessage
from stockbot.adapters.report_card import ReportCard, report_card
from stockbot.adapters.report_data import Cut, Period
from stockbot.bot.clock import Clock
from stockbot.bot.config import Config, ReportScheduleConfig
from stockbot.bot.outbox import enqueue
from stockbot.bot.permissions import Actor, PermissionDenied, require
from stockbot.bot.reports import report
from stockbot.bot.routing import channels_of
from stockbot.storage.alert_list import scopes
from stockbot.storage.audit import append, audit_row, record
from stockbot.storage.tables import deliveries

log = logging.getLogger("stockbot.reports")
PERIODS = (7, 30)
REPORT_SWEEP = timedelta(minutes=1)  # how often the schedule is looked at (scheduler/jobs.py)
CATCH_UP = timedelta(hours=6)  # a report due while stockbot was down still goes out within this
_PERIOD = re.compile(r"^(\d{1,2})d$", re.IGNORECASE)


class BadReportRequest(WordedError, ValueError):
    """Words a report request cannot use; the phrase says what would work."""


@dataclass(frozen=True)
class ReportRequest:
    days: int = 7
    cut: Cut = field(default_factory=Cut)


def parse_request(words: str, locations: Sequence[str], categories: Sequence[str]) -> ReportRequest:
    """``[7d|30d] [location or category]``: the period first (default 7 days), then one scope."""
    rest = words.split()
    days = 7
    if rest and _PERIOD.match(rest[0]):
        days = int(rest.pop(0)[:-1])
        if days not in PERIODS:
            raise BadReportRequest(phrase("reports cover 7d or 30d, not {days}d", days=days))
    scope = " ".join(rest)
    if not scope:
        return ReportRequest(days)
    for location in locations:
        if location.lower() == scope.lower():
            return ReportRequest(days, Cut(location=location))
    for category in categories:
        if category.lower() == scope.lower():
            return ReportRequest(days, Cut(category=category))
    raise BadReportRequest(
        phrase(
            "no location or category is called {scope}. Locations: {locations}; categories: {categories}",
            scope=repr(scope[:60]),
            locations=tuple(locations) or phrase("none"),
            categories=tuple(categories) or phrase("none"),
        )
    )


def dashboard_link(config: Config, request: ReportRequest) -> str | None:
    """The report page for the same period and cut (it asks for a session, like every page)."""
    base = config.server.public_url
    if not base:
        return None
    query = f"period={request.days}d"
    if request.cut.location:
        query += f"&location={request.cut.location}"
    if request.cut.category:
        query += f"&category={request.cut.category}"
    return f"{base.rstrip('/')}/reports?{query.replace(' ', '+')}"


async def chat_report(
    engine: AsyncEngine, config: Config, clock: Clock, actor: Actor, words: str
) -> ReportCard:
    """The card a person asked for in chat; :class:`PermissionDenied` (audited) without a role, and
    :class:`BadReportRequest` for words that name no period, location or category."""
    try:
        require(config.roles, "report", actor)
    except PermissionDenied as denied:
        row = audit_row(clock.now(), "action.refused", actor.label, action="report", reason=str(denied))
        await record(engine, row)
        raise
    locations, categories = await scopes(engine)
    request = parse_request(words, locations, categories)
    now = clock.now()
    made = await report(engine, config, Period.last(request.days, now), request.cut)
    return report_card(made, dashboard_link(config, request))


# --- on a schedule -------------------------------------------------------------------------------------


def latest_due(schedule: ReportScheduleConfig, zone: str, now: datetime) -> datetime | None:
    """The latest time at or before ``now`` the schedule names, in the channel's zone (None within a week:
    never, which cannot happen with a valid schedule)."""
    tz = ZoneInfo(zone)
    local_now = now.astimezone(tz)
    hour, minute = schedule.time()
    for back in range(8):
        day = local_now.date() - timedelta(days=back)
        if day.weekday() not in schedule.days():
            continue
        due = datetime.combine(day, time(hour, minute), tzinfo=tz)
        if due <= local_now:
            return due.astimezone(UTC)
    return None


def report_message(card: ReportCard, now: datetime) -> AlertMessage:
    """A report as the outbox carries it: an AlertMessage with no alert (id 0) and the card."""
    return AlertMessage(
        alert_id=0,
        event="report",
        sku="report",
        product_name=card.title(),  # English, for logs: renderers word the card
        category="report",
        key_product=False,
        location="",
        on_hand=None,
        minimum=0,
        critical_level=None,
        severity="low",
        state="open",
        trigger="report",
        opened_at=now,
        updated_at=now,
        link=card.link,
        report=card,
    )


def _key(index: int, due: datetime) -> str:
    return f"report{index}-{due:%Y%m%dT%H%MZ}"


async def _queued(engine: AsyncEngine, keys: list[str]) -> set[str]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(deliveries.c.idempotency_key).where(deliveries.c.idempotency_key.in_(keys))
        )
        return set(rows.scalars())


async def send_due_reports(config: Config, engine: AsyncEngine, clock: Clock) -> int:
    """Queue every scheduled report that is due and not queued yet; return how many deliveries were queued."""
    channels = channels_of(config)
    now = clock.now()
    queued = 0
    for index, schedule in enumerate(config.reports):
        due = {
            name: when
            for name in schedule.channels
            if name in channels
            and (when := latest_due(schedule, channels[name].timezone, now)) is not None
            and now - when <= CATCH_UP
        }
        keys = {name: f"{_key(index, when)}-{name}" for name, when in due.items()}  # the outbox's key form
        already = await _queued(engine, list(keys.values()))
        waiting = {name: when for name, when in due.items() if keys[name] not in already}
        if not waiting:
            continue
        today = now.astimezone(UTC).date()
        request = ReportRequest(
            int(schedule.period[:-1]), Cut(location=schedule.location, category=schedule.category)
        )
        period = Period.between(today - timedelta(days=request.days), today, now)
        card = report_card(await report(engine, config, period, request.cut), dashboard_link(config, request))
        message = report_message(card, now)
        async with engine.begin() as conn:
            for name, when in waiting.items():
                sent = await enqueue(conn, channels, [name], message, now, _key(index, when))
                queued += len(sent)
            await append(
                conn,
                [
                    audit_row(
                        now,
                        "report.queued",
                        "system:stockbot",
                        subject=card.title(),
                        channels=sorted(waiting),
                    )
                ],
            )
        log.info("scheduled report %d (%s) queued for %s", index, card.title(), ", ".join(sorted(waiting)))
    return queued
