"""The neutral report data: what ``bot/reports.py`` and ``bot/history.py`` compute, and what every report
renderer (the HTML page, CSV, chat report cards) and the HTTP API show. Plain frozen dataclasses, no
behaviour beyond JSON; they sit on the lowest floor so renderers in ``adapters/render/`` can read them.

Every figure is defined once, in the README's "History and reports" section; the names here follow it.
Durations are seconds (floats), times are aware UTC datetimes, days are UTC dates.

Interface for renderers and front ends:

- :class:`Report` ``current`` / ``previous`` (the same :class:`Summary` for the period and the one
  before it, for arrows), ``products`` (per product-location: stock-outs, time out, rate of sale, days of
  cover, suggested reorder quantity) and ``to_json()``.
- :class:`Summary`: ``stockouts``, ``response``, ``impact``, ``noise``, ``repeat_offenders``,
  ``top_time_out``, ``per_day`` (stock-outs per day stacked by severity), ``ack_buckets``
  (time-to-acknowledge distribution), ``locations`` (per-location table).
- :class:`Timeline` of one alert: its entries oldest first (events, alert changes, delivery attempts, clicks,
  escalation steps).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import cached_property
from typing import Any

SEVERITIES = ("low", "out", "critical")
DAY = timedelta(days=1)


def _json(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _json(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): _json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json(v) for v in value]
    return value


def midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


@dataclass(frozen=True)
class Period:
    """Whole UTC days: from ``start`` (inclusive) to ``end`` (exclusive), both at midnight. ``now`` is when
    the report was made: a period that runs into today has only happened up to ``now``."""

    start: date
    end: date
    now: datetime

    @classmethod
    def last(cls, days: int, now: datetime) -> Period:
        """The last ``days`` days, today included (so far)."""
        end = now.astimezone(UTC).date() + DAY
        return cls(end - timedelta(days=days), end, now)

    @classmethod
    def between(cls, start: date, end: date, now: datetime) -> Period:
        return cls(start, end, now)

    @property
    def days(self) -> int:
        return (self.end - self.start).days

    @cached_property
    def starts_at(self) -> datetime:
        return midnight(self.start)

    @cached_property
    def ends_at(self) -> datetime:
        return midnight(self.end)

    @cached_property
    def until(self) -> datetime:
        """The end of what has happened: ``ends_at``, or ``now`` if sooner."""
        return min(self.ends_at, self.now)

    @property
    def elapsed_days(self) -> float:
        return max((self.until - self.starts_at).total_seconds(), 0.0) / 86400

    def previous(self) -> Period:
        """The period of the same length just before this one."""
        return Period(self.start - timedelta(days=self.days), self.start, self.now)

    def dates(self) -> list[date]:
        return [self.start + timedelta(days=i) for i in range(self.days)]


@dataclass(frozen=True)
class Cut:
    """Which products a report covers: any combination of one location, one category, one SKU."""

    location: str | None = None
    category: str | None = None
    sku: str | None = None


@dataclass(frozen=True)
class Durations:
    """``count`` values; p50 and p90 by the nearest-rank method (None when there are none)."""

    count: int
    p50: float | None
    p90: float | None


@dataclass(frozen=True)
class StockoutStats:
    opened: int
    by_severity: dict[str, int]  # worst severity each reached: low, out, critical (all present)
    by_trigger: dict[str, int]  # what opened them
    time_out_seconds: float  # inside the period, all stock-outs (also those opened before it)
    median_duration_seconds: float | None  # of those opened in the period; open ones count until now
    out_now: int  # unresolved right now (not period-bound)
    out_now_by_severity: dict[str, int]


@dataclass(frozen=True)
class ResponseStats:
    time_to_acknowledge: Durations
    time_to_resolve: Durations
    escalated: int  # stock-outs escalated at least once
    escalations: int  # escalation steps taken (reminders not counted)
    never_acknowledged: int


@dataclass(frozen=True)
class Impact:
    blocked_orders: int
    blocked_quantity: int
    stockouts_with_blocked_orders: int


@dataclass(frozen=True)
class ChannelNoise:
    channel: str
    messages: int  # successful sends, a digest counting once
    digests: int
    alerts: int  # distinct alerts sent to it on their own (not in a digest)
    per_alert: float | None  # non-digest messages / alerts


@dataclass(frozen=True)
class Noise:
    messages: int
    digests: int
    per_alert_per_channel: float | None
    feed_silences: int  # feed-silence alerts opened (feeds belong to no cut)
    channels: tuple[ChannelNoise, ...]


@dataclass(frozen=True)
class ProductTime:
    """One product at one location in a ranking (repeat offenders, top time out of stock)."""

    sku: str
    name: str
    location: str
    stockouts: int
    time_out_seconds: float
    blocked_orders: int
    blocked_quantity: int


@dataclass(frozen=True)
class DayCount:
    """Stock-outs opened on one day, by worst severity."""

    day: date
    low: int
    out: int
    critical: int

    @property
    def total(self) -> int:
        return self.low + self.out + self.critical


@dataclass(frozen=True)
class Bucket:
    """Time-to-acknowledge bucket: ``upper_seconds`` exclusive; None is open-ended (or "never")."""

    label: str
    upper_seconds: float | None
    count: int


@dataclass(frozen=True)
class LocationRow:
    location: str
    stockouts: int
    time_out_seconds: float
    out_now: int
    blocked_orders: int
    acknowledge_p50: float | None


@dataclass(frozen=True)
class Summary:
    period: Period
    cut: Cut
    stockouts: StockoutStats
    response: ResponseStats
    impact: Impact
    noise: Noise
    repeat_offenders: tuple[ProductTime, ...]
    top_time_out: tuple[ProductTime, ...]
    per_day: tuple[DayCount, ...]
    ack_buckets: tuple[Bucket, ...]
    locations: tuple[LocationRow, ...]

    def to_json(self) -> dict[str, Any]:
        data = _json(self)
        data["period"] = period_json(self.period)
        return data


def period_json(period: Period) -> dict[str, Any]:
    return {
        "start": period.start.isoformat(),
        "end": period.end.isoformat(),
        "days": period.days,
        "elapsed_days": round(period.elapsed_days, 6),
    }


@dataclass(frozen=True)
class ProductRow:
    """A product at a location: its stock-outs in the period and what to reorder now."""

    sku: str
    name: str
    category: str
    location: str
    stockouts: int
    time_out_seconds: float
    blocked_orders: int
    blocked_quantity: int
    on_hand: int | None
    minimum: int
    units_sold: int  # in the period
    rate_of_sale: float  # units a day over the period
    days_of_cover: float | None  # None: nothing sold (or on hand unknown)
    lead_time_days: int
    suggested_reorder: int | None  # None when on hand is unknown


@dataclass(frozen=True)
class Report:
    current: Summary
    previous: Summary
    products: tuple[ProductRow, ...]
    generated_at: datetime
    review_period_days: int = 7
    notes: tuple[str, ...] = field(default=())

    def to_json(self) -> dict[str, Any]:
        return {
            "generated_at": self.generated_at.isoformat(),
            "review_period_days": self.review_period_days,
            "current": self.current.to_json(),
            "previous": self.previous.to_json(),
            "products": _json(self.products),
            "notes": list(self.notes),
        }


@dataclass(frozen=True)
class Cover:
    """Rate of sale and what it means for one product-location now (shown on every alert)."""

    units_sold: int
    days: float  # the sales window's elapsed days
    rate_of_sale: float
    days_of_cover: float | None
    suggested_reorder: int | None


@dataclass(frozen=True)
class TimelineEntry:
    """One thing that happened to an alert. ``kind``: an audit kind (``alert.opened``, ``delivery.sent``,
    ``escalation.skipped``, ``action.refused`` …) or ``event`` for an inventory or fulfilment event."""

    at: datetime
    kind: str
    actor: str
    summary: str
    detail: dict[str, Any]


@dataclass(frozen=True)
class Timeline:
    alert_id: int
    sku: str
    location: str
    entries: tuple[TimelineEntry, ...]

    def to_json(self) -> dict[str, Any]:
        return _json(self)
