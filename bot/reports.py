"""Reports: what happened over a period, for any cut, and what to reorder now. Pure functions over rows read
from the database; every figure is defined once in the README ("History and reports").

Interface (the data types are in ``adapters/report_data.py``, so renderers on the lowest floor read them):

- ``await report(engine, config, period, cut) -> Report``: the period's :class:`Summary` and the one before
  it (same length), and the per-product-location table with rate of sale, days of cover and the suggested
  reorder quantity. ``Period.last(7, now)`` is the default (the last 7 days, today included so far).
- :func:`summarize` and :func:`product_rows` are the pure parts: fixed rows in, figures out.
- ``report_csv(report)``: the product table as CSV (``stockbot report --format csv``).

A stock-out is one alert from its opening (or reopening) to its resolution (table ``stockouts``). Feed-silence
alerts are not stock-outs: they are counted only as ``noise.feed_silences``.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Text, and_, cast, func, select, union_all
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from stockbot.adapters.message import FEED_CATEGORY, FEED_PREFIX
from stockbot.adapters.report_data import (
    SEVERITIES,
    Bucket,
    ChannelNoise,
    Cut,
    DayCount,
    Durations,
    Impact,
    LocationRow,
    Noise,
    Period,
    ProductRow,
    ProductTime,
    Report,
    ResponseStats,
    StockoutStats,
    Summary,
)
from stockbot.bot.config import Config
from stockbot.bot.history import cover, sales
from stockbot.storage.db import READ_ONLY
from stockbot.storage.tables import alerts, audit_events, products, stock_levels, stockouts

TOP = 10  # rows in each ranking
# Time-to-acknowledge buckets: (label, upper bound in seconds, exclusive); the last two are open-ended.
ACK_BUCKETS: tuple[tuple[str, float | None], ...] = (
    ("under 5 min", 300),
    ("5-15 min", 900),
    ("15-60 min", 3600),
    ("1-4 h", 14400),
    ("4-24 h", 86400),
    ("24 h or more", None),
)
NEVER = "never"
_NOT_FEED = ~and_(products.c.category == FEED_CATEGORY, products.c.sku.startswith(FEED_PREFIX))


# --- rows the pure functions read ---------------------------------------------------------------------


@dataclass(frozen=True)
class StockoutRow:
    sku: str
    location: str
    severity: str
    trigger: str
    opened_at: datetime
    acknowledged_at: datetime | None = None
    resolved_at: datetime | None = None
    escalations: int = 0
    blocked_orders: int = 0
    blocked_quantity: int = 0


@dataclass(frozen=True)
class SendRow:
    """Successful sends (audit ``delivery.sent``) to one channel for one alert, digests apart."""

    channel: str
    alert_id: int
    digest: bool
    count: int


@dataclass(frozen=True)
class CatalogRow:
    sku: str
    name: str
    category: str
    location: str
    on_hand: int | None
    minimum: int
    lead_time_days: int | None


# --- pure: the definitions -----------------------------------------------------------------------------


def nearest_rank(values: Sequence[float], percent: int) -> float | None:
    """The smallest value with at least ``percent``% of the values at or below it (nearest rank)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = -(-percent * len(ordered) // 100)  # ceil(percent / 100 × n), in integers
    return ordered[max(rank, 1) - 1]


def durations(values: Sequence[float]) -> Durations:
    return Durations(len(values), nearest_rank(values, 50), nearest_rank(values, 90))


def seconds(start: datetime, end: datetime) -> float:
    return (end - start).total_seconds()


def opened_in(row: StockoutRow, period: Period) -> bool:
    return period.starts_at <= row.opened_at < period.ends_at


def time_out_in(row: StockoutRow, period: Period) -> float:
    """The part of a stock-out inside the period (until now for one still open)."""
    start = max(row.opened_at, period.starts_at)
    end = min(row.resolved_at or period.now, period.until)
    return max(seconds(start, end), 0.0)


def duration(row: StockoutRow, now: datetime) -> float:
    return seconds(row.opened_at, row.resolved_at or now)


def ack_bucket(wait: float | None) -> str:
    if wait is None:
        return NEVER
    for label, upper in ACK_BUCKETS:
        if upper is None or wait < upper:
            return label
    raise AssertionError("the last bucket is open-ended")


def noise(sends: Iterable[SendRow], feed_silences: int) -> Noise:
    per_channel: dict[str, dict[str, Any]] = defaultdict(
        lambda: {"messages": 0, "digests": 0, "alerts": set()}
    )
    for send in sends:
        entry = per_channel[send.channel]
        entry["messages"] += send.count
        if send.digest:
            entry["digests"] += send.count
        else:
            entry["alerts"].add(send.alert_id)
    channels = []
    for name in sorted(per_channel):
        entry = per_channel[name]
        alone = entry["messages"] - entry["digests"]
        count = len(entry["alerts"])
        channels.append(ChannelNoise(name, entry["messages"], entry["digests"], count, _ratio(alone, count)))
    messages = sum(c.messages for c in channels)
    digests = sum(c.digests for c in channels)
    pairs = sum(c.alerts for c in channels)
    return Noise(messages, digests, _ratio(messages - digests, pairs), feed_silences, tuple(channels))


def _ratio(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


def summarize(
    period: Period,
    cut: Cut,
    rows: Sequence[StockoutRow],
    out_now: dict[tuple[str, str], str],
    sends: Sequence[SendRow],
    feed_silences: int,
    names: dict[str, str],
    locations: Iterable[str] = (),
) -> Summary:
    """Every figure of one period from its stock-out rows (those overlapping the period), the unresolved
    alerts now (product-location → current severity), the period's sends, and product names."""
    opened = [r for r in rows if opened_in(r, period)]
    now = period.now
    acked = [seconds(r.opened_at, r.acknowledged_at) for r in opened if r.acknowledged_at]
    resolved = [seconds(r.opened_at, r.resolved_at) for r in opened if r.resolved_at]
    stats = StockoutStats(
        opened=len(opened),
        by_severity={s: sum(1 for r in opened if r.severity == s) for s in SEVERITIES},
        by_trigger=_count(r.trigger for r in opened),
        time_out_seconds=sum(time_out_in(r, period) for r in rows),
        median_duration_seconds=nearest_rank([duration(r, now) for r in opened], 50),
        out_now=len(out_now),
        out_now_by_severity={s: sum(1 for v in out_now.values() if v == s) for s in SEVERITIES},
    )
    response = ResponseStats(
        time_to_acknowledge=durations(acked),
        time_to_resolve=durations(resolved),
        escalated=sum(1 for r in opened if r.escalations > 0),
        escalations=sum(r.escalations for r in opened),
        never_acknowledged=sum(1 for r in opened if r.acknowledged_at is None),
    )
    impact = Impact(
        blocked_orders=sum(r.blocked_orders for r in opened),
        blocked_quantity=sum(r.blocked_quantity for r in opened),
        stockouts_with_blocked_orders=sum(1 for r in opened if r.blocked_orders > 0),
    )
    ranked = _per_pair(period, rows, names)
    return Summary(
        period=period,
        cut=cut,
        stockouts=stats,
        response=response,
        impact=impact,
        noise=noise(sends, feed_silences),
        repeat_offenders=tuple(p for p in ranked if p.stockouts >= 2)[:TOP],
        top_time_out=tuple(p for p in ranked if p.time_out_seconds > 0)[:TOP],
        per_day=_per_day(period, opened),
        ack_buckets=_buckets(opened),
        locations=_locations(period, rows, out_now, locations),
    )


def _count(values: Iterable[str]) -> dict[str, int]:
    counted: dict[str, int] = {}
    for value in values:
        counted[value] = counted.get(value, 0) + 1
    return dict(sorted(counted.items()))


def _per_pair(period: Period, rows: Sequence[StockoutRow], names: dict[str, str]) -> list[ProductTime]:
    """Every product-location with a stock-out in the period, most time out of stock first."""
    pairs: dict[tuple[str, str], list[StockoutRow]] = defaultdict(list)
    for row in rows:
        pairs[(row.sku, row.location)].append(row)
    ranked = []
    for (sku, location), own in pairs.items():
        opened = [r for r in own if opened_in(r, period)]
        ranked.append(
            ProductTime(
                sku=sku,
                name=names.get(sku, sku),
                location=location,
                stockouts=len(opened),
                time_out_seconds=sum(time_out_in(r, period) for r in own),
                blocked_orders=sum(r.blocked_orders for r in opened),
                blocked_quantity=sum(r.blocked_quantity for r in opened),
            )
        )
    ranked.sort(key=lambda p: (-p.time_out_seconds, -p.stockouts, p.sku, p.location))
    return ranked


def _per_day(period: Period, opened: Sequence[StockoutRow]) -> tuple[DayCount, ...]:
    counts = {day: dict.fromkeys(SEVERITIES, 0) for day in period.dates()}
    for row in opened:
        counts[row.opened_at.date()][row.severity] += 1
    return tuple(DayCount(day, c["low"], c["out"], c["critical"]) for day, c in counts.items())


def _buckets(opened: Sequence[StockoutRow]) -> tuple[Bucket, ...]:
    counted = _count(
        ack_bucket(seconds(r.opened_at, r.acknowledged_at) if r.acknowledged_at else None) for r in opened
    )
    timed = [Bucket(label, upper, counted.get(label, 0)) for label, upper in ACK_BUCKETS]
    return (*timed, Bucket(NEVER, None, counted.get(NEVER, 0)))


def _locations(
    period: Period,
    rows: Sequence[StockoutRow],
    out_now: dict[tuple[str, str], str],
    known: Iterable[str],
) -> tuple[LocationRow, ...]:
    names = set(known) | {r.location for r in rows} | {loc for _, loc in out_now}
    table = []
    for location in sorted(names):
        own = [r for r in rows if r.location == location]
        opened = [r for r in own if opened_in(r, period)]
        waits = [seconds(r.opened_at, r.acknowledged_at) for r in opened if r.acknowledged_at]
        table.append(
            LocationRow(
                location=location,
                stockouts=len(opened),
                time_out_seconds=sum(time_out_in(r, period) for r in own),
                out_now=sum(1 for _, loc in out_now if loc == location),
                blocked_orders=sum(r.blocked_orders for r in opened),
                acknowledge_p50=nearest_rank(waits, 50),
            )
        )
    return tuple(table)


def product_rows(
    summary: Summary,
    catalog: Sequence[CatalogRow],
    sold: dict[tuple[str, str], int],
    rows: Sequence[StockoutRow],
    lead_time_days: int,
    review_period_days: int,
) -> tuple[ProductRow, ...]:
    """Each product-location that ran out in the period, sold something, or should be reordered now."""
    period = summary.period
    elapsed = period.until - period.starts_at
    own: dict[tuple[str, str], list[StockoutRow]] = defaultdict(list)
    for row in rows:
        own[(row.sku, row.location)].append(row)
    table = []
    for item in catalog:
        pair = (item.sku, item.location)
        lead = item.lead_time_days if item.lead_time_days is not None else lead_time_days
        units = sold.get(pair, 0)
        found = cover(units, elapsed, item.on_hand, item.minimum, lead, review_period_days)
        opened = [r for r in own.get(pair, []) if opened_in(r, period)]
        if not (opened or units or found.suggested_reorder):
            continue
        table.append(
            ProductRow(
                sku=item.sku,
                name=item.name,
                category=item.category,
                location=item.location,
                stockouts=len(opened),
                time_out_seconds=sum(time_out_in(r, period) for r in own.get(pair, [])),
                blocked_orders=sum(r.blocked_orders for r in opened),
                blocked_quantity=sum(r.blocked_quantity for r in opened),
                on_hand=item.on_hand,
                minimum=item.minimum,
                units_sold=units,
                rate_of_sale=found.rate_of_sale,
                days_of_cover=found.days_of_cover,
                lead_time_days=lead,
                suggested_reorder=found.suggested_reorder,
            )
        )
    return tuple(table)


# --- reading the database ------------------------------------------------------------------------------


def _cut_stockouts(query: Any, cut: Cut) -> Any:
    query = query.join(products, products.c.sku == stockouts.c.sku).where(_NOT_FEED)
    if cut.sku is not None:
        query = query.where(stockouts.c.sku == cut.sku)
    if cut.location is not None:
        query = query.where(stockouts.c.location == cut.location)
    if cut.category is not None:
        query = query.where(products.c.category == cut.category)
    return query


async def load_stockouts(
    conn: AsyncConnection, start: datetime, until: datetime, cut: Cut
) -> list[StockoutRow]:
    """Stock-outs that overlap [start, until): those opened in it, and those opened before it that resolved
    in it or later, or not at all. Three index range scans (ix_stockouts_opened_at, then
    ix_stockouts_resolved_at twice), never the whole history."""
    columns = [
        stockouts.c.sku,
        stockouts.c.location,
        stockouts.c.severity,
        stockouts.c.trigger,
        stockouts.c.opened_at,
        stockouts.c.acknowledged_at,
        stockouts.c.resolved_at,
        stockouts.c.escalations,
        stockouts.c.blocked_orders,
        stockouts.c.blocked_quantity,
    ]
    before = stockouts.c.opened_at < start
    branches = [
        and_(stockouts.c.opened_at >= start, stockouts.c.opened_at < until),
        and_(before, stockouts.c.resolved_at >= start),
        and_(before, stockouts.c.resolved_at.is_(None)),
    ]
    query = union_all(*(_cut_stockouts(select(*columns).where(where), cut) for where in branches))
    return [StockoutRow(*row) for row in (await conn.execute(query)).all()]


async def feed_silences(conn: AsyncConnection, start: datetime, end: datetime) -> int:
    query = select(func.count()).where(
        stockouts.c.sku.startswith(FEED_PREFIX), stockouts.c.opened_at >= start, stockouts.c.opened_at < end
    )
    return (await conn.execute(query)).scalar_one()


async def load_out_now(conn: AsyncConnection, cut: Cut) -> dict[tuple[str, str], str]:
    """Unresolved alerts now, by product-location, with their current severity (uq_alerts_unresolved)."""
    query = (
        select(alerts.c.sku, alerts.c.location, alerts.c.severity)
        .join(products, products.c.sku == alerts.c.sku)
        .where(alerts.c.state != "resolved", _NOT_FEED)
    )
    if cut.sku is not None:
        query = query.where(alerts.c.sku == cut.sku)
    if cut.location is not None:
        query = query.where(alerts.c.location == cut.location)
    if cut.category is not None:
        query = query.where(products.c.category == cut.category)
    return {(sku, loc): severity for sku, loc, severity in (await conn.execute(query)).all()}


async def load_sends(conn: AsyncConnection, start: datetime, end: datetime, cut: Cut) -> list[SendRow]:
    """``delivery.sent`` audit rows in [start, end) (index ix_audit_events_kind_at), by channel and alert;
    a digest is a send whose detail lists ``digest_of`` and counts under its first alert."""
    digest = cast(audit_events.c.detail, Text).like('%"digest_of"%')
    query = (
        select(audit_events.c.subject, audit_events.c.alert_id, digest.label("digest"), func.count())
        .where(
            audit_events.c.kind == "delivery.sent",
            audit_events.c.at >= start,
            audit_events.c.at < end,
            audit_events.c.alert_id.is_not(None),
        )
        .group_by(audit_events.c.subject, audit_events.c.alert_id, digest)
    )
    if cut != Cut():
        query = query.join(alerts, alerts.c.id == audit_events.c.alert_id).join(
            products, products.c.sku == alerts.c.sku
        )
        if cut.sku is not None:
            query = query.where(alerts.c.sku == cut.sku)
        if cut.location is not None:
            query = query.where(alerts.c.location == cut.location)
        if cut.category is not None:
            query = query.where(products.c.category == cut.category)
    rows = (await conn.execute(query)).all()
    return [SendRow(channel or "", alert_id, bool(is_digest), n) for channel, alert_id, is_digest, n in rows]


async def load_catalog(conn: AsyncConnection, cut: Cut) -> list[CatalogRow]:
    query = (
        select(
            products.c.sku,
            products.c.name,
            products.c.category,
            stock_levels.c.location,
            stock_levels.c.on_hand,
            stock_levels.c.minimum,
            stock_levels.c.lead_time_days,
        )
        .join(stock_levels, stock_levels.c.sku == products.c.sku)
        .where(_NOT_FEED)
        .order_by(products.c.sku, stock_levels.c.location)
    )
    if cut.sku is not None:
        query = query.where(products.c.sku == cut.sku)
    if cut.location is not None:
        query = query.where(stock_levels.c.location == cut.location)
    if cut.category is not None:
        query = query.where(products.c.category == cut.category)
    return [CatalogRow(*row) for row in (await conn.execute(query)).all()]


async def _snapshot(engine: AsyncEngine) -> Any:
    """One read transaction for the whole report: every figure describes the same moment (on PostgreSQL
    REPEATABLE READ; a SQLite read transaction is a snapshot already)."""
    conn = await engine.connect()
    options: dict[str, Any] = dict(READ_ONLY)
    if engine.dialect.name == "postgresql":
        options["isolation_level"] = "REPEATABLE READ"
    return await conn.execution_options(**options)


async def report(engine: AsyncEngine, config: Config, period: Period, cut: Cut = Cut()) -> Report:
    """The report for ``period`` and ``cut``, compared with the period of the same length before it."""
    previous = period.previous()
    conn = await _snapshot(engine)
    try:
        catalog = await load_catalog(conn, cut)
        rows = await load_stockouts(conn, previous.starts_at, period.until, cut)
        out_now = await load_out_now(conn, cut)
        summaries = []
        for each in (period, previous):
            sends = await load_sends(conn, each.starts_at, each.until, cut)
            silences = await feed_silences(conn, each.starts_at, each.until)
            summaries.append((each, sends, silences))
        sold = await sales(conn, period, cut.sku, cut.location)
    finally:
        await conn.close()
    names = {item.sku: item.name for item in catalog}
    locations = sorted({item.location for item in catalog})
    current, before = (
        summarize(each, cut, _overlapping(rows, each), out_now, sends, silences, names, locations)
        for each, sends, silences in summaries
    )
    reorder = config.reorder
    table = product_rows(
        current,
        catalog,
        sold,
        _overlapping(rows, period),
        reorder.lead_time_days,
        reorder.review_period_days,
    )
    return Report(current, before, table, period.now, reorder.review_period_days)


def _overlapping(rows: Sequence[StockoutRow], period: Period) -> list[StockoutRow]:
    return [
        r
        for r in rows
        if r.opened_at < period.until and (r.resolved_at is None or r.resolved_at >= period.starts_at)
    ]


# --- CSV ------------------------------------------------------------------------------------------------

CSV_COLUMNS = [
    "sku",
    "name",
    "category",
    "location",
    "stockouts",
    "hours_out_of_stock",
    "blocked_orders",
    "blocked_quantity",
    "on_hand",
    "minimum",
    "units_sold",
    "rate_of_sale_per_day",
    "days_of_cover",
    "lead_time_days",
    "suggested_reorder",
]


def report_csv(report: Report) -> str:
    """The product table: one row per product-location (see :func:`product_rows`)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    for p in report.products:
        writer.writerow(
            [
                p.sku,
                p.name,
                p.category,
                p.location,
                p.stockouts,
                f"{p.time_out_seconds / 3600:.2f}",
                p.blocked_orders,
                p.blocked_quantity,
                "" if p.on_hand is None else p.on_hand,
                p.minimum,
                p.units_sold,
                f"{p.rate_of_sale:.3f}",
                "" if p.days_of_cover is None else f"{p.days_of_cover:.1f}",
                p.lead_time_days,
                "" if p.suggested_reorder is None else p.suggested_reorder,
            ]
        )
    return buffer.getvalue()
