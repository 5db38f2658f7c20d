"""The neutral message: plain data about alerts and stock that the core hands to renderers and adapters.

It sits below the core and the renderers alike, so both can speak of an alert without importing each other:
``AlertMessage`` (one alert at one moment), ``BlockedOrder``, the stock answer types, the feed pseudo-product
rule and ``duration_text``. Nothing here renders or sends.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

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

    ``event`` says why this message exists: ``opened``, ``updated``, ``acknowledged``, ``snoozed``,
    ``escalated``, ``resolved``, ``reopened`` or ``test``.
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
    # | feed_silent (the feed watchdog) | digest
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
    # Who this message should mention in chat (Slack user U…/group S… ids, Teams members): set per channel
    # by the escalation step that sends it.
    mentions: tuple[str, ...] = ()
    # The channel's own wording from its `template` (rendered by the dispatcher); renderers use it in place
    # of their built-in text when set.
    custom_text: str | None = None
    # A digest (event "digest") stands for several alerts: their latest messages, most severe first.
    digest: tuple[AlertMessage, ...] = ()

    @property
    def blocked_quantity(self) -> int:
        return sum(order.blocked for order in self.blocked_orders)

    @property
    def is_resolved(self) -> bool:
        return self.state == "resolved"

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict; the outbox stores this snapshot and :meth:`from_json` reads it back."""
        data = dict(self.__dict__)
        for name in _TIMES:
            if data[name] is not None:
                data[name] = data[name].isoformat()
        data["blocked_orders"] = [order.__dict__ for order in self.blocked_orders]
        data["digest"] = [item.to_json() for item in self.digest]
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
        return cls(**values)


_FIELDS = tuple(AlertMessage.__dataclass_fields__)
_TIMES = tuple(name for name, f in AlertMessage.__dataclass_fields__.items() if "datetime" in str(f.type))


def feed_source(message: AlertMessage) -> str | None:
    """The source a feed-watchdog alert is about; None for every stock alert."""
    if message.category == FEED_CATEGORY and message.sku.startswith(FEED_PREFIX):
        return message.sku.removeprefix(FEED_PREFIX)
    return None


def duration_text(start: datetime | timedelta, end: datetime | timedelta) -> str:
    seconds = max(int((end - start).total_seconds()), 0)
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{hours // 24} days"


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


@dataclass(frozen=True)
class LocationStock:
    location: str
    on_hand: int | None
    minimum: int
    critical_level: int | None
    severity: str | None  # None: not short (see handlers.transitions.severity_for)
    last_event_at: datetime | None
    last_source: str | None
    alert: OpenAlert | None


@dataclass(frozen=True)
class ProductStock:
    sku: str
    name: str
    category: str
    key_product: bool
    locations: tuple[LocationStock, ...]
