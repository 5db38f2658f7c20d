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

import asyncio
import csv
import io
from bisect import bisect_right
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import Float, Integer, and_, cast, extract, func, select, text, union_all
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
from stockbot.bot.watchdog import FEED_LOCATION
from stockbot.storage.db import READ_ONLY, fetch_tuples
from stockbot.storage.tables import DIGEST_DELIVERIES, alerts, audit_events, products, stock_levels, stockouts

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
    """Successful sends (audit ``delivery.sent``) to one channel in a period: how many, how many of them
    digests, and how many distinct alerts they went to (a digest counting under its first alert)."""

    channel: str
    messages: int
    digests: int
    alerts: int


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


class Span(NamedTuple):
    """One stock-out with its times in seconds since the epoch: what the arithmetic reads (a report goes
    through tens of thousands of these; floats of whole seconds subtract exactly)."""

    sku: str
    location: str
    severity: str
    trigger: str
    opened: float
    acknowledged: float | None
    resolved: float | None
    escalations: int
    blocked_orders: int
    blocked_quantity: int


def _ts(value: datetime | None) -> float | None:
    return None if value is None else value.timestamp()


def span_of(row: StockoutRow | Span) -> Span:
    if isinstance(row, Span):
        return row
    return Span(
        row.sku,
        row.location,
        row.severity,
        row.trigger,
        row.opened_at.timestamp(),
        _ts(row.acknowledged_at),
        _ts(row.resolved_at),
        row.escalations,
        row.blocked_orders,
        row.blocked_quantity,
    )


class Window(NamedTuple):
    """A period's bounds in seconds since the epoch: start, end (exclusive), until (end or now) and now."""

    start: float
    end: float
    until: float
    now: float

    @classmethod
    def of(cls, period: Period) -> Window:
        return cls(
            period.starts_at.timestamp(),
            period.ends_at.timestamp(),
            period.until.timestamp(),
            period.now.timestamp(),
        )

    def opened_in(self, span: Span) -> bool:
        return self.start <= span.opened < self.end

    def overlaps(self, span: Span) -> bool:
        return span.opened < self.until and (span.resolved is None or span.resolved >= self.start)

    def time_out(self, span: Span) -> float:
        """The part of a stock-out inside the period (until now for one still open)."""
        end = min(self.now if span.resolved is None else span.resolved, self.until)
        return max(end - max(span.opened, self.start), 0.0)


