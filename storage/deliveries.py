"""The outbox's delivery rows: claiming due work safely across processes, and recording each attempt.

A delivery is claimed only when no earlier delivery of the same alert to the same channel is still
unfinished, so a card's post always lands before its updates. On PostgreSQL ``FOR UPDATE SKIP LOCKED`` lets
several replicas claim side by side without sending anything twice; a claim whose process died expires
(a live process renews its claims, :func:`renew`).

Everything here is set-wise: a claim takes a batch of rows in one statement, :func:`record` writes a batch
of outcomes (sent, retry, failed, dead, given back) and their audit rows in one transaction whatever its
size, and :func:`claim_successors` claims, in that same transaction, the next delivery of every alert and
channel whose earlier one just finished.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from sqlalchemy import bindparam, exists, func, literal_column, select, true, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from stockbot.storage.db import READ_ONLY
from stockbot.storage.ingest_rows import (
    AUDIT_COLUMNS,
    MAX_VALUES,
    Rows,
    driver_of,
    insert_statement,
    parse_sqlite_time,
    placeholders,
    sqlite_time,
    with_queries,
)
from stockbot.storage.tables import UTCDateTime, alert_posts, deliveries

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


async def supersede_updates(conn: AsyncConnection, among: Any = None) -> None:
    """A pending in-place update followed by a newer one for the same card need not be sent: the newer one
    carries the whole current state. ``among``: only rows matching this condition."""
    later = deliveries.alias("later")
    stmt = update(deliveries).where(
        deliveries.c.status == "pending",
        deliveries.c.event == "updated",
        exists().where(
            later.c.alert_id == deliveries.c.alert_id,
            later.c.channel == deliveries.c.channel,
            later.c.id > deliveries.c.id,
            later.c.status == "pending",
        ),
    )
    if among is not None:
        stmt = stmt.where(among)
    await conn.execute(stmt.values(status="superseded", last_error="a newer update replaced it"))


def _due(now: Any, dialect: str = "postgresql") -> Any:
    """Pending deliveries whose time has come (any time, with None; ``now`` may be a bound parameter) and
    whose alert has nothing unfinished before them in their channel (a card's post before its updates),
    locked for this claim on PostgreSQL."""
    earlier = deliveries.alias("earlier")
    # A literal, not a parameter, so the partial index ix_deliveries_due (status = 'pending') applies: read
    # in next_attempt_at order, a claim stops at its limit whatever the backlog. SQLite, which keeps no
    # statistics unless told, would rather take the plain status index and sort every pending row; "likely
    # true" steers it to the partial index (a hint to its planner, the same condition).
    pending = deliveries.c.status == literal_column("'pending'")
    if dialect == "sqlite":
        pending = func.likelihood(pending, literal_column("0.9"))
    return (
        select(deliveries.c.id)
        .where(
            pending,
            deliveries.c.next_attempt_at <= now if now is not None else true(),
            ~exists().where(
                earlier.c.alert_id == deliveries.c.alert_id,
                earlier.c.channel == deliveries.c.channel,
                earlier.c.id < deliveries.c.id,
                earlier.c.status.in_(UNFINISHED),
            ),
        )
        .with_for_update(skip_locked=True)
    )


def _take_statement(due: Any) -> Any:
    """Mark the rows ``due`` selects as being sent by ``b_worker`` until ``b_expires``."""
    return (
        update(deliveries)
        .where(deliveries.c.id.in_(due.scalar_subquery()))
        .values(
            status="sending",
            claimed_by=bindparam("b_worker"),
            claim_expires_at=bindparam("b_expires", type_=UTCDateTime()),
            attempts=deliveries.c.attempts + 1,
        )
        .returning(*deliveries.c)
    )


@cache
def _claim_statement(dialect: str, only: bool, channel: bool) -> Any:
    """:func:`claim_in`'s statement, built once per shape: a claim is on the hot path (each batch of
    events, each round of outcomes), and building and compiling it anew each time cost more than running
    it. The values travel as parameters (``b_now``, ``b_limit``, ``b_only``, ``b_channel``, ``b_worker``,
    ``b_expires``), so SQLAlchemy's compiled cache serves every later call."""
    due = _due(bindparam("b_now", type_=UTCDateTime()), dialect)
    due = due.order_by(deliveries.c.next_attempt_at, deliveries.c.id).limit(bindparam("b_limit"))
    if only:
        due = due.where(deliveries.c.id.in_(bindparam("b_only", expanding=True)))
    if channel:
        due = due.where(deliveries.c.channel == bindparam("b_channel"))
    return _take_statement(due)


