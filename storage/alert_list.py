"""The alert list behind ``/alerts``: filtered, newest change first, a page at a time."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from stockbot.adapters.message import FEED_CATEGORY
from stockbot.adapters.page_data import AlertFilter, AlertListItem, AlertListPage
from stockbot.storage.db import READ_ONLY
from stockbot.storage.tables import alerts, products, stock_levels

PER_PAGE = 50
RECENT = timedelta(days=30)


def _filtered(query: Select[Any], chosen: AlertFilter, now: datetime) -> Select[Any]:
    if chosen.show == "open":
        query = query.where(alerts.c.state != "resolved")
    elif chosen.show == "recent":
        query = query.where(alerts.c.state == "resolved", alerts.c.resolved_at >= now - RECENT)
    if chosen.location:
        query = query.where(alerts.c.location == chosen.location)
    if chosen.category:
        query = query.where(products.c.category == chosen.category)
    if chosen.severity:
        query = query.where(alerts.c.severity == chosen.severity)
    return query


def _item(row: Any) -> AlertListItem:
    return AlertListItem(
        id=row.id,
        sku=row.sku,
        product_name=row.name,
        category=row.category,
        location=row.location,
        state=row.state,
        severity=row.severity,
        on_hand=row.on_hand,
        minimum=row.minimum,
        opened_at=row.opened_at,
        updated_at=row.updated_at,
        acknowledged_by=row.acknowledged_by,
        escalation_step=row.escalation_step,
        resolved_at=row.resolved_at,
    )


async def alert_page(engine: AsyncEngine, chosen: AlertFilter, now: datetime) -> AlertListPage:
    joined = alerts.join(products, products.c.sku == alerts.c.sku)
    columns = [*alerts.c, products.c.name, products.c.category]
    rows_query = _filtered(select(*columns).select_from(joined), chosen, now)
    rows_query = rows_query.order_by(alerts.c.updated_at.desc(), alerts.c.id.desc())
    rows_query = rows_query.limit(PER_PAGE).offset((max(chosen.page, 1) - 1) * PER_PAGE)
    count_query = _filtered(select(func.count()).select_from(joined), chosen, now)
    async with engine.connect() as conn:
        conn = await conn.execution_options(**READ_ONLY)
        rows = (await conn.execute(rows_query)).all()
        total = (await conn.execute(count_query)).scalar_one()
    locations, categories = await scopes(engine)
    return AlertListPage(
        items=tuple(_item(row) for row in rows),
        total=total,
        page=max(chosen.page, 1),
        per_page=PER_PAGE,
        locations=locations,
        categories=categories,
        filters=chosen,
    )


async def scopes(engine: AsyncEngine) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Every location and product category in the catalog (the feed watchdog's pseudo-product left out)."""
    async with engine.connect() as conn:
        conn = await conn.execution_options(**READ_ONLY)
        locations = (await conn.execute(select(stock_levels.c.location).distinct())).scalars().all()
        categories = (await conn.execute(select(products.c.category).distinct())).scalars().all()
    return (
        tuple(sorted(loc for loc in locations if loc != FEED_CATEGORY)),
        tuple(sorted(c for c in categories if c and c != FEED_CATEGORY)),
    )
