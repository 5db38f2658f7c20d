"""Slack workspaces that installed stockbot ("Add to Slack"), as Bolt's installation and OAuth state stores.

:class:`SlackInstallations` implements slack_sdk's ``AsyncInstallationStore`` (what Bolt's OAuth flow saves
into and its authorization reads from) on stockbot's own database, one row per workspace. The tokens (bot
token, refresh tokens, a webhook URL) are kept only as Fernet ciphertext made with ``STOCKBOT_SECRET_KEY``
(:func:`storage.secrets.fernet`, as for adapter secrets): a dump or a backup of the database alone reveals no
token. Installing and uninstalling each write an audit row in the same transaction as the change.

:class:`SlackOAuthStates` implements ``AsyncOAuthStateStore``: the ``state`` values of installations under
way, each consumed once, also in the database, so that with several replicas the one that gets Slack's
redirect can finish an installation another one started (Bolt's default keeps them in local files).

Only workspace installations are kept: an Enterprise Grid org-wide installation has no team id to key it by
(the app manifest leaves ``org_deploy_enabled`` off).
"""

from __future__ import annotations

import json
import logging
import secrets as random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from slack_sdk.oauth.installation_store import Bot, Installation
from slack_sdk.oauth.installation_store.async_installation_store import AsyncInstallationStore
from slack_sdk.oauth.state_store.async_state_store import AsyncOAuthStateStore
from sqlalchemy import delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from stockbot.storage.audit import append, audit_row
from stockbot.storage.db import READ_ONLY
from stockbot.storage.secrets import fernet
from stockbot.storage.tables import slack_home_views, slack_installations, slack_oauth_states

log = logging.getLogger("stockbot.storage")

Now = Callable[[], datetime]
# Fields of an installation that grant access: these go into the encrypted column, nothing else does.
SECRET_FIELDS = ("bot_token", "bot_refresh_token", "user_token", "user_refresh_token", "incoming_webhook_url")


def _utc_now() -> datetime:
    return datetime.now(UTC)


