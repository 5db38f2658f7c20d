"""Fixtures every adapter test uses."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """The shared HTTP session an adapter is given, as the dispatcher gives it in production."""
    async with aiohttp.ClientSession() as session:
        yield session
