"""Rows behind browser access: single-use dashboard links, sessions, and the key that signs links.

Only hashes of link nonces and session ids are stored, so reading the database gives no working link or
cookie. Using a link is one conditional UPDATE: of two requests racing with the same link, one wins.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from stockbot.storage.db import READ_ONLY
from stockbot.storage.tables import web_keys, web_links, web_sessions

LINK_KEY = "dashboard_links"
KEEP_LAPSED_LINKS = timedelta(days=1)


async def signing_key(engine: AsyncEngine, now: datetime) -> str:
    """This database's link-signing key, made on first use; every replica on the database reads the same."""
    dialect = postgresql if engine.dialect.name == "postgresql" else sqlite
    async with engine.begin() as conn:
        found = (await conn.execute(select(web_keys.c.value).where(web_keys.c.name == LINK_KEY))).scalar()
        if found is not None:
            return str(found)
        stmt = dialect.insert(web_keys).values(name=LINK_KEY, value=secrets.token_hex(32), created_at=now)
        await conn.execute(stmt.on_conflict_do_nothing(index_elements=["name"]))
        return str((await conn.execute(select(web_keys.c.value).where(web_keys.c.name == LINK_KEY))).scalar())


async def store_link(
    engine: AsyncEngine, nonce_hash: str, identity: dict[str, Any], now: datetime, expires_at: datetime
) -> None:
    async with engine.begin() as conn:
        # Links nobody used are forgotten a day after they lapse; a used one was only ever good once.
        await conn.execute(delete(web_links).where(web_links.c.expires_at < now - KEEP_LAPSED_LINKS))
        await conn.execute(
            insert(web_links).values(
                nonce_hash=nonce_hash, identity=identity, created_at=now, expires_at=expires_at
            )
        )


@dataclass(frozen=True)
class LinkUse:
    identity: dict[str, Any] | None  # None: refused, see ``why``
    why: str = ""


async def use_link(engine: AsyncEngine, nonce_hash: str, now: datetime) -> LinkUse:
    """Mark the link used and return who it was made for; or say why not (unknown, used, expired)."""
    async with engine.begin() as conn:
        row = (await conn.execute(select(web_links).where(web_links.c.nonce_hash == nonce_hash))).first()
        if row is None:
            return LinkUse(None, "unknown link")
        if row.used_at is not None:
            return LinkUse(None, "this link was already used")
        if row.expires_at <= now:
            return LinkUse(None, "this link has expired")
        taken = await conn.execute(
            update(web_links)
            .where(web_links.c.nonce_hash == nonce_hash, web_links.c.used_at.is_(None))
            .values(used_at=now)
        )
        if taken.rowcount != 1:  # another request used it between our read and our write
            return LinkUse(None, "this link was already used")
        return LinkUse(dict(row.identity))


async def create_session(
    engine: AsyncEngine,
    id_hash: str,
    identity: dict[str, Any],
    csrf: str,
    now: datetime,
    expires_at: datetime,
) -> None:
    async with engine.begin() as conn:
        await conn.execute(delete(web_sessions).where(web_sessions.c.expires_at <= now))
        await conn.execute(
            insert(web_sessions).values(
                id_hash=id_hash, identity=identity, csrf=csrf, created_at=now, expires_at=expires_at
            )
        )


@dataclass(frozen=True)
class SessionRow:
    identity: dict[str, Any]
    csrf: str
    expires_at: datetime


async def load_session(engine: AsyncEngine, id_hash: str, now: datetime) -> SessionRow | None:
    query = select(web_sessions).where(web_sessions.c.id_hash == id_hash, web_sessions.c.expires_at > now)
    async with engine.connect() as conn:
        conn = await conn.execution_options(**READ_ONLY)
        row = (await conn.execute(query)).first()
    return SessionRow(dict(row.identity), row.csrf, row.expires_at) if row else None


async def end_session(engine: AsyncEngine, id_hash: str) -> None:
    async with engine.begin() as conn:
        await conn.execute(delete(web_sessions).where(web_sessions.c.id_hash == id_hash))
