"""The outbox: every notifying alert change writes its deliveries in the change's own transaction.

Nothing is sent that was not first stored here; the dispatcher (``bot/relay.py``) delivers them, handed
their ids as soon as the transaction commits (``AlertDesk.on_outbox``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from stockbot.adapters import adapter_class
from stockbot.adapters.base import AlertMessage
from stockbot.bot.config import ChannelConfig
from stockbot.storage.tables import deliveries


def wants(channel: ChannelConfig, event: str) -> bool:
    """Does this channel's platform take this kind of event? (SMS skips acknowledgements, …)"""
    return event in adapter_class(channel.adapter).events


async def enqueue(
    conn: AsyncConnection,
    channels: dict[str, ChannelConfig],
    names: Iterable[str],
    message: AlertMessage,
    now: datetime,
    key: str,
    mentions: Mapping[str, tuple[str, ...]] | None = None,
    holds: Mapping[str, datetime] | None = None,
) -> list[int]:
    """Write one pending delivery per channel that takes ``message.event``; return their ids."""
    rows = delivery_rows(channels, names, message, now, key, mentions, holds)
    if not rows:
        return []
    stmt = insert(deliveries).returning(deliveries.c.id, sort_by_parameter_order=True)
    return list((await conn.execute(stmt, rows)).scalars())


def delivery_rows(
    channels: dict[str, ChannelConfig],
    names: Iterable[str],
    message: AlertMessage,
    now: datetime,
    key: str,
    mentions: Mapping[str, tuple[str, ...]] | None = None,
    holds: Mapping[str, datetime] | None = None,
) -> list[dict[str, Any]]:
    """One pending delivery row per channel that takes ``message.event`` (the alert desk writes a whole
    transaction's rows in one statement).

    ``key`` identifies the change (alert id and version): with the channel it is the idempotency key, so
    the same change can never be queued twice for one channel.
    """
    rows: list[dict[str, Any]] = []
    mentions, holds = mentions or {}, holds or {}
    # The snapshot each row stores, made once: only its mentions differ by channel. (dataclasses.replace
    # per channel rebuilt all ~45 fields through the frozen __init__, the largest cost of queueing one.)
    snapshot = message.to_json()
    for name in dict.fromkeys(names):  # de-duplicated, order kept
        channel = channels.get(name)
        if channel is None or not wants(channel, message.event):
            continue
        rows.append(
            {
                "alert_id": message.alert_id or None,
                "channel": name,
                "adapter": channel.adapter,
                "event": message.event,
                "message": {**snapshot, "mentions": mentions.get(name, ())},
                "idempotency_key": f"{key}-{name}",
                # held: waits for a digest or the end of quiet hours (bot/noise.py)
                "status": "held" if name in holds else "pending",
                "attempts": 0,
                "next_attempt_at": holds.get(name, now),
                "created_at": now,
            }
        )
    return rows