def nearest_rank(values: Sequence[float], percent: int) -> float | None:
    """The smallest value with at least ``percent``% of the values at or below it (nearest rank)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = -(-percent * len(ordered) // 100)  # ceil(percent / 100 × n), in integers
    return ordered[max(rank, 1) - 1]


def durations(values: Sequence[float]) -> Durations:
    return Durations(len(values), nearest_rank(values, 50), nearest_rank(values, 90))


def time_out_in(row: StockoutRow | Span, period: Period) -> float:
    """The part of a stock-out inside the period (until now for one still open)."""
    return Window.of(period).time_out(span_of(row))


def ack_bucket(wait: float | None) -> str:
    if wait is None:
        return NEVER
    for label, upper in ACK_BUCKETS:
        if upper is None or wait < upper:
            return label
    raise AssertionError("the last bucket is open-ended")


def noise(sends: Iterable[SendRow], feed_silences: int) -> Noise:
    channels = [
        ChannelNoise(c.channel, c.messages, c.digests, c.alerts, _ratio(c.messages - c.digests, c.alerts))
        for c in sorted(sends, key=lambda c: c.channel)
    ]
    messages = sum(c.messages for c in channels)
    digests = sum(c.digests for c in channels)
    pairs = sum(c.alerts for c in channels)
    return Noise(messages, digests, _ratio(messages - digests, pairs), feed_silences, tuple(channels))


def _ratio(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


@dataclass
class Tally:
    """One product-location's (or location's) stock-outs in a period."""

    stockouts: int = 0  # opened in the period
    time_out: float = 0.0  # inside the period, all of its stock-outs
    blocked_orders: int = 0  # of those opened in the period
    blocked_quantity: int = 0


def tallies(spans: Iterable[Span], window: Window) -> dict[tuple[str, str], Tally]:
    """Per product-location: :meth:`Window.time_out` and :meth:`Window.opened_in`, written out inline (a
    month of stock-outs is tens of thousands of spans)."""
    found: dict[tuple[str, str], Tally] = {}
    start, end, until, now = window
    for span in spans:
        key = (span.sku, span.location)
        tally = found.get(key)
        if tally is None:
            tally = found[key] = Tally()
        stop = now if span.resolved is None else span.resolved
        lasted = (stop if stop < until else until) - (span.opened if span.opened > start else start)
        if lasted > 0:
            tally.time_out += lasted
        if start <= span.opened < end:
            tally.stockouts += 1
            tally.blocked_orders += span.blocked_orders
            tally.blocked_quantity += span.blocked_quantity
    return found


def summarize(
    period: Period,
    cut: Cut,
    rows: Sequence[StockoutRow | Span],
    out_now: dict[tuple[str, str], str],
    sends: Sequence[SendRow],
    feed_silences: int,
    names: dict[str, str],
    locations: Iterable[str] = (),
    pairs: dict[tuple[str, str], Tally] | None = None,
) -> Summary:
    """Every figure of one period from its stock-out rows (those overlapping the period), the unresolved
    alerts now (product-location → current severity), the period's sends, and product names (``pairs``:
    the rows' :func:`tallies`, when the caller has them already)."""
    window = Window.of(period)
    spans = [span_of(r) for r in rows]
    opened = [s for s in spans if window.opened_in(s)]
    acked = [s.acknowledged - s.opened for s in opened if s.acknowledged is not None]
    resolved = [s.resolved - s.opened for s in opened if s.resolved is not None]
    lasted = [(window.now if s.resolved is None else s.resolved) - s.opened for s in opened]
    pairs = tallies(spans, window) if pairs is None else pairs
    stats = StockoutStats(
        opened=len(opened),
        by_severity={v: sum(1 for s in opened if s.severity == v) for v in SEVERITIES},
        by_trigger=_count(s.trigger for s in opened),
        time_out_seconds=sum(t.time_out for t in pairs.values()),
        median_duration_seconds=nearest_rank(lasted, 50),
        out_now=len(out_now),
        out_now_by_severity={v: sum(1 for x in out_now.values() if x == v) for v in SEVERITIES},
    )
    response = ResponseStats(
        time_to_acknowledge=durations(acked),
        time_to_resolve=durations(resolved),
        escalated=sum(1 for s in opened if s.escalations > 0),
        escalations=sum(s.escalations for s in opened),
        never_acknowledged=sum(1 for s in opened if s.acknowledged is None),
    )
    impact = Impact(
        blocked_orders=sum(s.blocked_orders for s in opened),
        blocked_quantity=sum(s.blocked_quantity for s in opened),
        stockouts_with_blocked_orders=sum(1 for s in opened if s.blocked_orders > 0),
    )
    ranked = _ranked(pairs, names)
    return Summary(
        period=period,
        cut=cut,
        stockouts=stats,
        response=response,
        impact=impact,
        noise=noise(sends, feed_silences),
        repeat_offenders=tuple(p for p in ranked if p.stockouts >= 2)[:TOP],
        top_time_out=tuple(p for p in ranked if p.time_out_seconds > 0)[:TOP],
        per_day=_per_day(period, window, opened),
        ack_buckets=_buckets(opened),
        locations=_locations(pairs, opened, out_now, locations),
    )


def _count(values: Iterable[str]) -> dict[str, int]:
    return dict(sorted(Counter(values).items()))


def _ranked(pairs: dict[tuple[str, str], Tally], names: dict[str, str]) -> list[ProductTime]:
    """Every product-location with a stock-out in the period, most time out of stock first."""
    ranked = [
        ProductTime(
            sku, names.get(sku, sku), loc, t.stockouts, t.time_out, t.blocked_orders, t.blocked_quantity
        )
        for (sku, loc), t in pairs.items()
    ]
    ranked.sort(key=lambda p: (-p.time_out_seconds, -p.stockouts, p.sku, p.location))
    return ranked


