"""Who may see the dashboard and call the API: personal links, browser sessions and API tokens.

Nobody reaches the pages anonymously. A person asks in chat (``/stock dashboard`` in Slack, ``dashboard`` in
Teams) and gets a **personal link**, valid ``[web] link_lifetime`` (15 minutes) and good once:

- the link carries a random nonce, its expiry and an HMAC-SHA256 over both (key: ``[web] secret`` or this
  database's own random key), so a forged or altered link is refused before any lookup;
- the database holds only the nonce's SHA-256 and who asked; using the link sets ``used_at`` in one
  conditional UPDATE, so a second use (or a race) is refused;
- it opens a **session**: a random cookie value whose SHA-256 is stored with the person's identity (platform,
  id, name, user groups) and a CSRF token for the session's forms, valid ``[web] session_lifetime``.

Roles are not copied into the session: every request asks ``[roles]`` again with the stored identity, so
removing someone from ``[roles]`` locks them out of an open session at the next restart of stockbot.

**API tokens** are for machines: ``stockbot tokens create NAME --role manager`` prints a random token once and
the ``[[api.tokens]]`` lines holding only its SHA-256 (tokens are 256 random bits, so a fast hash is enough:
there is nothing to guess). A presented token is hashed and compared in constant time with every configured
hash; its actor is ``api:NAME`` with the token's roles.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import asdict, dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from stockbot.bot.clock import Clock
from stockbot.bot.config import ApiTokenConfig, Config
from stockbot.bot.permissions import Actor, PermissionDenied, require, roles_of
from stockbot.storage import web as store
from stockbot.storage.audit import audit_row, record

TOKEN_PREFIX = "sbt_"
LOGIN_PATH = "/login"


class LinkRefused(Exception):
    """Why a dashboard link did not open a session; safe to show and to audit."""


@dataclass(frozen=True)
class Identity:
    """The person a link or session belongs to, as their chat platform knows them."""

    via: str  # slack | teams
    id: str
    name: str = ""
    groups: tuple[str, ...] = ()

    @classmethod
    def of(cls, actor: Actor) -> Identity:
        return cls(via=actor.via, id=actor.id, name=actor.name, groups=actor.groups)

    @classmethod
    def from_json(cls, data: dict[str, object]) -> Identity:
        groups = data.get("groups") or ()
        return cls(
            via=str(data.get("via", "")),
            id=str(data.get("id", "")),
            name=str(data.get("name") or ""),
            groups=tuple(str(g) for g in groups) if isinstance(groups, list | tuple) else (),
        )

    def to_json(self) -> dict[str, object]:
        return {**asdict(self), "groups": list(self.groups)}

    @property
    def actor(self) -> Actor:
        """How the person acts from a page: ``web:<id>`` in the audit log, roles from ``[roles]``."""
        return Actor(id=self.id, via="web", name=self.name or self.id, groups=self.groups)


@dataclass(frozen=True)
class WebSession:
    identity: Identity
    csrf: str
    expires_at: datetime

    @property
    def actor(self) -> Actor:
        return self.identity.actor


def digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _signature(key: str, nonce: str, expires: int) -> str:
    return _b64(hmac.new(key.encode(), f"{nonce}.{expires}".encode(), hashlib.sha256).digest())


def sign_link(key: str, nonce: str, expires_at: datetime) -> str:
    """``<nonce>.<expiry, unix seconds>.<signature>``: what the link's ``token`` parameter holds."""
    expires = int(expires_at.timestamp())
    return f"{nonce}.{expires}.{_signature(key, nonce, expires)}"


def check_link(key: str, token: str, now: datetime) -> str:
    """The nonce of a well-signed, unexpired link token; else :class:`LinkRefused`."""
    parts = token.split(".")
    if len(parts) != 3 or not parts[1].isdigit():
        raise LinkRefused("not a stockbot dashboard link")
    nonce, expires_text, signature = parts
    if not hmac.compare_digest(_signature(key, nonce, int(expires_text)), signature):
        raise LinkRefused("the link's signature does not match (altered, or signed with another key)")
    if int(expires_text) <= now.timestamp():
        raise LinkRefused("this link has expired")
    return nonce


