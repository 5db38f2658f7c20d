"""The dispatcher's lanes: one per destination, each with its own pace, pause and grouping, fed by hand-off;
and what it does with an adapter that breaks its contract."""

from __future__ import annotations

import logging
from typing import Any, ClassVar

import pytest
from sqlalchemy import select

from stockbot.adapters import ADAPTERS
from stockbot.adapters.base import ALL_EVENTS, AdapterSettings, AlertMessage, Receipt, Target
from stockbot.storage.tables import audit_events, deliveries
from tests.conftest import HarnessFactory
from tests.helpers import StockbotHarness, event


class BrokenAdapter:
    """An adapter with a bug: it raises something that is neither retryable nor permanent."""

    name: ClassVar[str] = "broken"
    events: ClassVar[frozenset[str]] = ALL_EVENTS
    Settings: ClassVar[type[AdapterSettings]] = AdapterSettings

    def __init__(self, settings: AdapterSettings, http: Any) -> None:
        pass

    async def send(self, message: AlertMessage, target: Target) -> Receipt:
        return {}["external_id"]  # KeyError: the kind of slip a vendor's odd answer exposes


async def outbox(harness: StockbotHarness) -> list[tuple[str, str, int]]:
    assert harness.runtime is not None
    async with harness.runtime.engine.connect() as conn:
        query = select(deliveries.c.channel, deliveries.c.status, deliveries.c.attempts)
        return [tuple(r) for r in (await conn.execute(query.order_by(deliveries.c.id))).all()]


async def delivery_audit(harness: StockbotHarness) -> list[str]:
    assert harness.runtime is not None
    async with harness.runtime.engine.connect() as conn:
        query = select(audit_events.c.kind).where(audit_events.c.kind.like("delivery.%"))
        return list((await conn.execute(query.order_by(audit_events.c.id))).scalars())


async def test_an_adapter_bug_fails_for_good_after_three_attempts_and_logs_its_traceback_once(
    stockbot: HarnessFactory, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setitem(ADAPTERS, "broken", f"{__name__}:BrokenAdapter")
    harness = await stockbot(
        channels={"bug": {"adapter": "broken", "address": "anywhere"}}, routes=[{"channels": ["bug"]}]
    )
    caplog.set_level(logging.INFO, logger="stockbot")
    await harness.send(event("CAB-MK-LEGACY", 0))
    for _ in range(5):
        await harness.deliver()
        harness.later(minutes=2)
    assert await outbox(harness) == [("bug", "failed", 3)]  # not retried until max_age (1 h here)
    assert await delivery_audit(harness) == ["delivery.retry", "delivery.retry", "delivery.failed"]
    tracebacks = [r for r in caplog.records if r.exc_info and "KeyError" in r.getMessage()]
    assert len(tracebacks) == 1
