"""The Grafana dashboard only names metrics that stockbot's /metrics really exposes, and the new histograms
are observed as alerts are acknowledged and resolve (labelled by severity, never by SKU)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select

from stockbot.bot.permissions import Actor
from stockbot.storage.tables import alerts
from tests.conftest import HarnessFactory
from tests.helpers import event

DASHBOARD = Path(__file__).resolve().parents[1] / "contrib" / "grafana" / "stockbot.json"
METRIC = re.compile(r"\bstockbot_[a-z0-9_]+")
MANAGER = Actor(id="U_MGR", via="slack", name="Morgan")


def expressions(dashboard: dict[str, Any]) -> list[str]:
    return [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]


def test_the_dashboard_is_a_grafana_dashboard() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids)) and dashboard["uid"] and dashboard["title"] == "stockbot"
    for panel in dashboard["panels"]:
        assert panel["datasource"]["uid"] == "${DS_PROMETHEUS}" and panel["targets"], panel["title"]
        assert set(panel["gridPos"]) == {"x", "y", "w", "h"}
    assert len(expressions(dashboard)) >= 10


async def test_every_metric_the_dashboard_names_is_exposed(stockbot: HarnessFactory) -> None:
    harness = await stockbot(roles={"manager": ["U_MGR"]})
    # an alert opened, acknowledged and resolved, deliveries made, and one refused request: every family
    # the dashboard reads has samples
    await harness.send(event("CAB-MK-LEGACY", 0))
    await harness.post(
        "/events/inventory", event("CAB-MK-LEGACY", 0), headers={"Content-Type": "application/json"}
    )
    assert harness.runtime is not None
    async with harness.runtime.engine.connect() as conn:
        alert_id = (await conn.execute(select(alerts.c.id))).scalar_one()
    harness.later(minutes=7)
    await harness.desk.acknowledge(alert_id, MANAGER)
    harness.later(hours=2)
    await harness.desk.resolve(alert_id, MANAGER)
    await harness.send(event("CAB-NBAJAM-4P", 0, at=harness.clock.now()))  # one stays open
    await harness.deliver()
    assert harness.http is not None
    async with harness.http.get(harness.url + "/metrics") as response:
        exposed = await response.text()
    samples = {
        sample.name: sample.labels
        for family in text_string_to_metric_families(exposed)
        for sample in family.samples
    }
    named = {name for expr in expressions(json.loads(DASHBOARD.read_text())) for name in METRIC.findall(expr)}
    assert {
        "stockbot_alert_time_to_acknowledge_seconds_bucket",
        "stockbot_stockout_duration_seconds_sum",
    } <= named
    assert sorted(named - set(samples)) == []
    for histogram in ("stockbot_alert_time_to_acknowledge_seconds", "stockbot_stockout_duration_seconds"):
        labels = {key for name, found in samples.items() if name.startswith(histogram) for key in found}
        assert labels == {"severity", "le"}  # never a SKU
    assert 'stockbot_alert_time_to_acknowledge_seconds_bucket{le="600.0",severity="out"}' in exposed
    assert 'stockbot_stockout_duration_seconds_bucket{le="14400.0",severity="out"}' in exposed
