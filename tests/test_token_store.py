"""QuickBooks' rotated refresh token outlives the process: stored encrypted with STOCKBOT_SECRET_KEY through
the token_store service the runtime builds, read back after a restart, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select

from stockbot.adapters.base import Target
from stockbot.adapters.quickbooks import QuickBooksAdapter, QuickBooksSettings
from stockbot.bot.config import ConfigError
from stockbot.bot.runtime import SECRET_KEY_VAR, Runtime
from stockbot.storage.db import create_engine, upgrade
from stockbot.storage.secrets import SecretStore
from stockbot.storage.tables import adapter_secrets
from tests import helpers
from tests.adapters.cases.quickbooks import ITEM_ID, REFRESH_TOKEN, Intuit, configure, settings
from tests.fakes.messages import sample_message
from tests.fakes.vendor import FakeVendor
from tests.helpers import StockbotHarness, event

KEY = Fernet.generate_key().decode()


@pytest.fixture
async def intuit() -> AsyncIterator[tuple[Intuit, FakeVendor]]:
    books = Intuit(expires_in=30)  # shorter than the renewal margin: every send refreshes, and rotates
    fake = FakeVendor("quickbooks")
    configure(fake, books)
    await fake.start()
    yield books, fake
    await fake.close()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def _stored(db_url: str) -> list[str]:
    engine = create_engine(db_url)
    try:
        async with engine.connect() as conn:
            return list((await conn.execute(select(adapter_secrets.c.ciphertext))).scalars())
    finally:
        await engine.dispose()


def _books(fake: FakeVendor) -> dict[str, Any]:
    return {
        "adapters": {"quickbooks": settings(fake.url)},
        "channels": {"books": {"adapter": "quickbooks", "address": ITEM_ID}},
        "routes": [{"channels": ["books"]}],
    }


async def test_a_rotated_refresh_token_survives_a_restart(
    db_url: str, intuit: tuple[Intuit, FakeVendor], monkeypatch: pytest.MonkeyPatch
) -> None:
    books, fake = intuit
    monkeypatch.setenv(SECRET_KEY_VAR, KEY)
    first = StockbotHarness(db_url, _books(fake))
    await first.start()
    try:
        await first.send(event("CAB-MK-LEGACY", 0, at=first.later(seconds=1)))
        assert await first.deliver() == 1
    finally:
        await first.close()
    rotated = books.refresh_token
    assert rotated != REFRESH_TOKEN  # Intuit retired the configured one

    (ciphertext,) = await _stored(db_url)
    assert rotated not in ciphertext and "refresh_token" not in ciphertext

    second = StockbotHarness(db_url, _books(fake))  # a restart: same config, same database
    await second.start(catalog=False)
    try:
        await second.send(event("CAB-MK-LEGACY", 9, at=second.later(seconds=5)))
        assert await second.deliver() == 1
    finally:
        await second.close()
    assert fake.errors == []
    first_refresh, second_refresh = (call.body["refresh_token"] for call in fake.calls("token"))
    assert first_refresh == REFRESH_TOKEN
    assert second_refresh == rotated  # not the retired one from the config
    assert len(fake.calls("attachable")) == 2


async def test_adapters_on_one_database_follow_each_others_rotations(
    db_url: str, intuit: tuple[Intuit, FakeVendor], http: aiohttp.ClientSession
) -> None:
    """Two replicas: each reads the stored token before refreshing, so neither uses a retired one."""
    _, fake = intuit
    engine = create_engine(db_url)
    await upgrade(engine)
    try:
        config = QuickBooksSettings.model_validate(settings(fake.url))
        one, two = (QuickBooksAdapter(config, http, SecretStore(engine, KEY)) for _ in range(2))
        for adapter in (one, two, one, two):
            await adapter.send(sample_message(), Target("books", ITEM_ID, "k"))
    finally:
        await engine.dispose()
    assert fake.errors == []
    used = [call.body["refresh_token"] for call in fake.calls("token")]
    assert len(used) == 4 and len(set(used)) == 4  # each refresh used the newest token, none twice


async def test_a_new_configured_refresh_token_wins_over_the_stored_one(
    db_url: str, intuit: tuple[Intuit, FakeVendor], http: aiohttp.ClientSession
) -> None:
    """After reconnecting the app the operator configures a new refresh token: the stored one, descended
    from the old configuration, must not shadow it."""
    books, fake = intuit
    engine = create_engine(db_url)
    await upgrade(engine)
    try:
        store = SecretStore(engine, KEY)
        old = QuickBooksAdapter(QuickBooksSettings.model_validate(settings(fake.url)), http, store)
        await old.send(sample_message(), Target("books", ITEM_ID, "k1"))
        books.refresh_token = "AB11800000000qbo-reconnected"  # the app was reconnected: a new chain
        reconnected = QuickBooksSettings.model_validate(
            {**settings(fake.url), "refresh_token": books.refresh_token}
        )
        await QuickBooksAdapter(reconnected, http, store).send(
            sample_message(), Target("books", ITEM_ID, "k2")
        )
    finally:
        await engine.dispose()
    assert fake.errors == []
    assert fake.calls("token")[-1].body["refresh_token"] == "AB11800000000qbo-reconnected"


async def test_the_store_encrypts_and_a_replaced_key_reads_nothing(db_url: str) -> None:
    engine = create_engine(db_url)
    await upgrade(engine)
    try:
        await SecretStore(engine, KEY).put("quickbooks:1:refresh_token", "plain-refresh-token")
        await SecretStore(engine, KEY).put("quickbooks:1:refresh_token", "newer-refresh-token")
        assert await SecretStore(engine, KEY).get("quickbooks:1:refresh_token") == "newer-refresh-token"
        assert await SecretStore(engine, KEY).get("quickbooks:2:refresh_token") is None
        other = Fernet.generate_key().decode()
        assert await SecretStore(engine, other).get("quickbooks:1:refresh_token") is None
        assert (
            await SecretStore(engine, f"{other},{KEY}").get("quickbooks:1:refresh_token")
            == "newer-refresh-token"
        )
    finally:
        await engine.dispose()
    (ciphertext,) = await _stored(db_url)
    assert "refresh-token" not in ciphertext


@pytest.mark.parametrize(
    ("key", "message"),
    [(None, f"{SECRET_KEY_VAR} is not set: adapters.quickbooks"), ("not-a-key", "is not a Fernet key")],
)
async def test_quickbooks_without_a_usable_key_stops_start_up(
    sqlite_url: str, key: str | None, message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if key is None:
        monkeypatch.delenv(SECRET_KEY_VAR, raising=False)
    else:
        monkeypatch.setenv(SECRET_KEY_VAR, key)
    config = helpers.test_config(sqlite_url, **_books_at("http://127.0.0.1:9"))
    with pytest.raises(ConfigError, match=message) as raised:
        await Runtime.create(config, migrate=False)
    assert "Fernet.generate_key()" in str(raised.value)


def _books_at(url: str) -> dict[str, Any]:
    return {
        "adapters": {"quickbooks": settings(url)},
        "channels": {"books": {"adapter": "quickbooks", "address": ITEM_ID}},
    }
