"""The outbox's delivery rows: claiming due work safely across processes, and recording each attempt.

A delivery is claimed only when no earlier delivery of the same alert to the same channel is still
unfinished, so a card's post always lands before its updates. On PostgreSQL ``FOR UPDATE SKIP LOCKED`` lets
several replicas claim side by side without sending anything twice; a claim whose process died expires.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import exists, func, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from stockbot.storage.db import READ_ONLY
from stockbot.storage.tables import alert_posts, deliveries

UNFINISHED = ("pending", "sending")


@dataclass(frozen=True)
class Claimed:
    id: int
    alert_id: int | None
    channel: str
    adapter: str
    event: str
    message: dict[str, Any]
    idempotency_key: str
    attempts: int
    created_at: datetime
    external_id: str | None


async def release_expired(conn: AsyncConnection, now: datetime) -> None:
    await conn.execute(
        update(deliveries)
        .where(deliveries.c.status == "sending", deliveries.c.claim_expires_at < now)
        .values(status="pending", claimed_by=None, claim_expires_at=None)
    )


async def supersede_updates(conn: AsyncConnection) -> None:
    """A pending in-place update followed by a newer one for the same card need not be sent: the newer one
    carries the whole current state."""
    later = deliveries.alias("later")
    await conn.execute(
        update(deliveries)
        .where(
            deliveries.c.status == "pending",
            deliveries.c.event == "updated",
            exists().where(
                later.c.alert_id == deliveries.c.alert_id,
                later.c.channel == deliveries.c.channel,
                later.c.id > deliveries.c.id,
                later.c.status == "pending",
            ),
        )
        .values(status="superseded", last_error="a newer update replaced it")
    )


async def claim(
    engine: AsyncEngine,
    worker: str,
    now: datetime,
    limit: int,
    lease: timedelta,
    only: Sequence[int] | None = None,
    channel: str | None = None,
) -> list[Claimed]:
    earlier = deliveries.alias("earlier")
    due = (
        select(deliveries.c.id)
        .where(
            deliveries.c.status == "pending",
            deliveries.c.next_attempt_at <= now,
            ~exists().where(
                earlier.c.alert_id == deliveries.c.alert_id,
                earlier.c.channel == deliveries.c.channel,
                earlier.c.id < deliveries.c.id,
                earlier.c.status.in_(UNFINISHED),
            ),
        )
        .order_by(deliveries.c.next_attempt_at, deliveries.c.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    if only is not None:
        due = due.where(deliveries.c.id.in_(list(only)))
    if channel is not None:
        due = due.where(deliveries.c.channel == channel)
    async with engine.begin() as conn:
        await release_expired(conn, now)
        await supersede_updates(conn)
        rows = await _take(conn, due, worker, now, lease)
        posts = await _external_ids(conn, [(r["alert_id"], r["channel"]) for r in rows if r["alert_id"]])
    return [_claimed(r, posts.get((r["alert_id"], r["channel"]))) for r in rows]


async def _take(conn: AsyncConnection, due: Any, worker: str, now: datetime, lease: timedelta) -> list[Any]:
    """Mark the rows ``due`` selects as being sent by ``worker`` until ``now + lease``; oldest first."""
    result = await conn.execute(
        update(deliveries)
        .where(deliveries.c.id.in_(due.scalar_subquery()))
        .values(
            status="sending",
            claimed_by=worker,
            claim_expires_at=now + lease,
            attempts=deliveries.c.attempts + 1,
        )
        .returning(*deliveries.c)
    )
    return sorted(result.mappings().all(), key=lambda r: r["id"])


def _claimed(row: Any, external_id: str | None) -> Claimed:
    return Claimed(
        row["id"],
        row["alert_id"],
        row["channel"],
        row["adapter"],
        row["event"],
        row["message"],
        row["idempotency_key"],
        row["attempts"],
        row["created_at"],
        external_id,
    )


async def _external_ids(
    conn: AsyncConnection, pairs: Sequence[tuple[int, str]]
) -> dict[tuple[int, str], str]:
    if not pairs:
        return {}
    query = select(alert_posts).where(tuple_(alert_posts.c.alert_id, alert_posts.c.channel).in_(list(pairs)))
    return {(r.alert_id, r.channel): r.external_id for r in (await conn.execute(query)).all()}


async def claim_held(
    engine: AsyncEngine, worker: str, now: datetime, lease: timedelta
) -> dict[str, list[Claimed]]:
    """Held deliveries whose time has come, claimed together by channel: each channel's becomes one digest.

    A held message that a later, non-held message of the same alert has overtaken (the alert became
    critical and went out at once) is stale: it is marked superseded instead."""
    later = deliveries.alias("later")
    async with engine.begin() as conn:
        await conn.execute(
            update(deliveries)
            .where(
                deliveries.c.status == "held",
                exists().where(
                    later.c.alert_id == deliveries.c.alert_id,
                    later.c.channel == deliveries.c.channel,
                    later.c.id > deliveries.c.id,
                    later.c.status != "held",
                ),
            )
            .values(status="superseded", last_error="a later message of this alert went out on its own")
        )
        due = (
            select(deliveries.c.id)
            .where(deliveries.c.status == "held", deliveries.c.next_attempt_at <= now)
            .with_for_update(skip_locked=True)
        )
        rows = await _take(conn, due, worker, now, lease)
    groups: dict[str, list[Claimed]] = {}
    for row in rows:
        groups.setdefault(row["channel"], []).append(_claimed(row, None))
    return groups


async def release(conn: AsyncConnection, ids: Sequence[int], at: datetime, status: str = "pending") -> None:
    """Give claimed deliveries back, unattempted, to be tried at ``at`` (over budget: not a failure)."""
    if ids:
        await conn.execute(
            update(deliveries)
            .where(deliveries.c.id.in_(list(ids)))
            .values(
                status=status,
                next_attempt_at=at,
                attempts=deliveries.c.attempts - 1,
                claimed_by=None,
                claim_expires_at=None,
            )
        )


async def mark_delivered(
    conn: AsyncConnection, item: Claimed, external_id: str | None, now: datetime, remember: bool = True
) -> None:
    """``remember``: keep the receipt's id as this alert's card in this channel, to update in place."""
    await conn.execute(
        update(deliveries)
        .where(deliveries.c.id == item.id)
        .values(
            status="delivered",
            external_id=external_id,
            finished_at=now,
            claimed_by=None,
            claim_expires_at=None,
            last_error=None,
        )
    )
    if remember and item.alert_id and external_id:
        dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
        stmt = dialect.insert(alert_posts).values(
            alert_id=item.alert_id, channel=item.channel, external_id=external_id, posted_at=now
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=["alert_id", "channel"], set_={"external_id": external_id, "posted_at": now}
        )
        await conn.execute(stmt)


async def mark_failed(
    conn: AsyncConnection,
    item: Claimed,
    status: str,
    error: str,
    now: datetime,
    retry_at: datetime | None = None,
) -> None:
    """``status`` is pending or held (retry at ``retry_at``), failed (permanent) or dead (too old)."""
    values: dict[str, Any] = {
        "status": status,
        "last_error": error[:2000],
        "claimed_by": None,
        "claim_expires_at": None,
    }
    if status in ("pending", "held"):  # held: a digest's members wait together for the retry
        values["next_attempt_at"] = retry_at
    else:
        values["finished_at"] = now
    await conn.execute(update(deliveries).where(deliveries.c.id == item.id).values(values))


async def redrive(engine: AsyncEngine, now: datetime, ids: Sequence[int] | None) -> list[int]:
    """Put dead (and permanently failed) deliveries back in the queue with a fresh age."""
    query = update(deliveries).where(deliveries.c.status.in_(("dead", "failed")))
    if ids is not None:
        query = query.where(deliveries.c.id.in_(list(ids)))
    async with engine.begin() as conn:
        result = await conn.execute(
            query.values(
                status="pending", next_attempt_at=now, created_at=now, attempts=0, finished_at=None
            ).returning(deliveries.c.id)
        )
        return sorted(result.scalars())


async def listing(engine: AsyncEngine, statuses: Sequence[str] | None, limit: int) -> list[dict[str, Any]]:
    query = (
        select(
            deliveries.c.id,
            deliveries.c.alert_id,
            deliveries.c.channel,
            deliveries.c.adapter,
            deliveries.c.event,
            deliveries.c.status,
            deliveries.c.attempts,
            deliveries.c.next_attempt_at,
            deliveries.c.created_at,
            deliveries.c.last_error,
        )
        .order_by(deliveries.c.id.desc())
        .limit(limit)
    )
    if statuses:
        query = query.where(deliveries.c.status.in_(list(statuses)))
    async with engine.connect() as conn:
        conn = await conn.execution_options(**READ_ONLY)
        return [dict(r) for r in (await conn.execute(query)).mappings().all()]


async def counts(conn: AsyncConnection) -> dict[str, int]:
    query = select(deliveries.c.status, func.count()).group_by(deliveries.c.status)
    return {status: n for status, n in (await conn.execute(query)).all()}
