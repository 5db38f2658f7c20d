"""Inventory signals in: validate, store every event once, move levels, and hand shortages to the AlertDesk.

Events are applied in batches (one request's batch, or many requests' events grouped by the writer). The
hot path costs a handful of statements per batch whatever its size; alert work runs only for the
product-locations that are short or have an alert open.
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeAlias

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictInt,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic.json_schema import JsonDict

from stockbot.adapters.base import BlockedOrder
from stockbot.adapters.message import FEED_PREFIX
from stockbot.bot import transitions
from stockbot.bot.alerts import AlertDesk, Signal
from stockbot.bot.metrics import EVENTS
from stockbot.bot.permissions import Actor
from stockbot.storage.alerts import Level
from stockbot.storage.audit import audit_row
from stockbot.storage.catalog import Spellings
from stockbot.storage.ingest_rows import Rows, Writes

# What the events API accepts, stated once: these models enforce it and /openapi.json prints the same
# patterns and bounds, so the document cannot promise more or less than the server takes.
MAX_QUANTITY = 2**31 - 1  # PostgreSQL's `integer`; held to on SQLite too, so both take the same events
_CONTROL = r"\x00-\x1f\x7f-\x9f"
# Text: no control characters, and at least one character other than a space (spaces around are dropped).
TEXT_PATTERN = rf"^[^{_CONTROL}]*[^ {_CONTROL}][^{_CONTROL}]*$"
OPTIONAL_TEXT_PATTERN = rf"^[^{_CONTROL}]*$"
# RFC 3339 date-time with an offset, years 1970-2999 (earlier or later is a sender's bug, and converting it
# to UTC could leave the range a timestamp can hold).
TIMESTAMP_PATTERN = (
    r"^(19[7-9][0-9]|2[0-9]{3})-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])[Tt]"
    r"([01][0-9]|2[0-3]):([0-5][0-9]):([0-5][0-9])(\.[0-9]+)?([Zz]|[+-]([01][0-9]|2[0-3]):([0-5][0-9]))$"
)
_CONTROLS = re.compile(f"[{_CONTROL}]")
# Controls or unpaired surrogates: one scan of each text field, the common case, before saying which.
_REFUSED_CHARACTERS = re.compile(f"[{_CONTROL}\ud800-\udfff]")
_TIMESTAMP = re.compile(TIMESTAMP_PATTERN)
_EXAMPLE_TIME = "e.g. 2026-11-26T09:30:00Z"


def _rfc3339(value: Any) -> datetime:
    if not isinstance(value, str):
        raise ValueError(f"must be an RFC 3339 timestamp string, {_EXAMPLE_TIME}")
    match = _TIMESTAMP.fullmatch(value)
    if match is None:
        raise ValueError(
            f"must be an RFC 3339 timestamp with a time zone offset or Z, years 1970-2999, {_EXAMPLE_TIME}"
        )
    year, month, day, hour, minute, second, fraction, offset = match.group(1, 2, 3, 4, 5, 6, 7, 8)
    micro = int(fraction[1:7].ljust(6, "0")) if fraction else 0
    try:
        parsed = datetime(
            int(year), int(month), int(day), int(hour), int(minute), int(second), micro, _zone(offset)
        )
    except ValueError:
        raise ValueError(f"{value[:10]} is not a date in the calendar, {_EXAMPLE_TIME}") from None
    return parsed.astimezone(UTC)


@functools.lru_cache(maxsize=4096)  # the pattern allows 2 × 24 × 60 offsets and Z: all fit
def _zone(offset: str) -> tzinfo:
    if offset in ("Z", "z"):
        return UTC
    sign = -1 if offset[0] == "-" else 1
    return timezone(sign * timedelta(hours=int(offset[1:3]), minutes=int(offset[4:6])))


def _text(limit: int, pattern: str = TEXT_PATTERN) -> Any:
    """A string field: at most ``limit`` characters as sent, no control characters, and (unless
    ``pattern`` allows blank) something other than spaces; spaces around it are dropped."""

    def check(value: Any) -> str:
        if not isinstance(value, str):
            raise ValueError("must be a string")
        if len(value) > limit:
            raise ValueError(f"must be at most {limit} characters (this one has {len(value)})")
        if _REFUSED_CHARACTERS.search(value):
            if _CONTROLS.search(value):
                raise ValueError("must not contain control characters (U+0000-U+001F, U+007F-U+009F)")
            raise ValueError("holds an unpaired surrogate (\\ud800-\\udfff); send valid Unicode text")
        if pattern == TEXT_PATTERN and not value.strip(" "):
            raise ValueError("must contain a character other than spaces")
        return value.strip(" ")

    # The lengths are stated for the document only: ``check`` already enforces them, and as constraints
    # pydantic would run two more Python validators per field after it (8 calls per event).
    bounds: JsonDict = {
        "minLength": 1 if pattern == TEXT_PATTERN else 0,
        "maxLength": limit,
        "pattern": pattern,
    }
    return Annotated[str, BeforeValidator(check), Field(json_schema_extra=bounds)]


def _whole(value: Any) -> Any:
    """JSON has one kind of number: 3.0 is the whole number 3, as `integer` means in OpenAPI 3.1."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _quantity(minimum: int) -> Any:
    return Annotated[StrictInt, Field(ge=minimum, le=MAX_QUANTITY), BeforeValidator(_whole)]


