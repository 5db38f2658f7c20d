"""Plain data behind the alert pages (``/alerts``): what storage reads and the HTML renderer shows.

It sits on the lowest floor, beside :mod:`adapters.message`, so the storage query and the renderer share it
without importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

SHOW_CHOICES = ("open", "recent", "all")  # open: not resolved; recent: resolved in the last 30 days


@dataclass(frozen=True)
class AlertFilter:
    show: str = "open"
    location: str | None = None
    category: str | None = None
    severity: str | None = None
    page: int = 1


@dataclass(frozen=True)
class AlertListItem:
    id: int
    sku: str
    product_name: str
    category: str
    location: str
    state: str
    severity: str
    on_hand: int | None
    minimum: int
    opened_at: datetime
    updated_at: datetime
    acknowledged_by: str | None
    escalation_step: int
    resolved_at: datetime | None


@dataclass(frozen=True)
class AlertListPage:
    items: tuple[AlertListItem, ...]
    total: int
    page: int
    per_page: int
    locations: tuple[str, ...] = ()  # every choice the filters offer
    categories: tuple[str, ...] = ()
    filters: AlertFilter = field(default_factory=AlertFilter)

    @property
    def pages(self) -> int:
        return max((self.total + self.per_page - 1) // self.per_page, 1)
