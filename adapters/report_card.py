"""The short form of a report that chat and the outbox carry: key figures with arrows against the previous
period, and the top repeat offenders. Plain data, built from a :class:`~adapters.report_data.Report` by
:func:`report_card`; every destination renders it (Slack blocks, a Teams card, e-mail HTML, text, SMS).

It travels inside :class:`~adapters.message.AlertMessage` (``report``) through the outbox, so a scheduled
report is delivered, retried and audited like an alert. Only this small summary is stored with the
delivery, not the whole report.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from stockbot.adapters.report_data import Report, Summary

TOP_OFFENDERS = 5


@dataclass(frozen=True)
class Figure:
    label: str
    value: str
    previous: str
    trend: str  # up | down | same (against the previous period); "" when there is nothing to compare
    good: str  # which way is good: "down" for every figure shown today (fewer stock-outs, faster answers)

    @property
    def arrow(self) -> str:
        return {"up": "▲", "down": "▼", "same": "="}.get(self.trend, "")

    @property
    def improved(self) -> bool | None:
        """True when the change is for the better, False for the worse, None when unchanged or unknown."""
        if self.trend in ("", "same"):
            return None
        return self.trend == self.good


@dataclass(frozen=True)
class Offender:
    name: str
    sku: str
    location: str
    stockouts: int
    time_out: str


@dataclass(frozen=True)
class ReportCard:
    title: str  # "Stock report: last 7 days · Chicago DC"
    period: str  # "2026-11-20 to 2026-11-26, against 2026-11-13 to 2026-11-19"
    figures: tuple[Figure, ...]
    offenders: tuple[Offender, ...]
    generated_at: datetime
    link: str | None = None  # the dashboard's report page, when [server] public_url is set

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["generated_at"] = self.generated_at.isoformat()
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ReportCard:
        return cls(
            title=data["title"],
            period=data["period"],
            figures=tuple(Figure(**f) for f in data["figures"]),
            offenders=tuple(Offender(**o) for o in data["offenders"]),
            generated_at=datetime.fromisoformat(data["generated_at"]),
            link=data.get("link"),
        )


def duration(seconds: float | None) -> str:
    """A time span for people: "—", "40 s", "12 min", "3 h 5 min", "2.5 days"."""
    if seconds is None:
        return "—"
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes = seconds / 60
    if minutes < 60:
        return f"{minutes:.0f} min"
    hours, rest = divmod(int(minutes), 60)
    if hours < 48:
        return f"{hours} h {rest} min" if rest else f"{hours} h"
    return f"{seconds / 86400:.1f} days"


def _trend(now: float | None, before: float | None) -> str:
    if now is None or before is None:
        return ""
    return "up" if now > before else "down" if now < before else "same"


def _figure(label: str, now: float | None, before: float | None, shown: Any = str) -> Figure:
    return Figure(label, shown(now), shown(before), _trend(now, before), "down")


def figures(current: Summary, previous: Summary) -> tuple[Figure, ...]:
    """The key figures, each against the period before (definitions: README, "History and reports")."""
    now_ack, before_ack = current.response.time_to_acknowledge, previous.response.time_to_acknowledge
    return (
        _figure("Stock-outs", current.stockouts.opened, previous.stockouts.opened),
        _figure(
            "Time out of stock",
            current.stockouts.time_out_seconds,
            previous.stockouts.time_out_seconds,
            duration,
        ),
        _figure("Median time to acknowledge", now_ack.p50, before_ack.p50, duration),
        _figure("Escalated", current.response.escalated, previous.response.escalated),
        _figure("Blocked orders", current.impact.blocked_orders, previous.impact.blocked_orders),
        Figure("Out of stock now", str(current.stockouts.out_now), "", "", "down"),
    )


def _period_text(summary: Summary) -> str:
    last = summary.period.dates()[-1] if summary.period.days else summary.period.start
    return f"{summary.period.start.isoformat()} to {last.isoformat()}"


def scope_text(summary: Summary) -> str:
    cut = summary.cut
    parts = [p for p in (cut.location, cut.category, cut.sku) if p]
    return " · ".join(parts) if parts else "all locations"


def report_card(report: Report, link: str | None = None) -> ReportCard:
    current, previous = report.current, report.previous
    offenders = tuple(
        Offender(p.name, p.sku, p.location, p.stockouts, duration(p.time_out_seconds))
        for p in current.repeat_offenders[:TOP_OFFENDERS]
    )
    return ReportCard(
        title=f"Stock report: last {current.period.days} days · {scope_text(current)}",
        period=f"{_period_text(current)}, against {_period_text(previous)}",
        figures=figures(current, previous),
        offenders=offenders,
        generated_at=report.generated_at,
        link=link,
    )
