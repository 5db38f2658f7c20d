"""The neutral message: plain data about alerts and stock that the core hands to renderers and adapters.

It sits below the core and the renderers alike, so both can speak of an alert without importing each other:
``AlertMessage`` (one alert at one moment), ``BlockedOrder``, the stock answer types, the feed pseudo-product
rule and ``duration_text``. Nothing here renders or sends.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import MISSING, dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from stockbot.adapters.i18n import DEFAULT_LANGUAGE, tr
from stockbot.adapters.report_card import ReportCard

# The feed watchdog (bot/watchdog.py) raises its alerts on a pseudo-product per source: SKU
# ``feed:<source>``, category and location ``feed``. They are worded as feeds, not as stock.
FEED_PREFIX = "feed:"
FEED_CATEGORY = "feed"


@dataclass(frozen=True)
class BlockedOrder:
    order_id: str
    requested: int
    available: int
    rep: str | None = None

    @property
    def blocked(self) -> int:
        return max(self.requested - self.available, 0)


@dataclass(frozen=True)
class AlertMessage:
    """Everything any destination may show about one alert, at one moment. Plain data, no behaviour.

    ``event`` says why this message exists: ``opened``, ``updated``, ``worsened`` (the severity rose:
    ``previous_severity`` says from what), ``acknowledged``, ``snoozed``, ``escalated``, ``resolved``,
    ``reopened`` or ``test``.
    """

    alert_id: int
    event: str
    sku: str
    product_name: str
    category: str
    key_product: bool
    location: str
    on_hand: int | None
    minimum: int
    critical_level: int | None
    severity: str  # low | out | critical
    state: str  # open | acknowledged | escalated | resolved
    # low_stock | out_of_stock | source_out_of_stock | batch_check | manual | fulfillment_failed
    # | feed_silent (the feed watchdog) | forecast (expected to run out, bot/forecast.py) | digest
    trigger: str
    opened_at: datetime
    updated_at: datetime
    actor: str | None = None
    reason: str | None = None
    blocked_orders: tuple[BlockedOrder, ...] = ()
    acknowledged_by: str | None = None
    acknowledged_at: datetime | None = None
    escalated_by: str | None = None
    escalated_at: datetime | None = None
    escalation_level: int = 0
    escalation_note: str | None = None
    snoozed_until: datetime | None = None
    resolved_at: datetime | None = None
    resolved_by: str | None = None
    last_source: str | None = None
    last_changed_at: datetime | None = None
    link: str | None = None
    # Rate of sale (units a day over the last [reorder] sales_window_days), days of cover at that rate (None
    # when nothing sold) and the suggested reorder quantity (README, "History and reports"); all None for
    # feeds and test alerts.
    rate_of_sale: float | None = None
    days_of_cover: float | None = None
    suggested_reorder: int | None = None
    # Who this message should mention in chat (Slack user U…/group S… ids, Teams members): set per channel
    # by the escalation step that sends it.
    mentions: tuple[str, ...] = ()
    # The channel's own wording from its `template` (rendered by the dispatcher); renderers use it in place
    # of their built-in text when set.
    custom_text: str | None = None
    # A digest (event "digest") stands for several alerts: their latest messages, most severe first.
    digest: tuple[AlertMessage, ...] = ()
    # A report (event "report", alert_id 0): key figures and repeat offenders instead of one alert's facts.
    report: ReportCard | None = None
    # Who flagged it out of stock by hand (/oos), while that flag stands.
    flagged_by: str | None = None
    # The level an unresolved alert resolves above (its minimum plus [alerts] resolve_buffer).
    resolves_above: int | None = None
    # For ``worsened``: the severity before (low → out, out → critical).
    previous_severity: str | None = None
    # Why a person resolved it by hand (a manager's Resolve, a cleared flag); None when stock came back.
    resolved_note: str | None = None
    # The reader's language and time zone: set per channel by the dispatcher (like ``mentions``); what a
    # chat card cannot show in each reader's own zone, and every e-mail and SMS, uses ``timezone``.
    language: str = DEFAULT_LANGUAGE
    timezone: str = "UTC"

    @property
    def blocked_quantity(self) -> int:
        return sum(order.blocked for order in self.blocked_orders)

    @property
    def is_resolved(self) -> bool:
        return self.state == "resolved"

    @property
    def resolved_by_hand(self) -> bool:
        """Closed by a person, not by stock coming back: it must never read "back in stock"."""
        return self.is_resolved and self.resolved_note is not None

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict; the outbox stores this snapshot and :meth:`from_json` reads it back."""
        data = dict(self.__dict__)
        for name in _TIMES:
            if data[name] is not None:
                data[name] = data[name].isoformat()
        data["blocked_orders"] = [order.__dict__ for order in self.blocked_orders]
        data["digest"] = [item.to_json() for item in self.digest]
        data["report"] = self.report.to_json() if self.report is not None else None
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> AlertMessage:
        # Every delivery attempt reads one back: the fields' kinds are worked out once (_TIMES), not per call.
        values = {name: data[name] for name in _FIELDS if name in data}
        for name in _TIMES:
            if isinstance(values.get(name), str):
                values[name] = datetime.fromisoformat(values[name])
        if "blocked_orders" in values:
            values["blocked_orders"] = tuple(BlockedOrder(**order) for order in values["blocked_orders"])
        if "mentions" in values:
            values["mentions"] = tuple(values["mentions"])
        if "digest" in values:
            values["digest"] = tuple(cls.from_json(item) for item in values["digest"])
        if values.get("report"):
            values["report"] = ReportCard.from_json(values["report"])
        if cls is not AlertMessage or not _REQUIRED.issubset(values):
            return cls(**values)  # whatever the constructor says of it, as ever
        # Every delivery attempt builds one: filled in place, a frozen dataclass's __init__ sets each of
        # its ~45 fields through object.__setattr__, about half the cost of reading the message back.
        message = object.__new__(cls)
        message.__dict__.update(_DEFAULTS)
        message.__dict__.update(values)
        return message


