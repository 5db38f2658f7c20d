"""The append-only audit log: every event, alert change, delivery attempt and click.

Rows are only ever inserted (database triggers refuse UPDATE and DELETE). :func:`export` streams them.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import String, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from stockbot.storage.db import READ_ONLY
from stockbot.storage.tables import audit_events

# What no database text column can hold (NUL on PostgreSQL) or encode (unpaired UTF-16 surrogates).
_UNSTORABLE = re.compile(r"[\x00\ud800-\udfff]")


def _storable(value: str, limit: int | None) -> str:
    """``value`` as the column can keep it, on every database: unstorable characters replaced, clipped."""
    value = _UNSTORABLE.sub("\ufffd", value)
    return value if limit is None or len(value) <= limit else value[: limit - 1] + "…"


# The columns' lengths: what a refused request's claimed source or path is clipped to.
ACTOR_LENGTH = cast(String, audit_events.c.actor.type).length or 200
SUBJECT_LENGTH = cast(String, audit_events.c.subject.type).length or 200


def audit_row(
    at: datetime,
    kind: str,
    actor: str,
    *,
    alert_id: int | None = None,
    subject: str | None = None,
    **detail: Any,
) -> dict[str, Any]:
    """One row; ``actor`` and ``subject`` may come from a refused request, so they are made storable
    (``detail`` is JSON, where such characters travel escaped)."""
    return {
        "at": at,
        "kind": kind,
        "actor": _storable(actor, ACTOR_LENGTH),
        "alert_id": alert_id,
        "subject": None if subject is None else _storable(subject, SUBJECT_LENGTH),
        "detail": detail,
    }


async def append(conn: AsyncConnection, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        await conn.execute(insert(audit_events), list(rows))


async def record(engine: AsyncEngine, row: dict[str, Any]) -> None:
    """Write one row in a transaction of its own (for events outside any other transaction: a 401)."""
    async with engine.begin() as conn:
        await append(conn, [row])


async def history(conn: AsyncConnection, alert_id: int) -> list[dict[str, Any]]:
    """Every audit row about one alert, oldest first (the alert_id index answers it)."""
    query = select(audit_events).where(audit_events.c.alert_id == alert_id).order_by(audit_events.c.id)
    return [dict(row) for row in (await conn.execute(query)).mappings().all()]


COLUMNS = ["id", "at", "kind", "actor", "alert_id", "subject", "detail"]


async def export(
    engine: AsyncEngine, since: datetime | None, until: datetime | None, fmt: str, batch: int = 1000
) -> AsyncIterator[str]:
    """Yield the log as CSV or JSON Lines, in id order, a page at a time (never all in memory)."""
    if fmt == "csv":
        yield _csv_line(COLUMNS)
    last_id = 0
    while True:
        query = select(audit_events).where(audit_events.c.id > last_id).order_by(audit_events.c.id)
        if since:
            query = query.where(audit_events.c.at >= since)
        if until:
            query = query.where(audit_events.c.at < until)
        async with engine.connect() as conn:
            conn = await conn.execution_options(**READ_ONLY)
            rows = (await conn.execute(query.limit(batch))).mappings().all()
        if not rows:
            return
        for row in rows:
            values = {**row, "at": row["at"].isoformat()}
            if fmt == "csv":
                yield _csv_line([*(values[c] for c in COLUMNS[:-1]), json.dumps(values["detail"])])
            else:
                yield json.dumps(values, default=str) + "\n"
        last_id = rows[-1]["id"]


def _csv_line(values: Sequence[Any]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer).writerow(["" if v is None else v for v in values])
    return buffer.getvalue()