Timestamp = Annotated[
    datetime,
    BeforeValidator(_rfc3339),
    WithJsonSchema(
        {
            "type": "string",
            "format": "date-time",
            "pattern": TIMESTAMP_PATTERN,
            "description": "When the stock changed: RFC 3339 with an offset, years 1970-2999, and not more "
            "than [alerts] max_clock_skew (5 min by default) ahead of the server clock.",
        }
    ),
]
if TYPE_CHECKING:  # what the validators hand on; mypy cannot read the Annotated types built above
    Text: TypeAlias = str
    EventId: TypeAlias = str
    OrderId: TypeAlias = str
    Rep: TypeAlias = str
    Count: TypeAlias = int
    Requested: TypeAlias = int
else:
    Text = _text(64)
    EventId = _text(200)
    OrderId = _text(100)
    Rep = _text(200, OPTIONAL_TEXT_PATTERN)
    Count = _quantity(0)
    Requested = _quantity(1)


class _Event(BaseModel):
    model_config = ConfigDict(extra="allow")

    event_id: EventId
    source: Text
    sku: Text
    location: Text
    occurred_at: Timestamp

    @field_validator("occurred_at")
    @classmethod
    def _not_ahead(cls, value: datetime, info: ValidationInfo) -> datetime:
        """Refuse a time ahead of the server clock by more than ``[alerts] max_clock_skew``: applied, it
        would outrank every real event after it and freeze the level until that time (context: ``now``,
        ``max_skew``)."""
        context = info.context or {}
        now, skew = context.get("now"), context.get("max_skew")
        if now is not None and skew is not None and value > now + skew:
            raise ValueError(
                f"is more than {_duration(skew)} ([alerts] max_clock_skew) ahead of the server clock "
                f"({now.astimezone(UTC).isoformat().replace('+00:00', 'Z')}); send the time the stock "
                "changed, and check the sender's clock"
            )
        return value


def _duration(value: timedelta) -> str:
    seconds = int(value.total_seconds())
    return f"{seconds // 60} min" if seconds % 60 == 0 else f"{seconds} s"


class InventoryEvent(_Event):
    model_config = ConfigDict(
        # One rule, stated for the document too: a level, the source's word that it is out, or both.
        json_schema_extra={
            "anyOf": [
                {"required": ["on_hand"], "properties": {"on_hand": {"type": "integer"}}},
                {"required": ["status"], "properties": {"status": {"const": "out_of_stock"}}},
            ]
        }
    )

    on_hand: Count | None = None
    status: Literal["out_of_stock"] | None = None

    @model_validator(mode="after")
    def _says_something(self) -> InventoryEvent:
        if self.on_hand is None and self.status is None:
            raise ValueError(
                f'give on_hand (a whole number 0-{MAX_QUANTITY}), status: "out_of_stock", or both'
            )
        return self


