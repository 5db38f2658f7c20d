"""Alerts a page at a time for ``GET /api/v1/alerts``: newest first (id descending), keyset-paged.

A page continues below the last id of the previous one, so a page costs the same wherever it is, and alerts
opened meanwhile never shift what comes next. Each filter has an index that keeps the walk short:
``ix_alerts_state_id``, ``ix_alerts_location_id``, ``ix_alerts_sku_location_resolved`` and
``ix_alerts_opened_at`` (``tests/test_query_plans.py`` checks the planner uses them).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, literal_column, select
from sqlalchemy.ext.asyncio import AsyncConnection

from stockbot.storage.tables import alerts, products


@dataclass(frozen=True)
class AlertFilter:
    state: str | None = None
    severity: str | None = None
    location: str | None = None
    sku: str | None = None
    since: datetime | None = None  # opened at or after


def page_query(chosen: AlertFilter, before_id: int | None, limit: int, dialect: str = "") -> Select[Any]:
    """The alerts matching ``chosen`` with id below ``before_id``, newest first, ``limit`` of them.

    ``since`` is meant for "what is new": SQLite, which keeps no statistics here, is told the condition is
    selective (``likelihood``) and not to walk the primary key for the cursor (``id + 0``), so it reads
    ix_alerts_opened_at instead of scanning every older alert. PostgreSQL decides from its statistics."""
    hinted = dialect == "sqlite" and chosen.since is not None
    query = select(*alerts.c, products.c.name, products.c.category).join(
        products, products.c.sku == alerts.c.sku
    )
    if chosen.state is not None:
        query = query.where(alerts.c.state == chosen.state)
    if chosen.severity is not None:
        query = query.where(alerts.c.severity == chosen.severity)
    if chosen.location is not None:
        query = query.where(alerts.c.location == chosen.location)
    if chosen.sku is not None:
        query = query.where(alerts.c.sku == chosen.sku)
    if chosen.since is not None:
        since = alerts.c.opened_at >= chosen.since
        query = query.where(func.likelihood(since, literal_column("0.05")) if hinted else since)
    if before_id is not None:
        query = query.where((alerts.c.id + literal_column("0") if hinted else alerts.c.id) < before_id)
    return query.order_by(alerts.c.id.desc()).limit(limit)


async def alert_page(
    conn: AsyncConnection, chosen: AlertFilter, before_id: int | None, limit: int
) -> tuple[list[dict[str, Any]], int | None]:
    """One page of alert rows (with the product's ``name`` and ``category``) and the id the next page
    starts below, or None when this is the last page."""
    query = page_query(chosen, before_id, limit + 1, conn.dialect.name)
    rows = [dict(r) for r in (await conn.execute(query)).mappings()]
    if len(rows) > limit:
        return rows[:limit], rows[limit - 1]["id"]
    return rows, None


async def alert_row(conn: AsyncConnection, alert_id: int) -> dict[str, Any] | None:
    query = (
        select(*alerts.c, products.c.name, products.c.category)
        .join(products, products.c.sku == alerts.c.sku)
        .where(alerts.c.id == alert_id)
    )
    row = (await conn.execute(query)).mappings().first()
    return dict(row) if row else None