_POSTS = select(alert_posts).where(alert_posts.c.alert_id.in_(bindparam("b_alerts", expanding=True)))


async def claim(
    engine: AsyncEngine,
    worker: str,
    now: datetime,
    limit: int,
    lease: timedelta,
    only: Sequence[int] | None = None,
    channel: str | None = None,
) -> list[Claimed]:
    """Claim up to ``limit`` due deliveries (of ``only``, or of one ``channel``, if given), oldest first."""
    async with engine.begin() as conn:
        return await claim_in(conn, worker, now, limit, lease, only, channel)


async def claim_in(
    conn: AsyncConnection,
    worker: str,
    now: datetime,
    limit: int,
    lease: timedelta,
    only: Sequence[int] | None = None,
    channel: str | None = None,
) -> list[Claimed]:
    """:func:`claim`, in the caller's transaction."""
    if only is not None and not only:
        return []
    if channel is None and (plain := _plain(conn)) is not None:
        return await _claim_plain(plain, worker, now, limit, lease, only)
    if only is not None and channel is None and conn.dialect.name == "postgresql":
        return await _claim_given_pg(conn, worker, now, limit, lease, only)
    stmt = _claim_statement(conn.dialect.name, only is not None, channel is not None)
    params: dict[str, Any] = {"b_now": now, "b_limit": limit, "b_worker": worker, "b_expires": now + lease}
    if only is not None:
        params["b_only"] = list(only)
    if channel is not None:
        params["b_channel"] = channel
    result = await conn.execute(stmt, params)
    return await _claimed_rows(conn, sorted(result.mappings().all(), key=lambda r: r["id"]))


def _plain(conn: Any) -> Any:
    """Plain SQL on the SQLite writer's own connection (``CoreOnThread.plain``), where ``conn`` is that: the
    claims and outcomes of every delivery run through it, and SQLAlchemy's execution of a statement (its
    parameter and result processing) cost several times what SQLite spends running it. None elsewhere
    (PostgreSQL, or an engine's connection): the SQLAlchemy statements then, the same conditions."""
    return getattr(conn, "plain", None)


# :func:`claim_in` in plain SQL (``{only}``: the ids it is limited to, if any).
_CLAIM_PLAIN = (
    "UPDATE deliveries SET status = 'sending', claimed_by = ?, claim_expires_at = ?, attempts = attempts + 1 "
    "WHERE id IN (SELECT id FROM deliveries WHERE likelihood(status = 'pending', 0.9) "
    "AND next_attempt_at <= ? AND NOT EXISTS (SELECT 1 FROM deliveries AS earlier "
    "WHERE earlier.alert_id = deliveries.alert_id AND earlier.channel = deliveries.channel "
    "AND earlier.id < deliveries.id AND earlier.status IN ('pending', 'sending')){only} "
    "ORDER BY next_attempt_at, id LIMIT ?) "
    "RETURNING id, alert_id, channel, adapter, event, message, idempotency_key, attempts, created_at"
)

_POSTS_PLAIN = "SELECT alert_id, channel, external_id FROM alert_posts WHERE alert_id IN ({alerts})"