# --- API tokens --------------------------------------------------------------------------------------


def new_api_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def api_token_hash(token: str) -> str:
    return "sha256:" + digest(token)


def api_actor(tokens: list[ApiTokenConfig], presented: str) -> Actor | None:
    """The actor of a presented bearer token, or None. Every configured hash is compared (constant time)."""
    offered = api_token_hash(presented)
    found = None
    for token in tokens:
        if hmac.compare_digest(token.hash, offered):
            found = token
    if found is None:
        return None
    return Actor(id=found.name, via="api", name=found.name, roles=frozenset(found.roles))


# --- links and sessions ------------------------------------------------------------------------------


class WebAccess:
    """Makes dashboard links for people in chat and turns a link into a browser session."""

    def __init__(self, config: Config, engine: AsyncEngine, clock: Clock) -> None:
        self.config = config
        self.engine = engine
        self.clock = clock

    @property
    def base_url(self) -> str:
        server = self.config.server
        return (server.public_url or f"http://{server.host}:{server.port}").rstrip("/")

    @property
    def secure_cookies(self) -> bool:
        return (self.config.server.public_url or "").startswith("https://")

    async def _key(self) -> str:
        secret = self.config.web.secret
        if secret is not None:
            return secret.get_secret_value()
        return await store.signing_key(self.engine, self.clock.now())

    async def link_for(self, actor: Actor) -> str:
        """A personal, single-use dashboard link for ``actor`` (a chat user with a role).

        Refused without a role: the dashboard is never anonymous, and a link is as good as a login.
        """
        await self._require_role(actor)
        now = self.clock.now()
        expires_at = now + self.config.web.link_lifetime
        nonce = secrets.token_urlsafe(24)
        await store.store_link(self.engine, digest(nonce), Identity.of(actor).to_json(), now, expires_at)
        await record(
            self.engine,
            audit_row(now, "web.link_issued", actor.label, expires_at=expires_at.isoformat()),
        )
        token = sign_link(await self._key(), nonce, expires_at)
        return f"{self.base_url}{LOGIN_PATH}?token={token}"

    async def _require_role(self, actor: Actor) -> None:
        try:
            require(self.config.roles, "report", actor)
        except PermissionDenied as denied:
            row = audit_row(
                self.clock.now(), "action.refused", actor.label, action="dashboard", reason=str(denied)
            )
            await record(self.engine, row)
            raise

    async def open_session(self, token: str, remote: str | None) -> tuple[str, WebSession]:
        """Use a link: the new session's cookie value and the session. Refusals are audited and raised."""
        now = self.clock.now()
        try:
            nonce = check_link(await self._key(), token, now)
            used = await store.use_link(self.engine, digest(nonce), now)
            if used.identity is None:
                raise LinkRefused(used.why)
        except LinkRefused as refused:
            row = audit_row(
                now, "request.refused", "web:?", subject=LOGIN_PATH, reason=str(refused), remote=remote
            )
            await record(self.engine, row)
            raise
        identity = Identity.from_json(used.identity)
        cookie, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        expires_at = now + self.config.web.session_lifetime
        await store.create_session(self.engine, digest(cookie), identity.to_json(), csrf, now, expires_at)
        await record(
            self.engine,
            audit_row(
                now,
                "web.session_opened",
                identity.actor.label,
                expires_at=expires_at.isoformat(),
                remote=remote,
            ),
        )
        return cookie, WebSession(identity, csrf, expires_at)

    async def session(self, cookie: str | None) -> WebSession | None:
        """The live session behind a cookie value, if its person still holds a role."""
        if not cookie:
            return None
        row = await store.load_session(self.engine, digest(cookie), self.clock.now())
        if row is None:
            return None
        found = WebSession(Identity.from_json(row.identity), row.csrf, row.expires_at)
        if not roles_of(self.config.roles, found.actor):
            return None
        return found

    async def close_session(self, cookie: str) -> None:
        await store.end_session(self.engine, digest(cookie))
