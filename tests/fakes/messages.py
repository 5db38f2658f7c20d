"""Sample alert messages for adapter and renderer tests."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from stockbot.adapters.base import AlertMessage, BlockedOrder

OPENED = datetime(2026, 11, 26, 9, 30, tzinfo=UTC)


def sample_message(**overrides: Any) -> AlertMessage:
    message = AlertMessage(
        alert_id=42,
        event="opened",
        sku="PIN-GODZ-PRO",
        product_name="Godzilla Pro pinball table",
        category="pinball",
        key_product=True,
        location="Chicago DC",
        on_hand=0,
        minimum=2,
        critical_level=0,
        severity="critical",
        state="open",
        trigger="fulfillment_failed",
        opened_at=OPENED,
        updated_at=OPENED,
        blocked_orders=(BlockedOrder("SO-1001", requested=2, available=0, rep="dana"),),
        last_source="erp",
        last_changed_at=OPENED,
        link="https://stock.example.com/alerts/42",
    )
    return replace(message, **overrides)


def resolved_message(**overrides: Any) -> AlertMessage:
    later = datetime(2026, 11, 26, 13, 5, tzinfo=UTC)
    return sample_message(
        event="resolved",
        state="resolved",
        on_hand=6,
        resolved_at=later,
        updated_at=later,
        resolved_by="erp",
        **overrides,
    )