async def _claim_plain(
    plain: Any, worker: str, now: datetime, limit: int, lease: timedelta, only: Sequence[int] | None
) -> list[Claimed]:
    if only is None:
        sql, ids = _CLAIM_PLAIN.format(only=""), []
    else:
        ids = list(dict.fromkeys(only))
        sql = _CLAIM_PLAIN.format(only=f" AND id IN ({', '.join('?' * len(ids))})")
    rows, _ = await plain(sql, [worker, sqlite_time(now + lease), sqlite_time(now), *ids, limit])
    rows.sort(key=lambda row: row[0])
    alerts = sorted({row[1] for row in rows if row[1] is not None})
    posts: dict[tuple[int, str], str] = {}
    for start in range(0, len(alerts), MAX_VALUES):
        chunk = alerts[start : start + MAX_VALUES]
        found, _ = await plain(_POSTS_PLAIN.format(alerts=placeholders(1, len(chunk))), chunk)
        posts.update(((a, c), e) for a, c, e in found)
    return _plain_claimed(rows, posts, parse_sqlite_time)


def _plain_claimed(
    rows: Sequence[Any], posts: dict[tuple[int, str], str], created: Callable[[Any], datetime]
) -> list[Claimed]:
    """Claimed deliveries from a plain claim's rows (id, alert, channel, adapter, event, message, key,
    attempts, created_at), with the card each alert already has in that channel."""
    return [
        Claimed(
            row[0],
            row[1],
            row[2],
            row[3],
            row[4],
            json.loads(row[5]) if isinstance(row[5], str) else row[5],
            row[6],
            row[7],
            created(row[8]),
            posts.get((row[1], row[2])) if row[1] is not None else None,
        )
        for row in rows
    ]


# The same claim of given ids on PostgreSQL, through asyncpg itself in the caller's transaction: the ids
# travel as one array, so it is one prepared text whatever their number (SQLAlchemy's expanding IN made a
# new text, parsed and prepared anew, for each count), and SQLAlchemy's compilation is skipped.
# The claimed rows come back with the card each alert already has in that channel, in the same statement.
_CLAIM_GIVEN_PG = (
    "WITH claimed AS (UPDATE deliveries SET status = 'sending', claimed_by = $1, claim_expires_at = $2, "
    "attempts = attempts + 1 "
    "WHERE id IN (SELECT id FROM deliveries WHERE status = 'pending' AND next_attempt_at <= $3 "
    "AND NOT EXISTS (SELECT 1 FROM deliveries AS earlier WHERE earlier.alert_id = deliveries.alert_id "
    "AND earlier.channel = deliveries.channel AND earlier.id < deliveries.id "
    "AND earlier.status IN ('pending', 'sending')) AND id = ANY($4::int8[]) "
    "ORDER BY next_attempt_at, id LIMIT $5 FOR UPDATE SKIP LOCKED) "
    "RETURNING id, alert_id, channel, adapter, event, message, idempotency_key, attempts, created_at) "
    "SELECT claimed.*, alert_posts.external_id FROM claimed LEFT JOIN alert_posts "
    "ON alert_posts.alert_id = claimed.alert_id AND alert_posts.channel = claimed.channel ORDER BY claimed.id"
)


async def _claim_given_pg(
    conn: AsyncConnection, worker: str, now: datetime, limit: int, lease: timedelta, only: Sequence[int]
) -> list[Claimed]:
    raw = await driver_of(conn)
    ids = list(dict.fromkeys(only))
    rows = await raw.fetch(_CLAIM_GIVEN_PG, worker, now + lease, now, ids, limit)
    posts = {(row[1], row[2]): row[9] for row in rows if row[9] is not None}
    return _plain_claimed(rows, posts, lambda created_at: created_at)  # asyncpg gives datetimes already


async def claim_early(
    conn: AsyncConnection, worker: str, now: datetime, lease: timedelta, ids: Sequence[int]
) -> list[Claimed]:
    """Claim these pending deliveries before their time: new messages this process gave back to wait for
    their channel's group, now that the group goes early (an urgent message joined it)."""
    due = _due(None, conn.dialect.name).where(deliveries.c.id.in_(list(ids)))
    return await _take_claimed(conn, due, worker, now, lease)


async def _take_claimed(
    conn: AsyncConnection, due: Any, worker: str, now: datetime, lease: timedelta
) -> list[Claimed]:
    return await _claimed_rows(conn, await _take(conn, due, worker, now, lease))


