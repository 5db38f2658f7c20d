"""Stored Teams conversation references: where stockbot was installed, so it can post there later."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from stockbot.storage.db import READ_ONLY
from stockbot.storage.tables import teams_conversations

ConversationLookup = Callable[[str], Awaitable[dict[str, Any] | None]]


def base_conversation_id(conversation_id: str) -> str:
    """Channel thread ids carry ``;messageid=…``: the conversation is what comes before it."""
    return conversation_id.split(";", 1)[0]


async def save_reference(
    engine: AsyncEngine,
    reference: dict[str, Any],
    scope: str,
    name: str | None,
    tenant_id: str | None,
    now: datetime,
) -> str:
    conversation_id = base_conversation_id(reference["conversation"]["id"])
    dialect = postgresql if engine.dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(teams_conversations).values(
        conversation_id=conversation_id,
        reference=reference,
        scope=scope,
        name=name,
        tenant_id=tenant_id,
        installed_at=now,
        updated_at=now,
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=["conversation_id"],
        set_={
            "reference": reference,
            "scope": scope,
            "name": name,
            "tenant_id": tenant_id,
            "updated_at": now,
        },
    )
    async with engine.begin() as conn:
        await conn.execute(stmt)
    return conversation_id


async def forget(engine: AsyncEngine, conversation_id: str) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            delete(teams_conversations).where(
                teams_conversations.c.conversation_id == base_conversation_id(conversation_id)
            )
        )


async def load_reference(engine: AsyncEngine, conversation_id: str) -> dict[str, Any] | None:
    query = select(teams_conversations.c.reference).where(
        teams_conversations.c.conversation_id == base_conversation_id(conversation_id)
    )
    async with engine.connect() as conn:
        conn = await conn.execution_options(**READ_ONLY)
        return (await conn.execute(query)).scalar_one_or_none()


def lookup(engine: AsyncEngine) -> ConversationLookup:
    """The ``conversations`` service the ``teams`` adapter uses to find where to post."""

    async def find(conversation_id: str) -> dict[str, Any] | None:
        return await load_reference(engine, conversation_id)

    return find


async def listing(engine: AsyncEngine) -> list[dict[str, Any]]:
    query = select(
        teams_conversations.c.conversation_id,
        teams_conversations.c.scope,
        teams_conversations.c.name,
        teams_conversations.c.tenant_id,
        teams_conversations.c.installed_at,
        teams_conversations.c.updated_at,
    ).order_by(teams_conversations.c.installed_at)
    async with engine.connect() as conn:
        conn = await conn.execution_options(**READ_ONLY)
        return [dict(r) for r in (await conn.execute(query)).mappings().all()]
