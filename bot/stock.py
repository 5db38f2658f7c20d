"""Stock lookup for chat commands (Slack ``/stock``, Teams ``stock``): platform-neutral, read-only.

A query is an exact SKU or words of a product: every word must appear in the product's name or SKU, so
``/stock pacman`` finds ``CAB-PACMAN-UP`` "Pac-Man upright cabinet". The answer is plain
data; each front end renders it in its own format. Matching ignores ASCII case, the rule for SKUs and
locations everywhere (storage/folding.py), on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, and_, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from stockbot.adapters.message import FEED_CATEGORY, FEED_PREFIX, LocationStock, OpenAlert, ProductStock
from stockbot.bot.clock import Clock
from stockbot.bot.config import Config
from stockbot.bot.permissions import Actor
from stockbot.bot.routing import policy_for
from stockbot.bot.transitions import severity_for
from stockbot.storage.alerts import LEVEL_COLUMNS, level_from_row
from stockbot.storage.audit import audit_row, record
from stockbot.storage.catalog import locations_of
from stockbot.storage.db import READ_ONLY
from stockbot.storage.folding import fold, folded, same
from stockbot.storage.tables import alerts, products, stock_levels

MAX_WORDS = 8  # more words than this narrow nothing and only cost LIKE clauses
# The feed watchdog's pseudo-products (SKU feed:<source>, bot/watchdog.py) are not stock: no lookup
# or flag finds them.
_STOCK = ~and_(products.c.category == FEED_CATEGORY, products.c.sku.startswith(FEED_PREFIX))


def words_of(query: str) -> list[str]:
    return query.split()[:MAX_WORDS]


def _like(word: str) -> str:
    escaped = fold(word).replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _word_query(words: Sequence[str], limit: int) -> Select[Any]:
    # Both sides folded the same way (ILIKE would fold more than ASCII on PostgreSQL than LIKE on SQLite).
    clauses = [
        or_(
            folded(products.c.name).like(_like(w), escape="\\"),
            folded(products.c.sku).like(_like(w), escape="\\"),
        )
        for w in words
    ]
    query = select(products.c.sku).where(and_(*clauses), _STOCK)
    return query.order_by(products.c.name, products.c.sku).limit(limit)


async def _exact_sku(conn: AsyncConnection, sku: str) -> str | None:
    """The catalog's spelling of ``sku``, ignoring ASCII case (the folded-SKU index answers it)."""
    query = select(products.c.sku).where(folded(products.c.sku) == fold(sku), _STOCK)
    return (await conn.execute(query)).scalars().first()


async def _matching_skus(conn: AsyncConnection, query: str, limit: int) -> list[str]:
    query = query.strip()
    if not query:
        return []
    if " " not in query:
        found = await _exact_sku(conn, query)
        if found is not None:
            return [found]
    return list((await conn.execute(_word_query(words_of(query), limit))).scalars().all())


def _open_alert(row: Any) -> OpenAlert:
    blocked = sum(max(o["requested"] - o["available"], 0) for o in row["blocked_orders"] or [])
    return OpenAlert(
        id=row["id"],
        state=row["state"],
        severity=row["severity"],
        opened_at=row["opened_at"],
        acknowledged_by=row["acknowledged_by"],
        acknowledged_at=row["acknowledged_at"],
        escalated_by=row["escalated_by"],
        escalated_at=row["escalated_at"],
        escalation_step=row["escalation_step"],
        escalation_note=row["escalation_note"],
        snoozed_until=row["snoozed_until"],
        reason=row["reason"],
        blocked_quantity=blocked,
        trigger=row["trigger"],
        flagged_by=row["flagged_by"],
    )


