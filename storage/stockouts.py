"""Stock-outs: one row per alert opening (or reopening) until it resolves, kept for reports.

The alert desk gathers every alert change in ``Writes.stockouts``; the one writer (``storage/ingest_rows.py``)
writes them with :func:`track_all` in the change's own transaction, so a stock-out row can never disagree
with the alert and its audit rows. Each row keeps what the reports need:
when it opened and why, the worst severity it reached, the first acknowledgement, escalation steps taken,
when it resolved, and the orders blocked while it lasted.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import Integer, String, bindparam, case, func, select, update

from stockbot.storage.tables import UTCDateTime, stockouts

RANK = {"low": 1, "out": 2, "critical": 3}
OPENING = ("opened", "reopened")


class AlertLike(Protocol):
    id: int
    sku: str
    location: str
    trigger: str
    severity: str
    opened_at: datetime
    acknowledged_at: datetime | None
    escalation_step: int
    resolved_at: datetime | None
    blocked_orders: list[dict[str, Any]]


def blocked(orders: list[dict[str, Any]]) -> tuple[int, int]:
    """(orders, units short) of an alert's blocked orders."""
    return len(orders), sum(max(o["requested"] - o["available"], 0) for o in orders)


def opening_row(new: AlertLike) -> dict[str, Any]:
    """The new stock-out row of an alert opening or reopening."""
    orders, quantity = blocked(new.blocked_orders)
    return {
        "alert_id": new.id,
        "sku": new.sku,
        "location": new.location,
        "trigger": new.trigger,
        "severity": new.severity,
        "opened_at": new.opened_at,
        "acknowledged_at": new.acknowledged_at,
        "escalations": 0,
        "resolved_at": new.resolved_at,
        "blocked_orders": orders,
        "blocked_quantity": quantity,
    }


Change = tuple[AlertLike | None, AlertLike, str]


async def track_all(
    changes: Sequence[Change],
    insert_rows: Callable[[list[dict[str, Any]]], Awaitable[Any]],
    update_rows: Callable[[list[dict[str, Any]]], Awaitable[Any]],
) -> None:
    """Every change's stock-out row, in order: consecutive openings in one multi-row INSERT (a burst of
    out-of-stock events costs one statement), consecutive other changes in one batch of UPDATEs."""
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    for previous, new, event in changes:
        if event in OPENING:
            if updates:
                await update_rows(updates)
                updates = []
            inserts.append(opening_row(new))
            continue
        if inserts:
            await insert_rows(inserts)
            inserts = []
        updates.append(update_values(previous, new, event))
    if inserts:
        await insert_rows(inserts)
    if updates:
        await update_rows(updates)


def update_values(previous: AlertLike | None, new: AlertLike, event: str) -> dict[str, Any]:
    """The parameters of :data:`UPDATE_ROW` for a change that is not an opening."""
    orders, quantity = blocked(new.blocked_orders)
    return {
        "b_alert": new.id,
        "b_rank": RANK.get(new.severity, 1),
        "b_severity": new.severity,
        "b_acknowledged": new.acknowledged_at,
        "b_step": 1 if _stepped(previous, new, event) else 0,
        "b_resolved": new.resolved_at,
        "b_orders": orders,
        "b_quantity": quantity,
    }


_RANK_NOW = case((stockouts.c.severity == "critical", 3), (stockouts.c.severity == "out", 2), else_=1)
# The latest stock-out row of an alert, updated by a change that is not an opening (executemany-ready).
UPDATE_ROW = (
    update(stockouts)
    .where(
        stockouts.c.id
        == select(func.max(stockouts.c.id))
        .where(stockouts.c.alert_id == bindparam("b_alert"))
        .scalar_subquery()
    )
    .values(
        severity=case(
            (bindparam("b_rank", type_=Integer) > _RANK_NOW, bindparam("b_severity", type_=String)),
            else_=stockouts.c.severity,
        ),
        acknowledged_at=func.coalesce(
            stockouts.c.acknowledged_at, bindparam("b_acknowledged", type_=UTCDateTime)
        ),
        escalations=stockouts.c.escalations + bindparam("b_step", type_=Integer),
        resolved_at=bindparam("b_resolved", type_=UTCDateTime),
        blocked_orders=bindparam("b_orders", type_=Integer),
        blocked_quantity=bindparam("b_quantity", type_=Integer),
    )
)


def _stepped(previous: AlertLike | None, new: AlertLike, event: str) -> bool:
    # A reminder repeats the last step and moves no step: it is not an escalation.
    return previous is not None and event == "escalated" and new.escalation_step > previous.escalation_step


Execute = Callable[[str, Sequence[Any]], Awaitable[Any]]
Time = Callable[[datetime | None], str | None]

UPDATE_SQLITE = (
    "UPDATE stockouts SET "
    "severity = CASE WHEN ? > (CASE severity WHEN 'critical' THEN 3 WHEN 'out' THEN 2 ELSE 1 END) "
    "THEN ? ELSE severity END, "
    "acknowledged_at = COALESCE(acknowledged_at, ?), escalations = escalations + ?, resolved_at = ?, "
    "blocked_orders = ?, blocked_quantity = ? "
    "WHERE id = (SELECT max(id) FROM stockouts WHERE alert_id = ?)"
)


async def update_sqlite(execute: Execute, time: Time, values: dict[str, Any]) -> None:
    """:data:`UPDATE_ROW` as plain SQL, for the SQLite writer (``time`` stores a datetime as SQLAlchemy
    does)."""
    params = [
        values["b_rank"],
        values["b_severity"],
        time(values["b_acknowledged"]),
        values["b_step"],
        time(values["b_resolved"]),
        values["b_orders"],
        values["b_quantity"],
        values["b_alert"],
    ]
    await execute(UPDATE_SQLITE, params)
