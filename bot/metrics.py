"""Prometheus metrics. Counters are bumped where things happen; alert gauges are read from the database
at scrape time, so every replica reports the same truth."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REGISTRY = CollectorRegistry()

EVENTS = Counter(
    "stockbot_events_total",
    "Inventory and fulfilment events received, by outcome (applied, duplicate, stale, unknown_sku, "
    "unknown_location) or rejection reason (signature, validation, too_large).",
    ["outcome"],
    registry=REGISTRY,
)
ALERT_CHANGES = Counter(
    "stockbot_alert_changes_total",
    "Alert state changes by event and severity.",
    ["event", "severity"],
    registry=REGISTRY,
)
ALERTS = Gauge(
    "stockbot_alerts",
    "Alerts by state and severity (read from the database).",
    ["state", "severity"],
    registry=REGISTRY,
)
DELIVERIES = Counter(
    "stockbot_deliveries_total",
    "Delivery attempts by adapter and outcome (delivered, retry, failed, dead).",
    ["adapter", "outcome"],
    registry=REGISTRY,
)
OUTBOX = Gauge(
    "stockbot_outbox", "Deliveries by status (read from the database).", ["status"], registry=REGISTRY
)
DISPATCH_LATENCY = Histogram(
    "stockbot_dispatch_latency_seconds",
    "From a delivery being stored to its successful send.",
    ["adapter"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900),
    registry=REGISTRY,
)
REQUESTS_REFUSED = Counter(
    "stockbot_requests_refused_total",
    "Requests refused before any effect, by front end and reason.",
    ["front_end", "reason"],
    registry=REGISTRY,
)
# Observed when an alert is acknowledged and when it resolves (bot/alerts.py). Labelled by severity only:
# a label per SKU would grow without bound. Buckets span minutes to weeks, in seconds.
TIME_TO_ACKNOWLEDGE = Histogram(
    "stockbot_alert_time_to_acknowledge_seconds",
    "From an alert opening to its first acknowledgement, by severity.",
    ["severity"],
    buckets=(30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 28800, 86400, 259200),
    registry=REGISTRY,
)
STOCKOUT_DURATION = Histogram(
    "stockbot_stockout_duration_seconds",
    "From an alert opening to its resolution (time out of stock), by severity.",
    ["severity"],
    buckets=(300, 900, 1800, 3600, 7200, 14400, 28800, 86400, 172800, 345600, 604800, 1209600, 2592000),
    registry=REGISTRY,
)
