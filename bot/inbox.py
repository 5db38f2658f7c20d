"""A person's inbox: the open alerts they may act on, for personal surfaces (Slack's App Home, Teams' list).

Read-only, from the core, so every platform lists the same alerts for the same roles: an alert is listed when
it is not resolved and the person's roles permit at least one action on alerts (acknowledge, snooze,
escalate or resolve). Everyone with such a role may act on any alert, so the roles decide *whether* a person
sees alerts and the location filter narrows *which*. Most urgent first (critical, out, low), then oldest.
"""

from __future__ import annotations

from sqlalchemy import RowMapping, case, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from stockbot.adapters.base import AlertMessage
from stockbot.bot.alerts import message_for
from stockbot.bot.config import Config
from stockbot.bot.permissions import SYSTEM, Actor, permitted
from stockbot.storage.alerts import LEVEL_COLUMNS, Alert, Level
from stockbot.storage.db import READ_ONLY
from stockbot.storage.tables import alerts, products, stock_levels

ALERT_ACTIONS = frozenset({"acknowledge", "snooze", "escalate", "resolve"})
_URGENCY = case({"critical": 0, "out": 1, "low": 2}, value=alerts.c.severity, else_=3)


async def open_alerts_for(
    engine: AsyncEngine, config: Config, actor: Actor, *, location: str | None = None, limit: int = 50
) -> list[AlertMessage]:
    """The open alerts ``actor``'s roles permit acting on, optionally at one ``location`` (any case)."""
    if not permitted(config.roles, actor) & ALERT_ACTIONS:
        return []
    # The alert and its level both have on_hand, minimum and critical_level: the level's are labelled.
    query = (
        select(alerts, *(c.label(f"level_{c.name}") for c in LEVEL_COLUMNS))
        .join(
            stock_levels,
            (stock_levels.c.sku == alerts.c.sku) & (stock_levels.c.location == alerts.c.location),
        )
        .join(products, products.c.sku == alerts.c.sku)
        .where(alerts.c.state != "resolved")
        .order_by(_URGENCY, alerts.c.opened_at, alerts.c.id)
        .limit(limit)
    )
    if location is not None:
        query = query.where(func.lower(alerts.c.location) == location.lower())
    async with engine.connect() as conn:
        conn = await conn.execution_options(**READ_ONLY)
        rows = (await conn.execute(query)).mappings().all()
    public_url = config.server.public_url
    return [message_for(_alert(row), _level(row), "updated", SYSTEM, public_url) for row in rows]


def _alert(row: RowMapping) -> Alert:
    return Alert(**{name: row[name] for name in Alert.__dataclass_fields__})


def _level(row: RowMapping) -> Level:
    return Level(**{c.name: row[f"level_{c.name}"] for c in LEVEL_COLUMNS})
