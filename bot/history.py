"""History: the level history rolled up into daily totals, rate of sale and days of cover, event retention,
and one alert's timeline. Definitions are in the README ("History and reports"); the arithmetic is in pure
functions here (:func:`roll_up`, :func:`cover`) and tested with fixed data.

Interface:

- :func:`roll_up_events` (the ``rollup`` sweep, ``scheduler/jobs.py``): new events → ``daily_stock``.
- :func:`prune_events`: raw events older than ``[storage] event_retention`` go, once rolled up.
- :func:`sales` / :func:`cover_for`: units sold per product-location over a :class:`Period`, from the daily
  totals plus the events not rolled up yet (so a report is exact to the minute).
- :func:`timeline`: everything that happened to one alert, oldest first (``Timeline``), for the API and
  the browser page.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from stockbot.adapters.report_data import Cover, Period, Timeline, TimelineEntry
from stockbot.storage import history as store
from stockbot.storage.db import READ_ONLY
from stockbot.storage.history import DayRow, EventRow, Pair, RawEvent
from stockbot.storage.tables import alerts, stockouts

# The roll-up reads only events received at least this long ago: on PostgreSQL a transaction holding a lower
# event id may still be committing, and the mark must never pass an event it has not read.
COMMIT_MARGIN = timedelta(minutes=1)
CHUNK = 10_000  # events per transaction: short enough that ingest never waits long for the write lock


# --- pure: readings and daily totals ---------------------------------------------------------------------


class Reading(NamedTuple):
    """A level reading (``on_hand``) or a failed fulfilment (``blocked``: units short), of one
    product-location."""

    sku: str
    location: str
    occurred_at: datetime
    on_hand: int | None = None
    blocked: int | None = None


def as_time(value: str | datetime) -> datetime:
    """A stored time: SQLite hands back its UTC text, asyncpg an aware datetime."""
    if isinstance(value, str):
        return datetime.fromisoformat(value).replace(tzinfo=UTC)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def reading_of(row: RawEvent) -> Reading | None:
    """Applied inventory events are readings (``status: out_of_stock`` without ``on_hand`` reads 0, as the
    level does); failed fulfilments count as blocked units; stale and unmatched events count for nothing."""
    if row.outcome != "applied":
        return None
    if row.kind == "fulfillment_failed":
        blocked = max((row.requested or 0) - (row.on_hand or 0), 0)
        return Reading(row.sku, row.location, as_time(row.occurred_at), blocked=blocked)
    return Reading(row.sku, row.location, as_time(row.occurred_at), on_hand=row.on_hand or 0)


@dataclass
class DayTotals:
    readings: int = 0
    units_sold: int = 0
    units_received: int = 0
    closing_on_hand: int | None = None
    failed_fulfilments: int = 0
    blocked_quantity: int = 0

    def row(self) -> DayRow:
        return DayRow(
            self.readings,
            self.units_sold,
            self.units_received,
            self.closing_on_hand,
            self.failed_fulfilments,
            self.blocked_quantity,
        )


def roll_up(readings: Iterable[Reading], last: dict[Pair, int]) -> dict[tuple[str, str, date], DayTotals]:
    """Daily totals of ``readings`` (in the order they were applied). A decrease from the previous reading
    is units sold, an increase units received (a restock), both on the day of the later reading.

    ``last`` holds each product-location's previous reading and is moved on to the newest."""
    days: dict[tuple[str, str, date], DayTotals] = {}
    for reading in readings:
        pair = (reading.sku, reading.location)
        totals = days.setdefault((reading.sku, reading.location, reading.occurred_at.date()), DayTotals())
        if reading.blocked is not None:
            totals.failed_fulfilments += 1
            totals.blocked_quantity += reading.blocked
            continue
        assert reading.on_hand is not None
        before = last.get(pair)
        if before is not None and reading.on_hand < before:
            totals.units_sold += before - reading.on_hand
        elif before is not None:
            totals.units_received += reading.on_hand - before
        totals.readings += 1
        totals.closing_on_hand = reading.on_hand
        last[pair] = reading.on_hand
    return days


DAY_US = 86_400_000_000  # a day in microseconds: the arithmetic below is in whole numbers


