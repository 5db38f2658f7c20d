"""Stock-outs: one row per alert opening (or reopening) until it resolves, kept for reports.

The alert desk calls :func:`track` for every alert change, in the change's own transaction, so a stock-out
row can never disagree with the alert and its audit rows. Each row keeps what the reports need: when it
opened and why, the worst severity it reached, the first acknowledgement, escalation steps taken, when it
resolved, and the orders blocked while it lasted.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import case, func, insert, literal, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

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


async def track(conn: AsyncConnection, previous: AlertLike | None, new: AlertLike, event: str) -> None:
    """Record ``event`` of alert ``new`` (``previous``: the alert before the change, if any)."""
    orders, quantity = blocked(new.blocked_orders)
    if event in OPENING:
        await conn.execute(
            insert(stockouts).values(
                alert_id=new.id,
                sku=new.sku,
                location=new.location,
                trigger=new.trigger,
                severity=new.severity,
                opened_at=new.opened_at,
                acknowledged_at=new.acknowledged_at,
                escalations=0,
                resolved_at=new.resolved_at,
                blocked_orders=orders,
                blocked_quantity=quantity,
            )
        )
        return
    # A reminder repeats the last step and moves no step: it is not an escalation.
    stepped = previous is not None and event == "escalated" and new.escalation_step > previous.escalation_step
    current_rank = case((stockouts.c.severity == "critical", 3), (stockouts.c.severity == "out", 2), else_=1)
    latest = select(func.max(stockouts.c.id)).where(stockouts.c.alert_id == new.id).scalar_subquery()
    await conn.execute(
        update(stockouts)
        .where(stockouts.c.id == latest)
        .values(
            severity=case(
                (literal(RANK.get(new.severity, 1)) > current_rank, new.severity), else_=stockouts.c.severity
            ),
            acknowledged_at=func.coalesce(
                stockouts.c.acknowledged_at, literal(new.acknowledged_at, UTCDateTime)
            ),
            escalations=stockouts.c.escalations + (1 if stepped else 0),
            resolved_at=new.resolved_at,
            blocked_orders=orders,
            blocked_quantity=quantity,
        )
    )