async def _products(conn: AsyncConnection, skus: list[str], resolve_buffer: int) -> list[ProductStock]:
    level_rows = (
        (
            await conn.execute(
                select(*LEVEL_COLUMNS)
                .join(products, products.c.sku == stock_levels.c.sku)
                .where(stock_levels.c.sku.in_(skus))
                .order_by(stock_levels.c.sku, stock_levels.c.location)
            )
        )
        .mappings()
        .all()
    )
    levels = [level_from_row(row) for row in level_rows]
    alert_ids = [lv.open_alert_id for lv in levels if lv.open_alert_id is not None]
    open_alerts: dict[int, Any] = {}
    if alert_ids:
        rows = await conn.execute(select(alerts).where(alerts.c.id.in_(alert_ids)))
        open_alerts = {row["id"]: row for row in rows.mappings().all()}
    by_sku: dict[str, list[LocationStock]] = {sku: [] for sku in skus}
    for level in levels:
        row = open_alerts.get(level.open_alert_id or -1)
        alert = _open_alert(row) if row is not None and row["state"] != "resolved" else None
        blocked = list(row["blocked_orders"] or []) if alert and row is not None else []
        by_sku[level.sku].append(
            LocationStock(
                location=level.location,
                on_hand=level.on_hand,
                minimum=level.minimum,
                critical_level=level.critical_level,
                severity=severity_for(level, level.on_hand, blocked),
                last_event_at=level.last_event_at,
                last_source=level.last_source,
                alert=alert,
                lead_time_days=level.lead_time_days,
                resolves_above=level.minimum + resolve_buffer if alert else None,
            )
        )
    product_rows = await conn.execute(select(products).where(products.c.sku.in_(skus)))
    facts = {row["sku"]: row for row in product_rows.mappings().all()}
    return [
        ProductStock(
            sku=sku,
            name=facts[sku]["name"],
            category=facts[sku]["category"],
            key_product=bool(facts[sku]["key_product"]),
            locations=tuple(by_sku[sku]),
        )
        for sku in skus
        if sku in facts
    ]


async def lookup(
    engine: AsyncEngine, query: str, limit: int = 5, resolve_buffer: int = 0
) -> list[ProductStock]:
    """Products matching ``query`` (an exact SKU wins; otherwise up to ``limit`` by name), with their
    level and open alert at each location. Ask for ``limit + 1`` to learn whether more matched.
    ``resolve_buffer`` ([alerts]) says where an open alert resolves, for "recovering: resolves above 2"."""
    async with engine.connect() as conn:
        conn = await conn.execution_options(**READ_ONLY)
        skus = await _matching_skus(conn, query, limit)
        return await _products(conn, skus, resolve_buffer) if skus else []


async def record_lookup(
    engine: AsyncEngine, clock: Clock, actor: Actor, query: str, found: int, more: bool = False
) -> None:
    """Each stock lookup is an interaction the audit log keeps: who asked for what, and how many products
    answered. One insert in its own transaction; front ends call it after the answer is on its way."""
    row = audit_row(clock.now(), "stock.lookup", actor.label, subject=query[:300], results=found, more=more)
    await record(engine, row)


def escalation_channels(
    config: Config, severity: str, category: str, location: str, sku: str, step: int
) -> tuple[str, ...]:
    """The channels an alert's escalation step ``step`` notifies (empty for step 0 or past the policy)."""
    if step <= 0:
        return ()
    found = policy_for(config, severity, category, location, sku).step(step)
    return found.channels if found else ()


def escalated_to(config: Config, product: ProductStock, where: LocationStock) -> tuple[str, ...]:
    """The channels the open alert's current escalation step notified (empty when not escalated)."""
    alert = where.alert
    if alert is None:
        return ()
    return escalation_channels(
        config, alert.severity, product.category, where.location, product.sku, alert.escalation_step
    )


async def resolve_sku(engine: AsyncEngine, sku: str) -> tuple[str, list[str]] | None:
    """The catalog's spelling of ``sku`` (matched ignoring case) and its locations; None when unknown."""
    sku = sku.strip()
    if not sku:
        return None
    async with engine.connect() as conn:
        conn = await conn.execution_options(**READ_ONLY)
        found = await _exact_sku(conn, sku)
        if found is None:
            return None
        return found, await locations_of(conn, found)


async def stock_locations(engine: AsyncEngine) -> list[str]:
    """Every location the catalog stocks, by name: what a person may filter their alerts by."""
    query = (
        select(stock_levels.c.location)
        .join(products, products.c.sku == stock_levels.c.sku)
        .where(_STOCK)
        .distinct()
        .order_by(stock_levels.c.location)
    )
    async with engine.connect() as conn:
        conn = await conn.execution_options(**READ_ONLY)
        return list((await conn.execute(query)).scalars().all())


@dataclass(frozen=True)
class FlagRequest:
    sku: str
    location: str | None
    reason: str | None


def parse_flag(text: str, locations: Sequence[str] = ()) -> FlagRequest:
    """``<SKU> [location] [reason]``: locations may hold spaces ("Chicago DC"), so the longest known
    location that starts the rest of the text (ignoring ASCII case, on a word boundary) is the location and
    what follows is the reason. Without a known location the whole rest is the reason."""
    sku, _, rest = text.strip().partition(" ")
    rest = " ".join(rest.split())
    for location in sorted(locations, key=len, reverse=True):
        name = " ".join(location.split())
        head, tail = rest[: len(name)], rest[len(name) :]
        if same(head, name) and (not tail or tail.startswith(" ")):
            return FlagRequest(sku, location, tail.strip() or None)
    return FlagRequest(sku, None, rest or None)
