"""Test helpers: a config for tests, signed requests, and the real app served on 127.0.0.1."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
from aiohttp.test_utils import TestServer

from stockbot.adapters.signing import HEADER, sign
from stockbot.bot.clock import FakeClock
from stockbot.bot.config import Config, parse_config
from stockbot.bot.runtime import Runtime
from stockbot.handlers.app import build_app
from stockbot.storage.catalog import DEMO_CATALOG, import_rows, parse_csv

PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/test"
ERP_SECRET = "erp-secret-0123456789abcdef"
POS_SECRET = "pos-secret-0123456789abcdef"
T0 = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)


def test_config(db_url: str, **overrides: Any) -> Config:
    raw: dict[str, Any] = {
        "storage": {"url": db_url},
        "sources": {"erp": {"secret": ERP_SECRET}, "pos": {"secret": POS_SECRET}},
        "channels": {"ops": {"adapter": "console", "address": "ops"}},
        "delivery": {"initial_backoff": "1s", "max_backoff": "1m", "max_age": "1h"},
    }
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(raw.get(key), dict):
            raw[key] = {**raw[key], **value}
        else:
            raw[key] = value
    return parse_config(raw, env={})


def signed_headers(body: bytes, secret: str = ERP_SECRET, at: datetime | None = None) -> dict[str, str]:
    timestamp = int((at or datetime.now(UTC)).timestamp())
    return {"Content-Type": "application/json", HEADER: sign(secret, body, timestamp)}


def event(
    sku: str,
    on_hand: int | None = None,
    *,
    location: str = "Chicago DC",
    source: str = "erp",
    event_id: str | None = None,
    at: datetime | None = None,
    **extra: Any,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "event_id": event_id or f"{source}-{sku}-{on_hand}-{(at or T0).isoformat()}",
        "source": source,
        "sku": sku,
        "location": location,
        "occurred_at": (at or T0).isoformat().replace("+00:00", "Z"),
        **extra,
    }
    if on_hand is not None:
        body["on_hand"] = on_hand
    return body


class StockbotHarness:
    """The real app (runtime, HTTP routes, dispatcher) on a random 127.0.0.1 port, with a test clock.

    The dispatcher and scheduler loops are not started: tests drive them (``deliver()``, ``desk.*``) so a
    timeline is exact. Everything else is the production path.
    """

    def __init__(self, db_url: str, overrides: dict[str, Any]) -> None:
        self.config = test_config(db_url, **overrides)
        self.clock = FakeClock(T0)
        self.runtime: Runtime | None = None
        self.server: TestServer | None = None
        self.http: aiohttp.ClientSession | None = None

    async def start(self, *, catalog: bool = True, services: dict[str, Any] | None = None) -> None:
        self.runtime = await Runtime.create(self.config, clock=self.clock, services=services)
        if catalog:
            async with self.runtime.engine.begin() as conn:
                await import_rows(conn, parse_csv(DEMO_CATALOG.read_text()), seed_levels=True)
        app = build_app(self.runtime, start=False)
        self.runtime.writer.start()
        self.server = TestServer(app, host="127.0.0.1")
        await self.server.start_server()
        self.http = aiohttp.ClientSession()

    async def close(self) -> None:
        if self.http:
            await self.http.close()
        if self.server:
            await self.server.close()  # runs the app's cleanup: stops the runtime

    async def import_catalog(self, text: str) -> None:
        """Add CSV rows (header included) to the catalog, as `stockbot catalog import` would."""
        assert self.runtime is not None
        async with self.runtime.engine.begin() as conn:
            await import_rows(conn, parse_csv(text))

    @property
    def url(self) -> str:
        assert self.server is not None
        return str(self.server.make_url("")).rstrip("/")

    @property
    def desk(self):
        assert self.runtime is not None
        return self.runtime.desk

    async def post(
        self,
        path: str,
        payload: Any,
        *,
        secret: str = ERP_SECRET,
        headers: dict[str, str] | None = None,
        raw: bytes | None = None,
    ) -> tuple[int, Any]:
        body = raw if raw is not None else json.dumps(payload).encode()
        sent = signed_headers(body, secret, self.clock.now()) if headers is None else headers
        assert self.http is not None
        async with self.http.post(self.url + path, data=body, headers=sent) as response:
            text = await response.text()
            content_type = response.headers.get("Content-Type", "")
            parsed = json.loads(text) if "json" in content_type and text else text
            return response.status, parsed

    async def send(self, *events: dict[str, Any], **kwargs: Any) -> Any:
        payload = events[0] if len(events) == 1 else {"events": list(events)}
        status, body = await self.post("/events/inventory", payload, **kwargs)
        assert status == 202, body
        return body

    async def deliver(self, budget_wait: timedelta = timedelta(seconds=5)) -> int:
        """Deliver what is due. Deliveries that only wait for a platform's rate budget (a second message
        to one Slack channel within a second) are let through by moving the test clock, at most
        ``budget_wait`` in all; held digests and retries keep waiting for their own time."""
        assert self.runtime is not None
        total = await self.runtime.dispatcher.drain()
        waited = timedelta(0)
        while waited < budget_wait and await self._waiting_for_budget(
            self.clock.now() + budget_wait - waited
        ):
            step = timedelta(seconds=1)
            self.clock.advance(step)
            waited += step
            total += await self.runtime.dispatcher.drain()
        return total

    async def _waiting_for_budget(self, horizon: datetime) -> bool:
        from sqlalchemy import func, select

        from stockbot.storage.tables import deliveries

        assert self.runtime is not None
        query = (
            select(func.count())
            .select_from(deliveries)
            .where(
                deliveries.c.status == "pending",
                deliveries.c.attempts == 0,
                deliveries.c.next_attempt_at <= horizon,
            )
        )
        async with self.runtime.engine.connect() as conn:
            return (await conn.execute(query)).scalar_one() > 0

    def later(self, **delta: float) -> datetime:
        return self.clock.advance(timedelta(**delta))