class FulfillmentFailedEvent(_Event):
    order_id: OrderId
    requested: Requested
    available: Count
    rep: Rep | None = None


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
    on_hand: int | None  # an inventory event may give only a status
    if isinstance(event, FulfillmentFailedEvent):
        kind, on_hand, status = "fulfillment_failed", event.available, None
    else:
        kind, on_hand, status = "inventory", event.on_hand, event.status
    return {
        "source": event.source,
        "event_id": event.event_id,
        "kind": kind,
        "sku": event.sku,
        "location": event.location,
        "on_hand": on_hand,
        "status": status,
        "occurred_at": event.occurred_at,
        "received_at": now,
        "outcome": "applied",
        "payload": event.model_dump(mode="json"),
    }


async def _catalog_spelling(rows: Rows, batch: list[Incoming]) -> tuple[list[Incoming], Spellings]:
    """SKUs and locations match the catalog ignoring ASCII case (storage/folding.py): each event is
    stored and applied under the catalog's spelling, so ``cab-dk-jr`` moves ``CAB-DK-JR``, not nothing.
    One statement per batch (``Rows.spellings``)."""
    found = await rows.spellings({e.sku for e in batch})
    return [_respelled(e, found) for e in batch], found


def _respelled(event: Incoming, found: Spellings) -> Incoming:
    sku = found.sku(event.sku)
    if sku is None:
        return event  # not in the catalog: stored as sent, with the outcome unknown_sku
    location = found.location(sku, event.location) or event.location
    if (sku, location) == (event.sku, event.location):
        return event
    # The stored payload keeps the sender's spelling next to the catalog's.
    sent_as = {"sku": event.sku, "location": event.location}
    return event.model_copy(update={"sku": sku, "location": location, "sent_as": sent_as})


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
    state.level = level.after_event(on_hand, event.occurred_at, event.source)
    state.changed, state.said_out, state.source = True, said_out, event.source
    return "applied"


async def apply_events(desk: AlertDesk, rows: Rows, batch: list[Incoming]) -> tuple[list[str], bool]:
    """Store and apply ``batch`` in the caller's transaction; return each event's outcome (``duplicate``
    for a repeat), and whether an alert changed (so deliveries were queued).

    A fixed number of statements whatever the batch's size (storage/ingest_rows.py): the alert work of
    every short product-location is decided together and written set-wise with the levels and audit rows.
    """
    batch, found = await _catalog_spelling(rows, batch)
    now = desk.clock.now()
    first: dict[tuple[str, str], int] = {}
    for index, e in enumerate(batch):
        first.setdefault((e.source, e.event_id), index)
    unique = sorted(first.values())
    inserted = await rows.insert_events([_event_row(batch[i], now) for i in unique])
    fresh = [i for i in unique if (batch[i].source, batch[i].event_id) in inserted]
    outcomes = ["duplicate"] * len(batch)
    levels = await rows.lock_levels({(batch[i].sku, batch[i].location) for i in fresh}) if fresh else {}
    unmatched = _unmatched_outcome(
        found, {batch[i].sku for i in fresh if (batch[i].sku, batch[i].location) not in levels}
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
    writes.levels = _levels_to_write(states, writes)  # written with the audit rows and deliveries
    await desk.flush(rows, writes)
    for outcome, count in Counter(outcomes).items():  # a label look-up per kind, not per event
        EVENTS.labels(outcome).inc(count)
    return outcomes, bool(changed)


def _unmatched_outcome(found: Spellings, skus: set[str]) -> dict[str, str]:
    """Events whose level is not in the catalog: the SKU is (a location it is not stocked at) or is not.
    The batch's spellings already say which SKUs the catalog has, in its spelling."""
    return {sku: "unknown_location" if found.sku(sku) == sku else "unknown_sku" for sku in skus}


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
        levels[pair] = levels.get(pair, states[pair].level).pointing_to(alert_id)
    writes.open_alerts = {}
    return list(levels.values())