async def _claimed_rows(conn: AsyncConnection, rows: Sequence[Any]) -> list[Claimed]:
    posts = await _external_ids(conn, [(r["alert_id"], r["channel"]) for r in rows if r["alert_id"]])
    return [_claimed(r, posts.get((r["alert_id"], r["channel"]))) for r in rows]


async def _take(conn: AsyncConnection, due: Any, worker: str, now: datetime, lease: timedelta) -> list[Any]:
    """Mark the rows ``due`` selects as being sent by ``worker`` until ``now + lease``; oldest first."""
    result = await conn.execute(_take_statement(due), {"b_worker": worker, "b_expires": now + lease})
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
    # By alert id, then by channel here: an IN of a few hundred numbers plans far better than of pairs.
    wanted = set(pairs)
    rows = (await conn.execute(_POSTS, {"b_alerts": sorted({a for a, _ in wanted})})).all()
    return {(r.alert_id, r.channel): r.external_id for r in rows if (r.alert_id, r.channel) in wanted}


async def claim_held(
    engine: AsyncEngine, worker: str, now: datetime, lease: timedelta
) -> dict[str, list[Claimed]]:
    """Held deliveries whose time has come, claimed together by channel: each channel's becomes one digest.

    A held message that a later, non-held message of the same alert has overtaken (the alert became
    critical and went out at once) is stale: it is marked superseded instead."""
    async with engine.begin() as conn:
        return await claim_held_in(conn, worker, now, lease)


async def claim_held_in(
    conn: AsyncConnection, worker: str, now: datetime, lease: timedelta
) -> dict[str, list[Claimed]]:
    """:func:`claim_held`, in the caller's transaction."""
    later = deliveries.alias("later")
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
    # Waits for, rather than skips, rows another replica is claiming: skipping would split a channel's
    # digest between two replicas. Locked in id order, so two claims never deadlock; once the other commits,
    # its rows are no longer held and drop out of this claim (PostgreSQL re-checks the condition).
    due = (
        select(deliveries.c.id)
        .where(deliveries.c.status == "held", deliveries.c.next_attempt_at <= now)
        .order_by(deliveries.c.id)
        .with_for_update()
    )
    rows = await _take(conn, due, worker, now, lease)
    groups: dict[str, list[Claimed]] = {}
    for row in rows:
        groups.setdefault(row["channel"], []).append(_claimed(row, None))
    return groups


@dataclass(frozen=True)
class Mark:
    """The outcome of one claimed delivery, to be written with others in one transaction (:func:`record`).

    ``status``: delivered; pending or held (to try again at ``at``); failed (permanent) or dead (too old).
    ``attempted`` False gives the claim back untried (it waited for a rate budget, a group or a pause): the
    attempt it was counted as is taken back. ``pair`` is the delivery's (alert, channel); with ``remember``
    the receipt's ``external_id`` becomes that alert's card in that channel, updated in place later.
    """

    id: int
    status: str
    attempted: bool = True
    at: datetime | None = None
    error: str | None = None
    external_id: str | None = None
    pair: tuple[int, str] | None = None
    remember: bool = False

    @property
    def finished(self) -> bool:
        return self.status in FINISHED


FINISHED = ("delivered", "failed", "dead")


