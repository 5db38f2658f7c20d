"""GET /healthz and GET /metrics, and that no secret reaches a log line."""

from __future__ import annotations

import logging

import pytest

from tests.conftest import HarnessFactory
from tests.helpers import ERP_SECRET, event


async def test_healthz_reports_database_and_dispatcher(stockbot: HarnessFactory) -> None:
    harness = await stockbot()
    assert harness.http is not None and harness.runtime is not None
    async with harness.http.get(harness.url + "/healthz") as response:
        body = await response.json()
    assert (response.status, body["database"], body["dispatcher"]) == (503, True, False)  # loop not started
    harness.runtime.dispatcher.start()
    async with harness.http.get(harness.url + "/healthz") as response:
        assert (response.status, (await response.json())["status"]) == (200, "ok")
    await harness.runtime.engine.dispose()
    harness.runtime.engine.pool._creator = lambda *a, **k: (_ for _ in ()).throw(OSError("database down"))
    async with harness.http.get(harness.url + "/healthz") as response:
        body = await response.json()
    assert (response.status, body["database"]) == (503, False)


async def test_metrics_count_events_alerts_and_deliveries(stockbot: HarnessFactory) -> None:
    harness = await stockbot()
    await harness.send(event("CAB-MK-LEGACY", 0))
    await harness.post(
        "/events/inventory", event("CAB-MK-LEGACY", 0), headers={"Content-Type": "application/json"}
    )
    await harness.deliver()
    assert harness.http is not None
    async with harness.http.get(harness.url + "/metrics") as response:
        text = await response.text()
    assert response.status == 200
    assert 'stockbot_events_total{outcome="applied"}' in text
    assert 'stockbot_events_total{outcome="rejected_signature"}' in text
    assert 'stockbot_alerts{severity="out",state="open"} 1.0' in text
    assert 'stockbot_deliveries_total{adapter="console",outcome="delivered"}' in text
    assert 'stockbot_outbox{status="delivered"} 1.0' in text
    assert "stockbot_dispatch_latency_seconds_bucket" in text


async def test_no_secret_reaches_the_logs(stockbot: HarnessFactory, caplog: pytest.LogCaptureFixture) -> None:
    from stockbot.bot.logs import RedactingFilter

    harness = await stockbot()
    redacting = RedactingFilter()
    caplog.handler.addFilter(redacting)
    try:
        caplog.set_level(logging.DEBUG)
        logging.getLogger("stockbot.test").warning("config dump: secret=%s token xoxb-1234-abcd", ERP_SECRET)
        await harness.post("/events/inventory", event("CAB-MK-LEGACY", 0), secret="wrong-secret-000000000")
        assert ERP_SECRET not in caplog.text and "xoxb-1234-abcd" not in caplog.text
        assert "[redacted]" in caplog.text
    finally:
        caplog.handler.removeFilter(redacting)  # the handler outlives this test


def test_redaction_leaves_ordinary_words_and_non_secret_settings_alone() -> None:
    from stockbot.adapters.base import redact
    from stockbot.bot.config import parse_config

    # A variable that fills a non-secret key (a host, a channel id) is no secret; "stamp" would have masked
    # every "timestamp" in the logs.
    parse_config(
        {"server": {"host": "${HOST}"}, "channels": {"x": {"adapter": "console", "address": "${ROOM}"}}},
        env={"HOST": "0.0.0.0", "ROOM": "stamp"},
    )
    line = "X-Slack-Request-Timestamp: 1700000000 from 0.0.0.0 in room stamp"
    assert redact(line) == line
    parse_config({"sources": {"wms": {"secret": "${WMS}"}}}, env={"WMS": "wms-secret-0123456789"})
    assert (
        redact("signed with wms-secret-0123456789 at timestamp 17")
        == "signed with [redacted] at timestamp 17"
    )