def _per_day(period: Period, window: Window, opened: Sequence[Span]) -> tuple[DayCount, ...]:
    counts = [dict.fromkeys(SEVERITIES, 0) for _ in range(period.days)]
    for span in opened:
        counts[int((span.opened - window.start) // 86400)][span.severity] += 1
    return tuple(
        DayCount(day, c["low"], c["out"], c["critical"])
        for day, c in zip(period.dates(), counts, strict=True)
    )


_BOUNDS = [upper for _, upper in ACK_BUCKETS if upper is not None]


def _buckets(opened: Sequence[Span]) -> tuple[Bucket, ...]:
    """:func:`ack_bucket` for many: the bucket of a wait is the number of upper bounds at or below it."""
    counts = [0] * (len(ACK_BUCKETS) + 1)  # the last one: never
    for span in opened:
        if span.acknowledged is None:
            counts[-1] += 1
        else:
            counts[bisect_right(_BOUNDS, span.acknowledged - span.opened)] += 1
    timed = [Bucket(label, upper, n) for (label, upper), n in zip(ACK_BUCKETS, counts, strict=False)]
    return (*timed, Bucket(NEVER, None, counts[-1]))


def _locations(
    pairs: dict[tuple[str, str], Tally],
    opened: Sequence[Span],
    out_now: dict[tuple[str, str], str],
    known: Iterable[str],
) -> tuple[LocationRow, ...]:
    places: dict[str, Tally] = {name: Tally() for name in known}
    for (_, location), tally in pairs.items():
        place = places.setdefault(location, Tally())
        place.stockouts += tally.stockouts
        place.time_out += tally.time_out
        place.blocked_orders += tally.blocked_orders
    waits: dict[str, list[float]] = defaultdict(list)
    for span in opened:
        if span.acknowledged is not None:
            waits[span.location].append(span.acknowledged - span.opened)
    now_out = _count(loc for _, loc in out_now)
    for location in now_out:
        places.setdefault(location, Tally())
    return tuple(
        LocationRow(
            location=name,
            stockouts=place.stockouts,
            time_out_seconds=place.time_out,
            out_now=now_out.get(name, 0),
            blocked_orders=place.blocked_orders,
            acknowledge_p50=nearest_rank(waits.get(name, []), 50),
        )
        for name, place in sorted(places.items())
    )


def product_rows(
    summary: Summary,
    catalog: Sequence[CatalogRow],
    sold: dict[tuple[str, str], int],
    rows: Sequence[StockoutRow | Span],
    lead_time_days: int,
    review_period_days: int,
    pairs: dict[tuple[str, str], Tally] | None = None,
) -> tuple[ProductRow, ...]:
    """Each product-location that ran out in the period, sold something, or should be reordered now."""
    period = summary.period
    elapsed = period.until - period.starts_at
    if pairs is None:
        pairs = tallies((span_of(r) for r in rows), Window.of(period))
    empty = Tally()
    table = []
    for item in catalog:
        pair = (item.sku, item.location)
        lead = item.lead_time_days if item.lead_time_days is not None else lead_time_days
        units = sold.get(pair, 0)
        found = cover(units, elapsed, item.on_hand, item.minimum, lead, review_period_days)
        tally = pairs.get(pair, empty)
        if not (tally.stockouts or units or found.suggested_reorder):
            continue
        table.append(
            ProductRow(
                sku=item.sku,
                name=item.name,
                category=item.category,
                location=item.location,
                stockouts=tally.stockouts,
                time_out_seconds=tally.time_out,
                blocked_orders=tally.blocked_orders,
                blocked_quantity=tally.blocked_quantity,
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
    """A feed's stock-outs are at location ``feed`` with SKU ``feed:<source>`` (bot/watchdog.py): told apart
    without a join; products are joined only for a category."""
    query = query.where(~and_(stockouts.c.location == FEED_LOCATION, stockouts.c.sku.startswith(FEED_PREFIX)))
    if cut.sku is not None:
        query = query.where(stockouts.c.sku == cut.sku)
    if cut.location is not None:
        query = query.where(stockouts.c.location == cut.location)
    if cut.category is not None:
        query = query.join(products, products.c.sku == stockouts.c.sku).where(
            products.c.category == cut.category
        )
    return query


def epoch_seconds(column: Any, dialect: str) -> Any:
    """A stored time as seconds since the epoch, computed by the database: a report reads tens of thousands
    of them, and a datetime object for each would cost more than the rest of the report. Exact to the
    microsecond on both (SQLite stores UTC text with microseconds)."""
    if dialect == "postgresql":
        return cast(extract("epoch", column), Float)
    return cast(func.strftime("%s", column), Integer) + cast(func.substr(column, 20), Float)


def stockouts_query(start: datetime, until: datetime, cut: Cut, dialect: str) -> Any:
    """Stock-outs that overlap [start, until): those opened in it, and those opened before it that resolved
    in it or later, or not at all. Three index range scans (ix_stockouts_opened_at, then
    ix_stockouts_resolved_at twice), never the whole history."""
    columns = [
        stockouts.c.sku,
        stockouts.c.location,
        stockouts.c.severity,
        stockouts.c.trigger,
        epoch_seconds(stockouts.c.opened_at, dialect),
        epoch_seconds(stockouts.c.acknowledged_at, dialect),
        epoch_seconds(stockouts.c.resolved_at, dialect),
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
    return union_all(*(_cut_stockouts(select(*columns).where(where), cut) for where in branches))


async def load_stockout_tuples(
    conn: AsyncConnection, start: datetime, until: datetime, cut: Cut
) -> list[tuple[Any, ...]]:
    """:func:`stockouts_query`'s rows; a month is tens of thousands, so read as plain tuples."""
    return await fetch_tuples(conn, stockouts_query(start, until, cut, conn.dialect.name))


def spans_of(rows: Iterable[tuple[Any, ...]]) -> list[Span]:
    return list(map(Span._make, rows))


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
    query = _cut_alerts(query, cut)
    return {(sku, loc): severity for sku, loc, severity in (await conn.execute(query)).all()}


def _sends_query(columns: list[Any], start: datetime, end: datetime, cut: Cut) -> Any:
    query = (
        select(audit_events.c.subject, *columns)
        .where(
            audit_events.c.kind == "delivery.sent",
            audit_events.c.at >= start,
            audit_events.c.at < end,
            audit_events.c.alert_id.is_not(None),
        )
        .group_by(audit_events.c.subject)
    )
    if cut != Cut():
        joined = query.join(alerts, alerts.c.id == audit_events.c.alert_id)
        query = _cut_alerts(joined.join(products, products.c.sku == alerts.c.sku), cut)
    return query


def _cut_alerts(query: Any, cut: Cut) -> Any:
    """``query`` (over alerts joined to products) narrowed to ``cut``."""
    return _cut_joined(query, cut, alerts.c.sku, alerts.c.location)


def _cut_joined(query: Any, cut: Cut, sku: Any, location: Any) -> Any:
    """``query``, already joined to products, narrowed to ``cut`` on its own ``sku`` and ``location``."""
    if cut.sku is not None:
        query = query.where(sku == cut.sku)
    if cut.location is not None:
        query = query.where(location == cut.location)
    if cut.category is not None:
        query = query.where(products.c.category == cut.category)
    return query


async def load_sends(conn: AsyncConnection, start: datetime, end: datetime, cut: Cut) -> list[SendRow]:
    """``delivery.sent`` audit rows in [start, end), per channel: counted from ix_audit_events_kind_at
    alone, and the digests among them (detail lists ``digest_of``) through the partial index
    ix_audit_events_digests, whose condition the query repeats word for word."""
    counts = [func.count(), func.count(audit_events.c.alert_id.distinct())]
    sent = {
        channel: (n, distinct)
        for channel, n, distinct in (await conn.execute(_sends_query(counts, start, end, cut))).all()
    }
    digest_query = _sends_query([func.count()], start, end, cut).where(
        text(DIGEST_DELIVERIES[conn.dialect.name])
    )
    digests = dict((await conn.execute(digest_query)).all())
    return [
        SendRow(channel or "", n, digests.get(channel, 0), distinct)
        for channel, (n, distinct) in sent.items()
    ]


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
    query = _cut_joined(query, cut, products.c.sku, stock_levels.c.location)
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
        out_now = await load_out_now(conn, cut)
        rows = await load_stockout_tuples(conn, previous.starts_at, period.until, cut)
        # Both periods are summed up on a thread of their own while the other reads run: the database does
        # those in C (SQLite's thread, or PostgreSQL's process) without holding the GIL, so on two cores
        # the two halves overlap instead of following each other.
        summed = asyncio.create_task(
            asyncio.to_thread(_summaries, rows, (period, previous), cut, out_now, catalog)
        )
        try:
            noises = []
            for each in (period, previous):
                sends = await load_sends(conn, each.starts_at, each.until, cut)
                noises.append(noise(sends, await feed_silences(conn, each.starts_at, each.until)))
            sold = await sales(conn, period, cut.sku, cut.location)
        finally:
            done = await summed
    finally:
        await conn.close()
    (current, pairs), (before, _) = [
        (replace(summary, noise=found), pairs) for (summary, pairs), found in zip(done, noises, strict=True)
    ]
    reorder = config.reorder
    table = product_rows(
        current, catalog, sold, [], reorder.lead_time_days, reorder.review_period_days, pairs
    )
    return Report(current, before, table, period.now, reorder.review_period_days)


def _overlapping(spans: Sequence[Span], period: Period) -> list[Span]:
    window = Window.of(period)
    return [s for s in spans if window.overlaps(s)]


def _summaries(
    rows: Sequence[tuple[Any, ...]],
    periods: Sequence[Period],
    cut: Cut,
    out_now: dict[tuple[str, str], str],
    catalog: Sequence[CatalogRow],
) -> list[tuple[Summary, dict[tuple[str, str], Tally]]]:
    """Per period: its :func:`summarize` (with no sends yet: the caller adds the noise) and its tallies."""
    spans = spans_of(rows)
    names = {item.sku: item.name for item in catalog}
    locations = sorted({item.location for item in catalog})
    found = []
    for each in periods:
        overlapping = _overlapping(spans, each)
        pairs = tallies(overlapping, Window.of(each))
        found.append((summarize(each, cut, overlapping, out_now, (), 0, names, locations, pairs), pairs))
    return found


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