_FIELDS = tuple(AlertMessage.__dataclass_fields__)
_DEFAULTS = {
    name: f.default for name, f in AlertMessage.__dataclass_fields__.items() if f.default is not MISSING
}
_REQUIRED = frozenset(name for name in _FIELDS if name not in _DEFAULTS)
_TIMES = tuple(name for name, f in AlertMessage.__dataclass_fields__.items() if "datetime" in str(f.type))


def localized(message: AlertMessage, language: str, timezone: str) -> AlertMessage:
    """``message`` (and a digest's alerts) for one channel's readers."""
    if not message.digest and message.language == language and message.timezone == timezone:
        return message  # already theirs (every delivery to a channel in the default language and zone)
    digest = tuple(localized(item, language, timezone) for item in message.digest)
    return replace(message, language=language, timezone=timezone, digest=digest)


RECOVERING = "recovering"  # the level is above the minimum again, not yet above the resolve buffer
FLAGGED = "flagged"  # a person said it is out although the system's level shows stock
REPORTED = "reported"  # the source said out of stock although its own level shows stock


def alert_condition(message: AlertMessage) -> str | None:
    """How an unresolved alert's severity and the system's level disagree now, if they do: a card must say
    "2 on hand, recovering" or "flagged by Sam although the system shows 5", never "Out of stock" beside a
    level that is not out. None when the severity is simply what the level says."""
    on_hand = message.on_hand
    if message.is_resolved or message.digest or feed_source(message) is not None or on_hand is None:
        return None
    if message.flagged_by and on_hand > 0:
        return FLAGGED
    if message.trigger == "source_out_of_stock" and on_hand > 0:
        return REPORTED
    if not message.flagged_by and on_hand > message.minimum:
        return RECOVERING
    return None