# Outcome statements, built once (executed with a list of parameter sets each): recording outcomes is on
# the hot path, and building a statement cost as much as running it.
_BY_ID = deliveries.c.id == bindparam("b_id")
_UNCLAIM = {"claimed_by": None, "claim_expires_at": None}
_SENT = (
    update(deliveries)
    .where(_BY_ID)
    .values(
        status="delivered",
        external_id=bindparam("b_ext"),
        finished_at=bindparam("b_now", type_=UTCDateTime()),
        last_error=None,
        **_UNCLAIM,
    )
)
_TRIED = (
    update(deliveries)
    .where(_BY_ID)
    .values(
        status=bindparam("b_status"),
        last_error=bindparam("b_error"),
        # pending or held: try again then; failed or dead: keep the time it was due
        next_attempt_at=func.coalesce(bindparam("b_at", type_=UTCDateTime()), deliveries.c.next_attempt_at),
        finished_at=bindparam("b_finished", type_=UTCDateTime()),
        **_UNCLAIM,
    )
)
_GIVEN_BACK = (
    update(deliveries)
    .where(_BY_ID)
    .values(
        status=bindparam("b_status"),
        next_attempt_at=bindparam("b_at", type_=UTCDateTime()),
        attempts=deliveries.c.attempts - 1,
        **_UNCLAIM,
    )
)
_WAITING_PG = (
    "SELECT alert_id, channel FROM deliveries WHERE status = 'pending' AND alert_id = ANY($1::int8[])"
)
# What is still queued for the alerts whose deliveries just finished: found through the alerts, never through
# the status. SQLite without statistics takes the equality on ``status`` for the more selective term and
# reads every pending delivery by ``ix_deliveries_status``: with a backlog of 10,000, each flush of outcomes
# read all of them (1.2 ms a flush in bench/drain.py). ``likelihood`` tells it the status rules out little,
# as in the claim's statement.
_WAITING = select(deliveries.c.alert_id, deliveries.c.channel).where(
    func.likelihood(deliveries.c.status == literal_column("'pending'"), literal_column("0.9")),
    deliveries.c.alert_id.in_(bindparam("b_alerts", expanding=True)),
)

_WAITING_PLAIN = (
    "SELECT alert_id, channel FROM deliveries WHERE likelihood(status = 'pending', 0.9) "
    "AND alert_id IN ({alerts})"
)


@cache
def _remember_statement(dialect: str) -> Any:
    insert = (postgresql if dialect == "postgresql" else sqlite).insert(alert_posts)
    return insert.on_conflict_do_update(
        index_elements=["alert_id", "channel"],
        set_={"external_id": insert.excluded.external_id, "posted_at": insert.excluded.posted_at},
    )


def _kinds(marks: Sequence[Mark]) -> tuple[list[Mark], list[Mark], list[Mark]]:
    """Outcomes by how they are written: delivered, tried and not delivered, given back untried."""
    sent = [m for m in marks if m.status == "delivered"]
    tried = [m for m in marks if m.attempted and m.status != "delivered"]
    return sent, tried, [m for m in marks if not m.attempted]


async def record(conn: AsyncConnection, marks: Sequence[Mark], now: datetime) -> None:
    """Write a batch of outcomes: at most four statements, whatever the batch's size."""
    sent, tried, given_back = _kinds(marks)
    if (plain := _plain(conn)) is not None:
        await _record_plain(plain, sent, tried, given_back, now)
        return
    if conn.dialect.name == "postgresql":
        await _record_pg(await driver_of(conn), sent, tried, given_back, now)
        return
    if sent:
        await conn.execute(_SENT, [{"b_id": m.id, "b_ext": m.external_id, "b_now": now} for m in sent])
    if tried:
        rows = [
            {
                "b_id": m.id,
                "b_status": m.status,
                "b_error": (m.error or "")[:2000],
                "b_at": m.at if m.status in ("pending", "held") else None,
                "b_finished": now if m.finished else None,
            }
            for m in tried
        ]
        await conn.execute(_TRIED, rows)
    if given_back:
        await conn.execute(
            _GIVEN_BACK, [{"b_id": m.id, "b_status": m.status, "b_at": m.at} for m in given_back]
        )
    posts = [m for m in sent if m.remember and m.pair and m.external_id]
    if posts:
        await _remember_posts(conn, posts, now)


