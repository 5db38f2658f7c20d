"""Queries behind the scheduled sweeps: due escalation steps, the batch stock check, and tick leases."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from stockbot.storage.db import READ_ONLY
from stockbot.storage.tables import alerts, leases, stock_levels


async def due_alert_ids(engine: AsyncEngine, now: datetime, limit: int = 500) -> list[int]:
    query = (
        select(alerts.c.id)
        .where(
            alerts.c.next_step_due_at.is_not(None),
            alerts.c.next_step_due_at <= now,
            alerts.c.state.in_(("open", "escalated")),
            or_(alerts.c.snoozed_until.is_(None), alerts.c.snoozed_until <= now),
        )
        .order_by(alerts.c.next_step_due_at)
        .limit(limit)
    )
    async with engine.connect() as conn:
        conn = await conn.execution_options(**READ_ONLY)
        return list((await conn.execute(query)).scalars())


async def short_without_alert(engine: AsyncEngine) -> list[tuple[str, str]]:
    """Product-locations at or below their minimum (zero included) with no alert open.

    The condition repeats the partial index's ``on_hand <= minimum`` so the planner answers from the index.
    """
    query = select(stock_levels.c.sku, stock_levels.c.location).where(
        stock_levels.c.on_hand <= stock_levels.c.minimum, stock_levels.c.open_alert_id.is_(None)
    )
    async with engine.connect() as conn:
        conn = await conn.execution_options(**READ_ONLY)
        return [(r.sku, r.location) for r in (await conn.execute(query)).all()]


async def take_lease(engine: AsyncEngine, name: str, holder: str, now: datetime, ttl: timedelta) -> bool:
    """Hold ``name`` until ``now + ttl`` unless another holder's lease is still running.

    With several replicas on one PostgreSQL each sweep tick runs once; a dead holder's lease simply expires.
    """
    dialect = postgresql if engine.dialect.name == "postgresql" else sqlite
    async with engine.begin() as conn:
        stmt = dialect.insert(leases).values(name=name, holder=holder, expires_at=now + ttl)
        stmt = stmt.on_conflict_do_update(
            index_elements=["name"],
            set_={"holder": holder, "expires_at": now + ttl},
            where=or_(leases.c.expires_at <= now, leases.c.holder == holder),
        )
        await conn.execute(stmt)
        row = (await conn.execute(select(leases.c.holder).where(leases.c.name == name))).scalar_one()
    return row == holder
