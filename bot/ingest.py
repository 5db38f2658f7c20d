"""Inventory signals in: validate, store every event once, move levels, and hand shortages to the AlertDesk.

Events are applied in batches (one request's batch, or many requests' events grouped by the writer). The
hot path costs a handful of statements per batch whatever its size; alert work runs only for the
product-locations that are short or have an alert open.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictInt, model_validator

from stockbot.adapters.base import BlockedOrder
from stockbot.adapters.message import FEED_PREFIX
from stockbot.bot import transitions
from stockbot.bot.alerts import AlertDesk, Signal
from stockbot.bot.metrics import EVENTS
from stockbot.bot.permissions import Actor
from stockbot.storage.alerts import Level
from stockbot.storage.audit import audit_row
from stockbot.storage.ingest_rows import Rows, Writes


def _rfc3339(value: Any) -> datetime:
    if not isinstance(value, str):
        raise ValueError("must be an RFC 3339 timestamp string, e.g. 2026-11-26T09:30:00Z")
    try:
        parsed = datetime.fromisoformat(value.strip().replace("z", "Z"))
    except ValueError:
        raise ValueError("must be an RFC 3339 timestamp, e.g. 2026-11-26T09:30:00Z") from None
    if parsed.tzinfo is None:
        raise ValueError("needs a time zone offset or Z, e.g. 2026-11-26T09:30:00Z")
    return parsed


Timestamp = Annotated[datetime, BeforeValidator(_rfc3339)]
Text = Annotated[str, Field(min_length=1, max_length=64)]


class _Event(BaseModel):
    model_config = ConfigDict(extra="allow", str_strip_whitespace=True)

    event_id: Annotated[str, Field(min_length=1, max_length=200)]
    source: Text
    sku: Text
    location: Text
    occurred_at: Timestamp


class InventoryEvent(_Event):
    on_hand: Annotated[StrictInt, Field(ge=0)] | None = None
    status: Literal["out_of_stock"] | None = None

    @model_validator(mode="after")
    def _says_something(self) -> InventoryEvent:
        if self.on_hand is None and self.status is None:
            raise ValueError('give on_hand (an integer ≥ 0), status: "out_of_stock", or both')
        return self


class FulfillmentFailedEvent(_Event):
    order_id: Annotated[str, Field(min_length=1, max_length=100)]
    requested: Annotated[StrictInt, Field(ge=1)]
    available: Annotated[StrictInt, Field(ge=0)]
    rep: Annotated[str, Field(max_length=200)] | None = None


Incoming = InventoryEvent | FulfillmentFailedEvent


@dataclass
class _PairState:
    before: Level
    level: Level
    changed: bool = False
    said_out: bool = False
    blocked: list[BlockedOrder] | None = None
    source: str = ""

    @property
    def signals(self) -> bool:
        """Anything beyond a level: the source said out of stock, or orders were blocked."""
        return self.said_out or bool(self.blocked)


def _event_row(event: Incoming, now: datetime) -> dict[str, Any]:
    failed = isinstance(event, FulfillmentFailedEvent)
    return {
        "source": event.source,
        "event_id": event.event_id,
        "kind": "fulfillment_failed" if failed else "inventory",
        "sku": event.sku,
        "location": event.location,
        "on_hand": event.available if failed else event.on_hand,
        "status": None if failed else event.status,
        "occurred_at": event.occurred_at,
        "received_at": now,
        "outcome": "applied",
        "payload": event.model_dump(mode="json"),
    }


def _apply_one(event: Incoming, state: _PairState) -> str:
    level = state.level
    if isinstance(event, FulfillmentFailedEvent):
        order = BlockedOrder(event.order_id, event.requested, event.available, event.rep)
        state.blocked = [*(state.blocked or []), order]
        on_hand, said_out = event.available, False
    else:
        on_hand = event.on_hand if event.on_hand is not None else 0
        said_out = event.status == "out_of_stock"
    if level.last_event_at is not None and event.occurred_at < level.last_event_at:
        return "applied" if isinstance(event, FulfillmentFailedEvent) else "stale"
    state.level = replace(level, on_hand=on_hand, last_event_at=event.occurred_at, last_source=event.source)
    state.changed, state.said_out, state.source = True, said_out, event.source
    return "applied"


async def apply_events(desk: AlertDesk, rows: Rows, batch: list[Incoming]) -> tuple[list[str], bool]:
    """Store and apply ``batch`` in the caller's transaction; return each event's outcome (``duplicate``
    for a repeat), and whether an alert changed (so deliveries were queued).

    A fixed number of statements whatever the batch's size (storage/ingest_rows.py): the alert work of
    every short product-location is decided together and written set-wise with the levels and audit rows.
    """
    now = desk.clock.now()
    first: dict[tuple[str, str], int] = {}
    for index, e in enumerate(batch):
        first.setdefault((e.source, e.event_id), index)
    unique = sorted(first.values())
    inserted = await rows.insert_events([_event_row(batch[i], now) for i in unique])
    fresh = [i for i in unique if (batch[i].source, batch[i].event_id) in inserted]
    outcomes = ["duplicate"] * len(batch)
    levels = await rows.lock_levels({(batch[i].sku, batch[i].location) for i in fresh}) if fresh else {}
    unmatched = await _unmatched_outcome(
        rows, {batch[i].sku for i in fresh if (batch[i].sku, batch[i].location) not in levels}
    )
    states = {pair: _PairState(level, level) for pair, level in levels.items()}
    for i in fresh:
        e = batch[i]
        state = states.get((e.sku, e.location))
        if e.sku.startswith(FEED_PREFIX):  # reserved for the feed watchdog: no source may move a feed
            outcomes[i] = "unknown_sku"
        else:
            outcomes[i] = _apply_one(e, state) if state else unmatched[e.sku]
    odd = [
        (inserted[(batch[i].source, batch[i].event_id)], outcomes[i])
        for i in fresh
        if outcomes[i] != "applied"
    ]
    await rows.set_event_outcomes(odd)
    writes = Writes(audit=_event_audit(batch, outcomes, inserted, fresh, now))
    signals = [signal for state in states.values() if (signal := _signal(state)) is not None]
    changed = await desk.apply_signals(rows, signals, writes)
    await rows.write_levels(_levels_to_write(states, writes))
    await writes.flush(rows)
    for outcome in outcomes:
        EVENTS.labels(outcome).inc()
    return outcomes, bool(changed)


async def _unmatched_outcome(rows: Rows, skus: set[str]) -> dict[str, str]:
    if not skus:
        return {}
    known = await rows.known_skus(skus)
    return {sku: "unknown_location" if sku in known else "unknown_sku" for sku in skus}


def _event_audit(
    batch: list[Incoming],
    outcomes: list[str],
    inserted: dict[tuple[str, str], int],
    fresh: list[int],
    now: datetime,
) -> list[dict[str, Any]]:
    return [
        audit_row(
            now,
            f"event.{outcomes[i]}",
            f"source:{batch[i].source}",
            subject=f"{batch[i].sku}@{batch[i].location}",
            event_id=batch[i].event_id,
            event=inserted[(batch[i].source, batch[i].event_id)],
        )
        for i in fresh
    ]


def _signal(state: _PairState) -> Signal | None:
    """What the alert desk hears about a product-location, if anything."""
    if not (state.changed or state.blocked):
        return None
    level = state.level
    short = transitions.severity_for(level, level.on_hand, state.blocked or [], flagged=state.said_out)
    if level.open_alert_id is None and short is None:
        return None  # the common case: plenty of stock, no alert to touch
    if level.open_alert_id is not None and level.on_hand == state.before.on_hand and not state.signals:
        return None  # the same level again: the open alert already says so
    actor = Actor(id=state.source or level.last_source or "unknown", via="source")
    return Signal(level, actor, source_said_out=state.said_out, blocked=tuple(state.blocked or ()))


def _levels_to_write(states: dict[tuple[str, str], _PairState], writes: Writes) -> list[Level]:
    """Changed levels, with the open-alert pointers the desk moved: this transaction holds their locks, so
    one UPDATE writes both."""
    levels = {pair: state.level for pair, state in states.items() if state.changed}
    for pair, alert_id in writes.open_alerts.items():
        levels[pair] = replace(levels.get(pair, states[pair].level), open_alert_id=alert_id)
    writes.open_alerts = {}
    return list(levels.values())
