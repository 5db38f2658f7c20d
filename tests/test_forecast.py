"""Forecast alerts on a test clock, on both databases: opened before the minimum when the days of cover fall
within the horizon, routed and delivered like any alert, kept open by levels above the minimum, resolved by
the sweep when the forecast no longer says so; and every alert message carries rate, cover and reorder."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from stockbot.adapters.report_data import Cover
from stockbot.bot.alerts import AlertDesk
from stockbot.bot.clock import FakeClock
from stockbot.bot.forecast import expected_in, reason_for, sweep
from stockbot.scheduler.jobs import build_scheduler
from stockbot.storage.catalog import import_rows, parse_csv
from stockbot.storage.tables import alerts, deliveries
from tests.conftest import HarnessFactory
from tests.helpers import StockbotHarness, event
from tests.helpers import test_config as parsed_config

CATALOG = (
    "sku,name,category,key_product,location,minimum,critical_level,on_hand,lead_time_days\n"
    "TOK-F,Token bag F,tokens,no,Reno,10,,100,\n"
)


def day(d: int, hour: int = 12) -> datetime:
    return datetime(2026, 11, d, hour, tzinfo=UTC)


async def reading(harness: StockbotHarness, when: datetime, on_hand: int) -> None:
    harness.clock.set(when)
    await harness.send(event("TOK-F", on_hand, location="Reno", at=when))
    await harness.deliver()


async def forecast_alerts(harness: StockbotHarness) -> list[dict[str, Any]]:
    assert harness.runtime is not None
    async with harness.runtime.engine.connect() as conn:
        rows = await conn.execute(select(alerts).where(alerts.c.sku == "TOK-F").order_by(alerts.c.id))
        return [dict(r) for r in rows.mappings()]


async def sent(harness: StockbotHarness) -> list[tuple[str, dict[str, Any]]]:
    assert harness.runtime is not None
    async with harness.runtime.engine.connect() as conn:
        rows = await conn.execute(
            select(deliveries.c.event, deliveries.c.message).where(deliveries.c.alert_id.is_not(None))
        )
        return [(r.event, r.message) for r in rows]


async def started(stockbot: HarnessFactory, horizon: str | None = "3d") -> StockbotHarness:
    harness = await stockbot(alerts={"forecast_horizon": horizon} if horizon else {})
    assert harness.runtime is not None
    async with harness.runtime.engine.begin() as conn:
        await import_rows(conn, parse_csv(CATALOG))
    # 10 a day from 19 Nov: 100 → 40 by 25 Nov noon (60 sold in the 6 days of 20–25 Nov)
    for d in range(19, 26):
        await reading(harness, day(d), 100 - 10 * (d - 19))
    return harness


def test_the_forecast_wording() -> None:
    assert [expected_in(d) for d in (0.2, 0.5, 1.4, 2.333, 2.5, 14.0)] == [
        "less than a day",
        "about 1 day",
        "about 1 day",
        "about 2 days",
        "about 3 days",
        "about 14 days",
    ]
    found = Cover(units_sold=72, days=6.0, rate_of_sale=12.0, days_of_cover=28 / 12, suggested_reorder=150)
    assert reason_for(found) == "expected to run out in about 2 days at the current rate (12 a day)"


async def test_a_forecast_alert_opens_stays_and_resolves_with_the_forecast(stockbot: HarnessFactory) -> None:
    harness = await started(stockbot)
    harness.clock.set(day(26, 0))
    assert await sweep(harness.desk) == 0  # 40 on hand at 10 a day: 4 days of cover, beyond 3
    assert await forecast_alerts(harness) == []

    await reading(harness, day(25, 18), 28)  # 72 sold in 6 days: 12 a day, 28 / 12 ≈ 2.3 days of cover
    assert await forecast_alerts(harness) == []  # 28 is well above the minimum of 10: no low alert
    harness.clock.set(day(26, 0))
    assert await sweep(harness.desk) == 1
    assert await sweep(harness.desk) == 0  # idempotent
    (alert,) = await forecast_alerts(harness)
    assert (alert["state"], alert["severity"], alert["trigger"]) == ("open", "low", "forecast")
    assert alert["reason"] == "expected to run out in about 2 days at the current rate (12 a day)"
    await harness.deliver()
    (opened,) = await sent(harness)
    assert opened[0] == "opened"
    message = opened[1]
    assert (message["rate_of_sale"], message["suggested_reorder"]) == (12.0, 150)  # ⌈12 × 14 + 10 − 28⌉
    assert message["days_of_cover"] == pytest.approx(28 / 12)

    # a sale keeps it open (above the minimum, but the forecast still says so)
    await reading(harness, day(26, 1), 25)
    (alert,) = await forecast_alerts(harness)
    assert (alert["state"], alert["on_hand"]) == ("open", 25)
    # a restock does not end it by itself: the forecast sweep does
    await reading(harness, day(26, 2), 200)
    assert (await forecast_alerts(harness))[0]["state"] == "open"
    harness.clock.set(day(26, 3))
    assert await sweep(harness.desk) == 1
    (alert,) = await forecast_alerts(harness)
    assert (alert["state"], alert["resolved_by"]) == ("resolved", "stockbot")
    assert alert["reason"] == "forecast: no longer expected to run out within 3 days"
    await harness.deliver()
    assert [e for e, _ in await sent(harness)] == ["opened", "updated", "updated", "resolved"]
    assert await sweep(harness.desk) == 0


async def test_a_forecast_alert_that_reaches_the_minimum_is_left_to_the_level(
    stockbot: HarnessFactory,
) -> None:
    harness = await started(stockbot)
    await reading(harness, day(25, 18), 28)
    harness.clock.set(day(26, 0))
    assert await sweep(harness.desk) == 1
    await reading(harness, day(26, 1), 9)  # at the minimum now: an ordinary low-stock alert
    harness.clock.set(day(26, 2))
    assert await sweep(harness.desk) == 0
    (alert,) = await forecast_alerts(harness)
    assert (alert["state"], alert["severity"], alert["on_hand"]) == ("open", "low", 9)


async def test_without_a_horizon_there_is_no_forecast(stockbot: HarnessFactory) -> None:
    harness = await started(stockbot, horizon=None)
    await reading(harness, day(25, 18), 28)
    harness.clock.set(day(26, 0))
    assert await sweep(harness.desk) == 0
    assert await forecast_alerts(harness) == []


def test_the_scheduler_runs_rollup_always_and_forecast_when_asked(sqlite_url: str) -> None:
    for horizon, expected in ((None, False), ("2d", True)):
        config = parsed_config(sqlite_url, alerts={"forecast_horizon": horizon} if horizon else {})
        desk = AlertDesk(config, None, FakeClock())  # type: ignore[arg-type]  # jobs are only listed
        scheduler = build_scheduler(config, desk, desk.engine, desk.clock, "w")
        names = {job.id for job in scheduler.get_jobs()}
        assert "rollup" in names and ("forecast" in names) == expected


async def test_every_alert_message_carries_rate_cover_and_reorder(stockbot: HarnessFactory) -> None:
    harness = await stockbot()
    assert harness.runtime is not None
    async with harness.runtime.engine.begin() as conn:
        await import_rows(conn, parse_csv(CATALOG))
    for hours, on_hand in ((0, 30), (24, 20), (48, 9)):  # 21 sold in 2 days; 9 is below the minimum
        await reading(harness, day(24, 0) + timedelta(hours=hours), on_hand)
    ((event_name, message),) = await sent(harness)
    # the last 7 days up to 26 Nov 00:00: 6 days elapsed; 21 / 6 = 3.5 a day
    assert (event_name, message["rate_of_sale"], message["days_of_cover"]) == ("opened", 3.5, 9 / 3.5)
    assert message["suggested_reorder"] == 50  # ⌈3.5 × (7 + 7) + 10 − 9⌉