# :func:`record` in plain SQL: each kind of outcome is one UPDATE … FROM a list of values, in as few
# statements as SQLite's limit on bound values allows, with the values stored as SQLAlchemy stores them.
_SENT_PLAIN = (
    "UPDATE deliveries SET status = 'delivered', external_id = v.ext, finished_at = ?, last_error = NULL, "
    "claimed_by = NULL, claim_expires_at = NULL FROM v WHERE deliveries.id = v.id"
)
_TRIED_PLAIN = (
    "UPDATE deliveries SET status = v.status, last_error = v.error, "
    "next_attempt_at = coalesce(v.at, deliveries.next_attempt_at), finished_at = v.finished, "
    "claimed_by = NULL, claim_expires_at = NULL FROM v WHERE deliveries.id = v.id"
)
_GIVEN_BACK_PLAIN = (
    "UPDATE deliveries SET status = v.status, next_attempt_at = v.at, attempts = deliveries.attempts - 1, "
    "claimed_by = NULL, claim_expires_at = NULL FROM v WHERE deliveries.id = v.id"
)
_REMEMBER_PLAIN = (
    "INSERT INTO alert_posts (alert_id, channel, external_id, posted_at) VALUES {values} "
    "ON CONFLICT (alert_id, channel) DO UPDATE SET external_id = excluded.external_id, "
    "posted_at = excluded.posted_at"
)


async def _update_from(plain: Any, names: str, sql: str, rows: list[tuple[Any, ...]], *after: Any) -> None:
    """``sql`` (an UPDATE … FROM v) for every row of values, ``v(names)``; ``after``: its other parameters."""
    rows = list({row[0]: row for row in rows}.values())  # one outcome per delivery: the last, as before
    width = len(rows[0]) if rows else 1
    size = (MAX_VALUES - len(after)) // width
    for start in range(0, len(rows), size):
        chunk = rows[start : start + size]
        values = f"WITH v({names}) AS (VALUES {placeholders(width, len(chunk))}) "
        await plain(values + sql, [value for row in chunk for value in row] + list(after))