class SlackInstallations(AsyncInstallationStore):
    def __init__(self, engine: AsyncEngine, keys: str, now: Now = _utc_now) -> None:
        self.engine = engine
        self._fernet = fernet(keys)
        self._newest = Fernet(keys.split(",")[0].strip())  # the key that encrypts (NEW of NEW,OLD)
        self._now = now

    @property
    def logger(self) -> logging.Logger:
        return log

    # --- Bolt's interface -------------------------------------------------------------------------------
    async def async_save(self, installation: Installation) -> None:
        team = installation.team_id
        if not team:
            raise ValueError("an org-wide (Enterprise Grid) installation has no team id; install per team")
        values = {
            "enterprise_id": installation.enterprise_id,
            "team_name": installation.team_name,
            "app_id": installation.app_id,
            "bot_id": installation.bot_id,
            "bot_user_id": installation.bot_user_id,
            "bot_scopes": ",".join(installation.bot_scopes or []),
            "installer_user_id": installation.user_id,
            "secrets": self._encrypt({f: getattr(installation, f) for f in SECRET_FIELDS}),
            "bot_token_expires_at": _expiry(installation.bot_token_expires_at),
            "installed_at": datetime.fromtimestamp(installation.installed_at, UTC),
        }
        dialect = postgresql if self.engine.dialect.name == "postgresql" else sqlite
        stmt = dialect.insert(slack_installations).values(team_id=team, **values)
        stmt = stmt.on_conflict_do_update(index_elements=["team_id"], set_=values)
        async with self.engine.begin() as conn:
            await conn.execute(stmt)
            detail = {"team_name": installation.team_name, "scopes": values["bot_scopes"]}
            await self._audit(conn, "slack.installed", f"slack:{installation.user_id or '?'}", team, **detail)
        log.info("slack: installed in workspace %s (%s)", team, installation.team_name)

    async def async_save_bot(self, bot: Bot) -> None:
        """A rotated bot token (only with token rotation on): replace the stored one."""
        async with self.engine.begin() as conn:
            found = await self._secrets(conn, bot.team_id)
            if found is None:
                return
            found.update(bot_token=bot.bot_token, bot_refresh_token=bot.bot_refresh_token)
            await conn.execute(
                update(slack_installations)
                .where(slack_installations.c.team_id == bot.team_id)
                .values(secrets=self._encrypt(found), bot_token_expires_at=_expiry(bot.bot_token_expires_at))
            )

    async def async_find_bot(
        self, *, enterprise_id: str | None, team_id: str | None, is_enterprise_install: bool | None = False
    ) -> Bot | None:
        installation = await self.async_find_installation(enterprise_id=enterprise_id, team_id=team_id)
        if installation is None or not installation.bot_token:
            return None
        return installation.to_bot()

    async def async_find_installation(
        self,
        *,
        enterprise_id: str | None,
        team_id: str | None,
        user_id: str | None = None,
        is_enterprise_install: bool | None = False,
    ) -> Installation | None:
        if not team_id:
            return None
        async with self.engine.connect() as conn:
            conn = await conn.execution_options(**READ_ONLY)
            query = select(slack_installations).where(slack_installations.c.team_id == team_id)
            row = (await conn.execute(query)).mappings().first()
        if row is None or (user_id is not None and user_id != row["installer_user_id"]):
            return None  # only the installer's own installation is kept, and no other user's tokens
        stored = self._decrypt(row["secrets"], team_id)
        if stored is None:
            return None
        if not self._is_newest(row["secrets"]):
            await self._store_secrets(team_id, stored)  # the key is being replaced: move to the new one
        expires = row["bot_token_expires_at"]
        return Installation(
            app_id=row["app_id"],
            enterprise_id=row["enterprise_id"],
            team_id=row["team_id"],
            team_name=row["team_name"],
            bot_id=row["bot_id"],
            bot_user_id=row["bot_user_id"],
            bot_scopes=row["bot_scopes"] or "",
            bot_token_expires_at=int(expires.timestamp()) if expires else None,
            user_id=row["installer_user_id"] or "",
            installed_at=row["installed_at"].timestamp(),
            **{f: stored.get(f) for f in SECRET_FIELDS},  # type: ignore[arg-type]  # tokens: str | None
        )

    async def async_delete_bot(self, *, enterprise_id: str | None, team_id: str | None) -> None:
        await self.remove(team_id, reason="bot token deleted", actor="slack")

    async def async_delete_installation(
        self, *, enterprise_id: str | None, team_id: str | None, user_id: str | None = None
    ) -> None:
        if user_id is None:
            await self.remove(team_id, reason="installation deleted", actor="slack")
        # A user's own token: stockbot asks for no user scopes, so there is none to delete.

    async def async_delete_all(self, *, enterprise_id: str | None, team_id: str | None) -> None:
        await self.remove(team_id, reason="installation deleted", actor="slack")

    # --- stockbot's own uses ----------------------------------------------------------------------------
    async def bot_token(self, team_id: str) -> str | None:
        """The workspace's bot token, or None when it has not installed stockbot (or uninstalled it)."""
        bot = await self.async_find_bot(enterprise_id=None, team_id=team_id)
        return bot.bot_token if bot else None

    async def remove(self, team_id: str | None, *, reason: str, actor: str) -> bool:
        """Forget a workspace's tokens and App Home viewers, with an audit row; False if none were kept."""
        if not team_id:
            return False
        return await forget_workspace(self.engine, team_id, reason=reason, actor=actor, at=self._now())

    # --- plumbing ---------------------------------------------------------------------------------------
    async def _audit(self, conn: AsyncConnection, kind: str, actor: str, team: str, **detail: Any) -> None:
        await _audit(conn, self._now(), kind, actor, team, **detail)

    async def _secrets(self, conn: AsyncConnection, team_id: str | None) -> dict[str, Any] | None:
        query = select(slack_installations.c.secrets).where(slack_installations.c.team_id == team_id)
        ciphertext = (await conn.execute(query)).scalar_one_or_none()
        return None if ciphertext is None else self._decrypt(ciphertext, team_id or "?")

    def _is_newest(self, ciphertext: str) -> bool:
        try:
            self._newest.decrypt(ciphertext.encode("ascii"))
        except InvalidToken:
            return False
        return True

    async def _store_secrets(self, team_id: str, values: dict[str, Any]) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(
                update(slack_installations)
                .where(slack_installations.c.team_id == team_id)
                .values(secrets=self._encrypt(values))
            )

    def _encrypt(self, values: dict[str, Any]) -> str:
        kept = {k: v for k, v in values.items() if v is not None}
        return self._fernet.encrypt(json.dumps(kept).encode("utf-8")).decode("ascii")

    def _decrypt(self, ciphertext: str, team_id: str) -> dict[str, Any] | None:
        try:
            return dict(json.loads(self._fernet.decrypt(ciphertext.encode("ascii"))))
        except InvalidToken:
            log.warning(
                "slack: the tokens stored for workspace %s cannot be decrypted with STOCKBOT_SECRET_KEY; "
                "reinstall the app there (open /slack/install)",
                team_id,
            )
            return None


