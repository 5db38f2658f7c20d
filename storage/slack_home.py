"""Who opened stockbot's App Home tab in Slack, and which location each of them filters by.

Their Home is republished when an alert they can see changes (handlers/slack_home.py), so the list must
outlive a restart; the first time a person opens it is audited. Rows of a workspace go when it uninstalls
(storage/slack_installations.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Select, Update, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from stockbot.storage.audit import append, audit_row
from stockbot.storage.db import READ_ONLY
from stockbot.storage.tables import slack_home_views

_Statement = TypeVar("_Statement", Select[Any], Update)


@dataclass(frozen=True)
class HomeViewer:
    team_id: str
    user_id: str
    location: str | None = None


async def home_opened(engine: AsyncEngine, team_id: str, user_id: str, at: datetime) -> HomeViewer:
    """Record that ``user_id`` opened Home now; the first time is audited. Returns their saved filter."""
    dialect = postgresql if engine.dialect.name == "postgresql" else sqlite
    new = (
        dialect.insert(slack_home_views)
        .values(team_id=team_id, user_id=user_id, first_opened_at=at, last_opened_at=at)
        .on_conflict_do_nothing(index_elements=["team_id", "user_id"])
    )
    async with engine.begin() as conn:
        if (await conn.execute(new)).rowcount:
            row = audit_row(at, "slack.home_opened", f"slack:{user_id}", subject=f"slack:{team_id}")
            await append(conn, [row])
            return HomeViewer(team_id, user_id)
        await conn.execute(_viewer(update(slack_home_views), team_id, user_id).values(last_opened_at=at))
        query = select(slack_home_views.c.location)
        location = (await conn.execute(_viewer(query, team_id, user_id))).scalar_one_or_none()
    return HomeViewer(team_id, user_id, location)


async def set_home_location(engine: AsyncEngine, team_id: str, user_id: str, location: str | None) -> None:
    async with engine.begin() as conn:
        await conn.execute(_viewer(update(slack_home_views), team_id, user_id).values(location=location))


async def home_viewer(engine: AsyncEngine, team_id: str, user_id: str) -> HomeViewer | None:
    query = select(slack_home_views.c.location)
    async with engine.connect() as conn:
        conn = await conn.execution_options(**READ_ONLY)
        found = (await conn.execute(_viewer(query, team_id, user_id))).first()
    return None if found is None else HomeViewer(team_id, user_id, found[0])


async def home_viewers(engine: AsyncEngine) -> list[HomeViewer]:
    query = select(slack_home_views.c.team_id, slack_home_views.c.user_id, slack_home_views.c.location)
    async with engine.connect() as conn:
        conn = await conn.execution_options(**READ_ONLY)
        rows = (await conn.execute(query.order_by(*query.selected_columns))).all()
    return [HomeViewer(team, user, location) for team, user, location in rows]


def _viewer(statement: _Statement, team_id: str, user_id: str) -> _Statement:
    return statement.where(slack_home_views.c.team_id == team_id, slack_home_views.c.user_id == user_id)