async def _record_plain(
    plain: Any, sent: list[Mark], tried: list[Mark], given_back: list[Mark], now: datetime
) -> None:
    stamp = sqlite_time(now)
    if sent:
        await _update_from(plain, "id, ext", _SENT_PLAIN, [(m.id, m.external_id) for m in sent], stamp)
    if tried:
        rows = [
            (
                m.id,
                m.status,
                (m.error or "")[:2000],
                sqlite_time(m.at) if m.status in ("pending", "held") else None,
                stamp if m.finished else None,
            )
            for m in tried
        ]
        await _update_from(plain, "id, status, error, at, finished", _TRIED_PLAIN, rows)
    if given_back:
        back = [(m.id, m.status, sqlite_time(m.at)) for m in given_back]
        await _update_from(plain, "id, status, at", _GIVEN_BACK_PLAIN, back)
    latest = _latest_posts([m for m in sent if m.remember and m.pair and m.external_id])
    items = list(latest.items())
    for start in range(0, len(items), MAX_VALUES // 4):
        chunk = items[start : start + MAX_VALUES // 4]
        params = [v for (alert_id, channel), ext in chunk for v in (alert_id, channel, ext, stamp)]
        await plain(_REMEMBER_PLAIN.format(values=placeholders(4, len(chunk))), params)


# :func:`record` on PostgreSQL, through asyncpg: each kind of outcome one UPDATE … FROM unnest(arrays), one
# statement text (and prepared statement) for any number of rows; SQLAlchemy's executemany sent a statement
# per delivery and converted every parameter on the way. The parameters are numbered from ``first``, so
# that :func:`record_with_audit` can join them in one statement.
@cache
def _sent_pg(first: int = 1) -> str:
    ids, ext, now = (f"${first + i}" for i in range(3))
    return (
        f"UPDATE deliveries SET status = 'delivered', external_id = v.ext, finished_at = {now}, "
        "last_error = NULL, claimed_by = NULL, claim_expires_at = NULL "
        f"FROM unnest({ids}::int8[], {ext}::text[]) AS v(id, ext) WHERE deliveries.id = v.id"
    )


@cache
def _tried_pg(first: int = 1) -> str:
    n = [f"${first + i}" for i in range(5)]
    return (
        "UPDATE deliveries SET status = v.status, last_error = v.error, "
        "next_attempt_at = coalesce(v.at, deliveries.next_attempt_at), finished_at = v.finished, "
        "claimed_by = NULL, claim_expires_at = NULL "
        f"FROM unnest({n[0]}::int8[], {n[1]}::text[], {n[2]}::text[], {n[3]}::timestamptz[], "
        f"{n[4]}::timestamptz[]) AS v(id, status, error, at, finished) WHERE deliveries.id = v.id"
    )


@cache
def _given_back_pg(first: int = 1) -> str:
    ids, status, at = (f"${first + i}" for i in range(3))
    return (
        "UPDATE deliveries SET status = v.status, next_attempt_at = v.at, "
        "attempts = deliveries.attempts - 1, claimed_by = NULL, claim_expires_at = NULL "
        f"FROM unnest({ids}::int8[], {status}::text[], {at}::timestamptz[]) AS v(id, status, at) "
        "WHERE deliveries.id = v.id"
    )


@cache
def _remember_pg(first: int = 1) -> str:
    alert_ids, channels, ext, now = (f"${first + i}" for i in range(4))
    return (
        "INSERT INTO alert_posts (alert_id, channel, external_id, posted_at) "
        f"SELECT v.alert_id, v.channel, v.ext, {now}::timestamptz "
        f"FROM unnest({alert_ids}::int8[], {channels}::text[], {ext}::text[]) AS v(alert_id, channel, ext) "
        "ON CONFLICT (alert_id, channel) DO UPDATE SET "
        "external_id = excluded.external_id, posted_at = excluded.posted_at"
    )


def _last_of_each(marks: list[Mark]) -> list[Mark]:
    """One outcome per delivery, the last: an UPDATE … FROM changes a row once, whichever match it takes."""
    return list({m.id: m for m in marks}.values())


def _record_pg_parts(
    sent: list[Mark], tried: list[Mark], given_back: list[Mark], now: datetime, joined: bool = False
) -> list[tuple[str, list[Any]]]:
    """Each statement of :func:`record` on PostgreSQL with its arguments: each numbered from $1, or
    (``joined``, to be one statement) each on from the one before."""
    parts: list[tuple[str, list[Any]]] = []

    def add(sql: Callable[[int], str], *args: Any) -> None:
        parts.append((sql(1 + sum(len(a) for _, a in parts) if joined else 1), list(args)))

    if sent := _last_of_each(sent):
        add(_sent_pg, [m.id for m in sent], [m.external_id for m in sent], now)
    if tried := _last_of_each(tried):
        add(
            _tried_pg,
            [m.id for m in tried],
            [m.status for m in tried],
            [(m.error or "")[:2000] for m in tried],
            [m.at if m.status in ("pending", "held") else None for m in tried],
            [now if m.finished else None for m in tried],
        )
    if given_back := _last_of_each(given_back):
        add(
            _given_back_pg,
            [m.id for m in given_back],
            [m.status for m in given_back],
            [m.at for m in given_back],
        )
    latest = _latest_posts([m for m in sent if m.remember and m.pair and m.external_id])
    if latest:
        pairs = list(latest)
        add(_remember_pg, [a for a, _ in pairs], [c for _, c in pairs], [latest[p] for p in pairs], now)
    return parts


async def _record_pg(
    raw: Any, sent: list[Mark], tried: list[Mark], given_back: list[Mark], now: datetime
) -> None:
    for sql, args in _record_pg_parts(sent, tried, given_back, now):
        await raw.execute(sql, *args)


async def record_with_audit(
    rows: Rows, marks: Sequence[Mark], audit: Sequence[dict[str, Any]], now: datetime
) -> None:
    """:func:`record` and the outcomes' audit rows (``Rows.append_audit``), in the caller's transaction.

    On PostgreSQL they are one statement, each part a data-modifying WITH query, where no delivery has two
    kinds of outcome in ``marks``: the parts do not see each other's rows, and one statement may change a
    row only once. Otherwise, and on SQLite (no round trips to save), they are written in turn."""
    conn = rows.core
    if conn.dialect.name == "postgresql":
        kinds = _kinds(marks)
        ids = [{m.id for m in kind} for kind in kinds]
        if sum(map(len, ids)) == len(set().union(*ids)):  # a delivery in two kinds: their order matters
            await _record_pg_with_audit(await driver_of(conn), *kinds, audit, now)
            return
    await record(conn, marks, now)
    await rows.append_audit(audit)


async def _record_pg_with_audit(
    raw: Any,
    sent: list[Mark],
    tried: list[Mark],
    given_back: list[Mark],
    audit: Sequence[dict[str, Any]],
    now: datetime,
) -> None:
    parts = _record_pg_parts(sent, tried, given_back, now, joined=True)
    if audit:
        first = 1 + sum(len(args) for _, args in parts)
        parts.append(insert_statement("audit_events", AUDIT_COLUMNS, audit, "", first))
    if parts:
        *joined, (last, _) = parts
        await raw.execute(with_queries([q for q, _ in joined], last), *(a for _, args in parts for a in args))


def _latest_posts(marks: Sequence[Mark]) -> dict[tuple[int, str], str | None]:
    """Each (alert, channel)'s receipt id among ``marks``: the latest wins."""
    latest: dict[tuple[int, str], str | None] = {}
    for m in sorted(marks, key=lambda m: m.id):
        if m.pair is not None:
            latest[m.pair] = m.external_id
    return latest


async def _remember_posts(conn: AsyncConnection, marks: Sequence[Mark], now: datetime) -> None:
    """Keep each receipt's id as its alert's card in its channel (the latest wins), to update in place."""
    rows = [
        {"alert_id": alert_id, "channel": channel, "external_id": external_id, "posted_at": now}
        for (alert_id, channel), external_id in _latest_posts(marks).items()
    ]
    await conn.execute(_remember_statement(conn.dialect.name), rows)


async def claim_successors(
    conn: AsyncConnection,
    worker: str,
    now: datetime,
    lease: timedelta,
    pairs: Sequence[tuple[int, str]],
) -> list[Claimed]:
    """In the transaction that finished deliveries of these (alert, channel) pairs: claim the next due
    delivery of each, so an update follows its card's post without waiting for a poll. Older pending
    updates of these pairs that a newer message overtook are superseded first, as :func:`supersede_updates`
    does for everything on the housekeeping timer."""
    if not pairs:
        return []
    wanted = set(pairs)
    alerts = sorted({a for a, _ in wanted})
    if (plain := _plain(conn)) is not None:
        found: list[Any] = []
        for start in range(0, len(alerts), MAX_VALUES):
            chunk = alerts[start : start + MAX_VALUES]
            found += (await plain(_WAITING_PLAIN.format(alerts=placeholders(1, len(chunk))), chunk))[0]
    elif conn.dialect.name == "postgresql":  # one text for any number of alerts, no expanding IN
        found = list(await (await driver_of(conn)).fetch(_WAITING_PG, alerts))
    else:
        found = list((await conn.execute(_WAITING, {"b_alerts": alerts})).all())
    pairs = list({(a, c) for a, c in found if (a, c) in wanted})
    if not pairs:  # the common case: nothing more queued for these alerts and channels
        return []
    pair = tuple_(deliveries.c.alert_id, deliveries.c.channel)
    await supersede_updates(conn, pair.in_(pairs))
    return await _take_claimed(conn, _due(now, conn.dialect.name).where(pair.in_(pairs)), worker, now, lease)


async def renew(conn: AsyncConnection, worker: str, now: datetime, lease: timedelta) -> None:
    """A live process's claims last another lease: only a dead process's claims ever expire."""
    await conn.execute(
        update(deliveries)
        .where(deliveries.c.status == "sending", deliveries.c.claimed_by == worker)
        .values(claim_expires_at=now + lease)
    )


async def housekeeping(conn: AsyncConnection, now: datetime) -> None:
    """Off the hot path: expired claims back to pending, overtaken updates superseded."""
    await release_expired(conn, now)
    await supersede_updates(conn)


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
