"""Reading and writing alerts and the catalog rows they describe. Plain rows in, plain dataclasses out."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, select
from sqlalchemy.ext.asyncio import AsyncConnection

from stockbot.storage.folding import fold, folded
from stockbot.storage.tables import alerts, products, stock_levels


@dataclass
class Alert:
    id: int
    sku: str
    location: str
    state: str
    severity: str
    trigger: str
    on_hand: int | None
    minimum: int
    critical_level: int | None
    opened_at: datetime
    updated_at: datetime
    reason: str | None = None
    blocked_orders: list[dict[str, Any]] = field(default_factory=list)
    acknowledged_by: str | None = None
    acknowledged_at: datetime | None = None
    escalated_by: str | None = None
    escalated_at: datetime | None = None
    escalation_step: int = 0
    escalation_note: str | None = None
    next_step_due_at: datetime | None = None
    snoozed_until: datetime | None = None
    resolved_at: datetime | None = None
    resolved_by: str | None = None
    version: int = 1
    flagged_by: str | None = None
    resolved_note: str | None = None


@dataclass(frozen=True)
class Level:
    """A product at a location, with its catalog facts: what an alert is about."""

    sku: str
    location: str
    name: str
    category: str
    key_product: bool
    minimum: int
    critical_level: int | None
    on_hand: int | None
    last_event_at: datetime | None
    last_source: str | None
    open_alert_id: int | None
    lead_time_days: int | None = None  # None: [reorder] lead_time_days

    # The writer copies a level once or twice per event: dataclasses.replace walks the fields and runs the
    # frozen __init__ (~3 µs), a copy of the attributes does the same in ~0.6.
    def after_event(self, on_hand: int | None, at: datetime, source: str) -> Level:
        """This level as an event leaves it."""
        return self._copied({"on_hand": on_hand, "last_event_at": at, "last_source": source})

    def pointing_to(self, alert_id: int | None) -> Level:
        """This level with ``alert_id`` as its open alert."""
        return self._copied({"open_alert_id": alert_id})

    def _copied(self, changes: dict[str, Any]) -> Level:
        return _level({**self.__dict__, **changes})


def _level(attributes: dict[str, Any]) -> Level:
    """A Level from all of its attributes, without the frozen __init__'s setattr per field."""
    level = object.__new__(Level)
    object.__setattr__(level, "__dict__", attributes)
    return level


_ALERT_FIELDS = [f for f in Alert.__dataclass_fields__]


def _alert(row: Any) -> Alert:
    return Alert(**{name: row[name] for name in _ALERT_FIELDS})


LEVEL_COLUMNS = [
    stock_levels.c.sku,
    stock_levels.c.location,
    products.c.name,
    products.c.category,
    products.c.key_product,
    stock_levels.c.minimum,
    stock_levels.c.critical_level,
    stock_levels.c.on_hand,
    stock_levels.c.last_event_at,
    stock_levels.c.last_source,
    stock_levels.c.open_alert_id,
    stock_levels.c.lead_time_days,
]


_LEVEL_NAMES = [c.name for c in LEVEL_COLUMNS]
assert _LEVEL_NAMES == list(Level.__dataclass_fields__), "LEVEL_COLUMNS must list Level's fields in order"


def level_from_row(row: Any) -> Level:
    return _level({name: row[name] for name in _LEVEL_NAMES})


def level_from_values(values: Iterable[Any]) -> Level:
    """A Level from its columns' values in ``LEVEL_COLUMNS`` order (the writer's fetched rows)."""
    return _level(dict(zip(_LEVEL_NAMES, values, strict=True)))


async def load_level(conn: AsyncConnection, sku: str, location: str, *, lock: bool = False) -> Level | None:
    query = (
        select(*LEVEL_COLUMNS)
        .join(products, products.c.sku == stock_levels.c.sku)
        .where(stock_levels.c.sku == sku, stock_levels.c.location == location)
    )
    if lock:
        query = query.with_for_update(of=stock_levels)
    row = (await conn.execute(query)).mappings().first()
    return level_from_row(row) if row else None


async def load_alert(conn: AsyncConnection, alert_id: int, *, lock: bool = True) -> Alert | None:
    query = select(alerts).where(alerts.c.id == alert_id)
    if lock:
        query = query.with_for_update()
    row = (await conn.execute(query)).mappings().first()
    return _alert(row) if row else None


async def load_unresolved(conn: AsyncConnection, sku: str, location: str) -> Alert | None:
    query = (
        select(alerts)
        .where(alerts.c.sku == sku, alerts.c.location == location, alerts.c.state != "resolved")
        .with_for_update()
    )
    row = (await conn.execute(query)).mappings().first()
    return _alert(row) if row else None


class ConcurrentChange(Exception):
    """Another transaction changed the alert first; the caller retries with fresh data."""


UNRESOLVED_STATES = ("open", "acknowledged", "escalated")


async def listing(
    conn: AsyncConnection,
    *,
    states: tuple[str, ...] = UNRESOLVED_STATES,
    sku: str | None = None,
    location: str | None = None,
    limit: int = 50,
) -> list[Alert]:
    """Alerts in ``states``, newest first; ``sku`` is the catalog's spelling, ``location`` any case."""
    query = select(alerts).where(alerts.c.state.in_(states)).order_by(alerts.c.id.desc()).limit(limit)
    if sku is not None:
        query = query.where(alerts.c.sku == sku)
    if location is not None:
        query = query.where(folded(alerts.c.location) == fold(location))
    return [_alert(row) for row in (await conn.execute(query)).mappings().all()]


# Most urgent first: critical, then out, then low; the longest-standing first within a severity.
_URGENCY = case((alerts.c.severity == "critical", 0), (alerts.c.severity == "out", 1), else_=2)


async def unresolved(
    conn: AsyncConnection, *, location: str | None = None, limit: int = 50
) -> list[tuple[Alert, Level]]:
    """Unresolved alerts with what they are about, most urgent first; ``location`` ignores case."""
    query = (
        select(alerts, *[c.label(f"level_{c.name}") for c in LEVEL_COLUMNS])
        .join(
            stock_levels,
            and_(stock_levels.c.sku == alerts.c.sku, stock_levels.c.location == alerts.c.location),
        )
        .join(products, products.c.sku == alerts.c.sku)
        .where(alerts.c.state != "resolved")
        .order_by(_URGENCY, alerts.c.opened_at, alerts.c.id)
        .limit(limit)
    )
    if location is not None:
        query = query.where(folded(alerts.c.location) == fold(location))
    rows = (await conn.execute(query)).mappings().all()
    return [(_alert(row), Level(**{c.name: row[f"level_{c.name}"] for c in LEVEL_COLUMNS})) for row in rows]


async def known_location(conn: AsyncConnection, location: str) -> str | None:
    """The catalog's spelling of ``location`` (ignoring case), or None when no product is stocked there."""
    query = select(stock_levels.c.location).where(folded(stock_levels.c.location) == fold(location)).limit(1)
    return (await conn.execute(query)).scalar_one_or_none()