def feed_source(message: AlertMessage) -> str | None:
    """The source a feed-watchdog alert is about; None for every stock alert."""
    if message.category == FEED_CATEGORY and message.sku.startswith(FEED_PREFIX):
        return message.sku.removeprefix(FEED_PREFIX)
    return None


# Both ends are moments or both are offsets: a constrained TypeVar, where a union would allow a mix.
_Point = TypeVar("_Point", datetime, timedelta)


def duration_text(start: _Point, end: _Point, language: str = DEFAULT_LANGUAGE) -> str:
    seconds = max(int((end - start).total_seconds()), 0)
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return tr(language, "{days} days").format(days=hours // 24)


@dataclass(frozen=True)
class OpenAlert:
    id: int
    state: str
    severity: str
    opened_at: datetime
    acknowledged_by: str | None
    acknowledged_at: datetime | None
    escalated_by: str | None
    escalated_at: datetime | None
    escalation_step: int
    escalation_note: str | None
    snoozed_until: datetime | None
    reason: str | None
    blocked_quantity: int
    trigger: str = ""
    flagged_by: str | None = None


@dataclass(frozen=True)
class LocationStock:
    location: str
    on_hand: int | None
    minimum: int
    critical_level: int | None
    severity: str | None  # None: not short (see bot.transitions.severity_for)
    last_event_at: datetime | None
    last_source: str | None
    alert: OpenAlert | None
    lead_time_days: int | None = None  # None: [reorder] lead_time_days
    resolves_above: int | None = None  # with an open alert: the level it resolves above


@dataclass(frozen=True)
class ProductStock:
    sku: str
    name: str
    category: str
    key_product: bool
    locations: tuple[LocationStock, ...]


UNKNOWN = "unknown"
IN_STOCK = "in_stock"


def stock_status(where: LocationStock) -> str:
    """What a location's stock is, for a stock answer: the open alert's severity, or ``recovering`` when its
    level is above the minimum again; else the level's own (``low``, ``out``, ``critical``), ``in_stock``, or
    ``unknown`` when nothing says how much there is (no stock event and no level in the catalog): an unknown
    level is never "in stock"."""
    alert = where.alert
    if alert is not None:
        said_out = alert.flagged_by or alert.trigger == "source_out_of_stock"
        if where.severity is None and where.on_hand is not None and not said_out:
            return RECOVERING
        return alert.severity
    if where.severity is not None:
        return where.severity
    return UNKNOWN if where.on_hand is None else IN_STOCK


SAMPLE_OPENED_AT = datetime(2026, 11, 26, 9, 30, tzinfo=UTC)


def sample_message(**overrides: Any) -> AlertMessage:
    """The one sample alert (a critical shortage with a blocked order) for test sends, template checks and
    renderer tests; ``overrides`` change any field."""
    message = AlertMessage(
        alert_id=42,
        event="opened",
        sku="PIN-GODZ-PRO",
        product_name="Godzilla Pro pinball table",
        category="pinball",
        key_product=True,
        location="Chicago DC",
        on_hand=0,
        minimum=2,
        critical_level=0,
        severity="critical",
        state="open",
        trigger="fulfillment_failed",
        opened_at=SAMPLE_OPENED_AT,
        updated_at=SAMPLE_OPENED_AT,
        blocked_orders=(BlockedOrder("SO-1001", requested=2, available=0, rep="dana"),),
        last_source="erp",
        last_changed_at=SAMPLE_OPENED_AT,
        link="https://stock.example.com/alerts/42",
    )
    return replace(message, **overrides)


def resolved_sample(**overrides: Any) -> AlertMessage:
    """The sample alert back in stock, 3 h 35 min later."""
    later = SAMPLE_OPENED_AT + timedelta(hours=3, minutes=35)
    return sample_message(
        event="resolved",
        state="resolved",
        on_hand=6,
        resolved_at=later,
        updated_at=later,
        resolved_by="erp",
        **overrides,
    )
