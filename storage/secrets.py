"""Secrets an adapter keeps across restarts (QuickBooks' rotated refresh token), encrypted at rest.

Fernet (AES-128-CBC with an HMAC-SHA256, from the ``cryptography`` package) with keys that come from the
environment (``STOCKBOT_SECRET_KEY``, read by ``bot/runtime.py``), never from the database: a dump or a backup
of the database alone reveals nothing. Several keys, comma-separated, rotate the key: the first encrypts,
any of them decrypts. A value no key decrypts (the key was replaced) is treated as absent and logged; the
adapter then starts again from its configured credentials.

:class:`SecretStore` is the ``token_store`` service adapters receive (``adapters.oauth.TokenStore``).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from stockbot.storage.db import READ_ONLY
from stockbot.storage.tables import adapter_secrets

log = logging.getLogger("stockbot.storage")


def fernet(keys: str) -> MultiFernet:
    """The cipher for comma-separated Fernet keys; ValueError if one is not a Fernet key."""
    parts = [part.strip() for part in keys.split(",") if part.strip()]
    if not parts:
        raise ValueError("no key given")
    return MultiFernet([Fernet(part) for part in parts])


class SecretStore:
    def __init__(self, engine: AsyncEngine, keys: str) -> None:
        self.engine = engine
        self._fernet = fernet(keys)

    async def get(self, name: str) -> str | None:
        query = select(adapter_secrets.c.ciphertext).where(adapter_secrets.c.name == name)
        async with self.engine.connect() as conn:
            conn = await conn.execution_options(**READ_ONLY)
            ciphertext = (await conn.execute(query)).scalar_one_or_none()
        if ciphertext is None:
            return None
        try:
            return self._fernet.decrypt(ciphertext.encode("ascii")).decode("utf-8")
        except InvalidToken:
            log.warning("stored secret %s cannot be decrypted with STOCKBOT_SECRET_KEY; ignoring it", name)
            return None

    async def put(self, name: str, value: str) -> None:
        ciphertext = self._fernet.encrypt(value.encode("utf-8")).decode("ascii")
        now = datetime.now(UTC)
        dialect = postgresql if self.engine.dialect.name == "postgresql" else sqlite
        stmt = dialect.insert(adapter_secrets).values(name=name, ciphertext=ciphertext, updated_at=now)
        stmt = stmt.on_conflict_do_update(
            index_elements=["name"], set_={"ciphertext": ciphertext, "updated_at": now}
        )
        async with self.engine.begin() as conn:
            await conn.execute(stmt)