async def forget_workspace(
    engine: AsyncEngine, team_id: str, *, reason: str, actor: str, at: datetime
) -> bool:
    """A workspace removed stockbot (or revoked its token): delete its tokens and its App Home viewers, and
    audit it, in one transaction. Needs no key, so it also serves a single configured ``bot_token``.
    Returns whether tokens were kept for it."""
    async with engine.begin() as conn:
        gone = await conn.execute(delete(slack_installations).where(slack_installations.c.team_id == team_id))
        await conn.execute(delete(slack_home_views).where(slack_home_views.c.team_id == team_id))
        removed = gone.rowcount > 0
        await _audit(conn, at, "slack.uninstalled", actor, team_id, reason=reason, had_tokens=removed)
    log.info("slack: workspace %s: %s; its stored tokens are deleted", team_id, reason)
    return removed


async def _audit(
    conn: AsyncConnection, at: datetime, kind: str, actor: str, team: str, **detail: Any
) -> None:
    await append(conn, [audit_row(at, kind, actor, subject=f"slack:{team}", **detail)])


def _expiry(timestamp: int | None) -> datetime | None:
    return datetime.fromtimestamp(timestamp, UTC) if timestamp else None


class SlackOAuthStates(AsyncOAuthStateStore):
    def __init__(self, engine: AsyncEngine, expiration: timedelta, now: Now = _utc_now) -> None:
        self.engine = engine
        self.expiration = expiration
        self._now = now

    @property
    def logger(self) -> logging.Logger:
        return log

    async def async_issue(self, *args: Any, **kwargs: Any) -> str:
        state, now = random.token_urlsafe(32), self._now()
        async with self.engine.begin() as conn:
            # Abandoned installations leave their state behind; each new one sweeps the expired.
            await conn.execute(delete(slack_oauth_states).where(slack_oauth_states.c.expires_at <= now))
            await conn.execute(
                slack_oauth_states.insert().values(state=state, expires_at=now + self.expiration)
            )
        return state

    async def async_consume(self, state: str) -> bool:
        """True once for a state issued here and not expired; the row goes either way."""
        # One DELETE … RETURNING: two replicas handed the same state cannot both see it.
        gone = (
            delete(slack_oauth_states)
            .where(slack_oauth_states.c.state == state)
            .returning(slack_oauth_states.c.expires_at)
        )
        async with self.engine.begin() as conn:
            expires = (await conn.execute(gone)).scalar_one_or_none()
        return expires is not None and expires > self._now()