def cover(
    units_sold: int,
    elapsed: timedelta,
    on_hand: int | None,
    minimum: int,
    lead_time_days: int,
    review_period_days: int,
) -> Cover:
    """Rate of sale = units sold ÷ elapsed days; days of cover = on hand ÷ rate (None when nothing sold);
    suggested reorder = ⌈rate × (lead time + review period) + minimum − on hand⌉, at least 0.

    The reorder is worked in integers (microseconds), so no float rounding can tip it over a whole unit."""
    micro = max(elapsed // timedelta(microseconds=1), 0)
    sold = units_sold if micro else 0
    rate = sold * DAY_US / micro if micro else 0.0
    days_of_cover = on_hand * micro / (sold * DAY_US) if sold and on_hand is not None else None
    reorder = None
    if on_hand is not None:
        needed = -(-sold * (lead_time_days + review_period_days) * DAY_US // micro) if micro else 0
        reorder = max(0, needed + minimum - on_hand)
    return Cover(
        units_sold=units_sold,
        days=elapsed.total_seconds() / 86400,
        rate_of_sale=rate,
        days_of_cover=days_of_cover,
        suggested_reorder=reorder,
    )


# --- the roll-up and retention sweeps ------------------------------------------------------------------


async def roll_up_events(
    engine: AsyncEngine, now: datetime, margin: timedelta = COMMIT_MARGIN, chunk: int = CHUNK
) -> int:
    """Add events not rolled up yet (received before ``now - margin``) to ``daily_stock``; return how many
    were read. Each chunk commits with the mark, so a crash loses nothing and counts nothing twice."""
    total = 0
    while True:
        async with engine.begin() as conn:
            mark = await store.lock_mark(conn, now)
            rows = await store.events_after(conn, mark, chunk)
            ready = _ready(rows, now - margin)
            if not ready:
                return total
            await _apply(conn, ready)
            await store.write_mark(conn, ready[-1].id, now)
        total += len(ready)
        if len(ready) < chunk:
            return total


def _ready(rows: Sequence[RawEvent], before: datetime) -> list[RawEvent]:
    """The rows up to the first one received too recently (ids are handed out before commit)."""
    if not rows:
        return []
    limit: str | datetime = before
    if isinstance(rows[0].received_at, str):  # SQLite's UTC text sorts as the times do
        limit = before.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")
    for index, row in enumerate(rows):
        if row.received_at >= limit:  # type: ignore[operator]
            return list(rows[:index])
    return list(rows)


async def _apply(conn: AsyncConnection, rows: Sequence[RawEvent]) -> None:
    readings = [r for r in map(reading_of, rows) if r is not None]
    pairs = {(r.sku, r.location) for r in readings if r.on_hand is not None}
    last = await store.last_readings(conn, pairs)
    days = roll_up(readings, last)
    await store.add_days(conn, {key: totals.row() for key, totals in days.items()})
    await store.save_readings(conn, {pair: last[pair] for pair in pairs})


async def prune_events(engine: AsyncEngine, now: datetime, retention: timedelta) -> int:
    """Delete raw events received more than ``retention`` ago that are rolled up; the audit log stays."""
    deleted = 0
    while True:
        async with engine.begin() as conn:
            mark = await store.read_mark(conn)
            done = await store.prune_events(conn, now - retention, mark)
        deleted += done
        if done == 0:
            return deleted


# --- sales over a period -------------------------------------------------------------------------------


async def sales(
    conn: AsyncConnection, period: Period, sku: str | None = None, location: str | None = None
) -> dict[Pair, int]:
    """Units sold per product-location on the period's days: ``daily_stock`` plus the events after the mark.

    Call it inside one read transaction (a snapshot), so a roll-up committing meanwhile is seen whole or not
    at all."""
    last_day = period.end - timedelta(days=1)
    sold = await store.units_sold(conn, period.start, last_day, sku, location)
    mark = await store.read_mark(conn)
    pair = (sku, location) if sku is not None and location is not None else None
    tail = [r for r in await store.events_after(conn, mark, pair=pair) if _in_cut(r, sku, location)]
    if not tail:
        return sold
    readings = [r for r in map(reading_of, tail) if r is not None]
    last = await store.last_readings(conn, {(r.sku, r.location) for r in readings})
    for (s, loc, day), totals in roll_up(readings, last).items():
        if period.start <= day <= last_day and totals.units_sold:
            sold[(s, loc)] = sold.get((s, loc), 0) + totals.units_sold
    return sold


def _in_cut(row: RawEvent, sku: str | None, location: str | None) -> bool:
    return (sku is None or row.sku == sku) and (location is None or row.location == location)


async def cover_for(
    conn: AsyncConnection,
    sku: str,
    location: str,
    on_hand: int | None,
    minimum: int,
    lead_time_days: int,
    review_period_days: int,
    window_days: int,
    now: datetime,
) -> Cover:
    """Rate of sale over the last ``window_days`` days (today so far included) and what it means now."""
    period = Period.last(window_days, now)
    sold = (await sales(conn, period, sku, location)).get((sku, location), 0)
    elapsed = period.until - period.starts_at
    return cover(sold, elapsed, on_hand, minimum, lead_time_days, review_period_days)


async def sales_of(conn: Any, period: Period, pairs: Iterable[Pair]) -> dict[Pair, int]:
    """:func:`sales` for a set of product-locations, in a fixed number of statements whatever their number
    (the alert desk reads the rate of sale of every change it writes). ``conn``: an async connection, or
    anything whose ``execute`` answers these SELECTs the same way (the SQLite writer's reader)."""
    wanted = sorted(set(pairs))
    if not wanted:
        return {}
    last_day = period.end - timedelta(days=1)
    # the roll-up's totals and the events after its mark (and on PostgreSQL its last readings), one statement
    sold, tail, last = await store.sales_inputs_of(conn, period.start, last_day, wanted)
    if not tail:
        return sold
    readings = [r for r in map(reading_of, tail) if r is not None]
    if last is None:
        last = await store.last_readings_of(conn, sorted({(r.sku, r.location) for r in readings}))
    for (s, loc, day), totals in roll_up(readings, last).items():
        if period.start <= day <= last_day and totals.units_sold:
            sold[(s, loc)] = sold.get((s, loc), 0) + totals.units_sold
    return sold


# --- one alert's timeline ------------------------------------------------------------------------------


async def timeline(engine: AsyncEngine, alert_id: int, now: datetime) -> Timeline | None:
    """The audit rows of one alert (its changes, every delivery attempt, clicks, refusals, escalation
    steps) and the events of its product-location from the reading that opened it to its last resolution,
    oldest first. Events older than ``[storage] event_retention`` are gone; the audit rows stay."""
    async with engine.connect() as conn:
        conn = await conn.execution_options(**READ_ONLY)
        alert = (await conn.execute(select(alerts).where(alerts.c.id == alert_id))).mappings().first()
        if alert is None:
            return None
        pair = (alert["sku"], alert["location"])
        audit = await store.audit_of(conn, alert_id)
        span = (
            await conn.execute(
                select(func.min(stockouts.c.opened_at), func.max(stockouts.c.resolved_at)).where(
                    stockouts.c.alert_id == alert_id
                )
            )
        ).one()
        first = span[0] or alert["opened_at"]
        until = None if alert["state"] != "resolved" else (alert["resolved_at"] or span[1])
        events = await store.events_of(conn, pair, first - timedelta(days=1), until)
        # a digest's deliveries are audited under its first alert: the others find theirs by digest_of
        last_send = until + timedelta(days=1) if until else None  # a held digest goes out after resolving
        audit = [*audit, *await store.digests_with(conn, alert_id, first, last_send)]
    events = _from_opening(events, first)
    entries = [_event_entry(e) for e in events] + [_audit_entry(row) for row in audit]
    entries.sort(key=lambda e: e.at)
    return Timeline(alert_id, pair[0], pair[1], tuple(entries))


def _from_opening(events: list[EventRow], opened_at: datetime) -> list[EventRow]:
    """Events from the newest one at or before the opening (the one that opened it) onwards."""
    before = [e for e in events if e.occurred_at <= opened_at]
    start = events.index(before[-1]) if before else 0
    return events[start:]


def _event_entry(row: EventRow) -> TimelineEntry:
    if row.kind == "fulfillment_failed":
        what = f"order could not be fulfilled: {row.requested} requested, {row.on_hand} available"
    elif row.on_hand is None:
        what = "reported out of stock"
    else:
        what = f"{row.on_hand} on hand" + (" (reported out of stock)" if row.status else "")
    if row.outcome != "applied":
        what += f" [{row.outcome}: not applied]"
    detail = {
        "event_id": row.event_id,
        "kind": row.kind,
        "on_hand": row.on_hand,
        "status": row.status,
        "outcome": row.outcome,
        "occurred_at": row.occurred_at.isoformat(),
        "received_at": row.received_at.isoformat(),
    }
    if row.requested is not None:
        detail["requested"] = row.requested
    return TimelineEntry(row.occurred_at, "event", f"source:{row.source}", f"{row.source}: {what}", detail)


def _audit_entry(row: Mapping[str, Any]) -> TimelineEntry:
    detail = dict(row["detail"] or {})
    return TimelineEntry(row["at"], row["kind"], row["actor"], describe(row["kind"], detail), detail)


def describe(kind: str, d: Mapping[str, Any]) -> str:
    """One line for an audit row, for people reading a timeline."""
    if kind.startswith("alert."):
        verb = kind.removeprefix("alert.").capitalize()
        level = "" if d.get("on_hand") is None else f", {d['on_hand']} on hand"
        note = f": {d['note']}" if d.get("note") else ""
        return f"{verb} ({d.get('severity')}, {d.get('state')}{level}){note}"
    if kind.startswith("delivery."):
        where = f"{d.get('event')} to {d.get('adapter')}"
        digest = f" in a digest of {len(d['digest_of'])}" if d.get("digest_of") else ""
        words = {
            "delivery.sent": f"Delivered {where}{digest} (attempt {d.get('attempt')})",
            "delivery.retry": f"Attempt {d.get('attempt')} of {where} failed, retrying at "
            f"{d.get('retry_at')}: {d.get('error')}",
            "delivery.failed": f"Delivery of {where} failed for good: {d.get('error')}",
            "delivery.dead": f"Delivery of {where} dead-lettered: {d.get('error')}",
        }
        return words.get(kind, kind)
    if kind == "escalation.skipped":
        return f"Step {d.get('step')} skipped: {d.get('reason')}"
    if kind == "escalation.paused":
        return f"Escalation paused until {d.get('until')}"
    if kind == "escalation.cancelled":
        return f"Escalation stopped ({d.get('reason')})"
    if kind == "action.refused":
        return f"Refused {d.get('action')}: {d.get('reason')}"
    return kind
