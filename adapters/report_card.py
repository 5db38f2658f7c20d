"""The short form of a report that chat and the outbox carry: key figures with arrows against the previous
period, and the top repeat offenders. Plain data, built from a :class:`~adapters.report_data.Report` by
:func:`report_card`; every destination renders it (Slack blocks, a Teams card, e-mail HTML, text, SMS).

It travels inside :class:`~adapters.message.AlertMessage` (``report``) through the outbox, so a scheduled
report is delivered, retried and audited like an alert. Only this small summary is stored with the
delivery, not the whole report.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date, datetime
from typing import Any

from stockbot.adapters.i18n import DEFAULT_LANGUAGE, N_, gettext_for, ngettext_for, tr
from stockbot.adapters.report_data import Report, Summary

TOP_OFFENDERS = 5
EN = DEFAULT_LANGUAGE
COUNT, DURATION = "count", "duration"  # how a figure's numbers read: as they are, or as a time span
# The key figures' names are msgids: a card is worded by each renderer, in its reader's language (a scheduled
# report in its channel's), so the card the outbox stores holds no words of any language.
STOCKOUTS = N_("Stock-outs")
TIME_OUT = N_("Time out of stock")
ACKNOWLEDGE_P50 = N_("Median time to acknowledge")
ESCALATED = N_("Escalated alerts")
BLOCKED_ORDERS = N_("Blocked orders")
OUT_NOW = N_("Out of stock now")


@dataclass(frozen=True)
class Figure:
    label: str  # one of the names above: :meth:`label_text` words it
    value: float | None
    previous: float | None  # None: nothing to compare with
    trend: str  # up | down | same (against the previous period); "" when there is nothing to compare
    good: str  # which way is good: "down" for every figure shown today (fewer stock-outs, faster answers)
    unit: str = COUNT

    @property
    def arrow(self) -> str:
        return {"up": "▲", "down": "▼", "same": "="}.get(self.trend, "")

    @property
    def improved(self) -> bool | None:
        """True when the change is for the better, False for the worse, None when unchanged or unknown."""
        if self.trend in ("", "same"):
            return None
        return self.trend == self.good

    def label_text(self, language: str = EN) -> str:
        return tr(language, self.label)

    def value_text(self, language: str = EN) -> str:
        return self._amount(self.value, language)

    def previous_text(self, language: str = EN) -> str:
        return self._amount(self.previous, language)

    def _amount(self, number: float | None, language: str) -> str:
        if self.unit == DURATION:
            return duration(number, language)
        return "—" if number is None else f"{number:.0f}"


@dataclass(frozen=True)
class Offender:
    name: str
    sku: str
    location: str
    stockouts: int
    time_out_seconds: float | None

    def time_out(self, language: str = EN) -> str:
        return duration(self.time_out_seconds, language)


@dataclass(frozen=True)
class ReportCard:
    days: int
    scope: tuple[str, ...]  # the location, category and SKU it is cut to; () for all locations
    start: date  # the period's first and last day, and those of the period it is compared with
    end: date
    previous_start: date
    previous_end: date
    figures: tuple[Figure, ...]
    offenders: tuple[Offender, ...]
    generated_at: datetime
    link: str | None = None  # the dashboard's report page, when [server] public_url is set

    def title(self, language: str = EN) -> str:
        """ "Stock report: last 7 days · Chicago DC" (English: audit rows and logs)."""
        scope = " · ".join(self.scope) or tr(language, "all locations")
        ngettext = ngettext_for(language)  # by this name, so the extraction finds the msgids
        words = ngettext(
            "Stock report: last {days} day · {scope}", "Stock report: last {days} days · {scope}", self.days
        )
        return words.format(days=self.days, scope=scope)

    def period(self, language: str = EN) -> str:
        """ "2026-11-20 to 2026-11-26, against 2026-11-13 to 2026-11-19" """
        return tr(language, "{start} to {end}, against {previous_start} to {previous_end}").format(
            start=self.start.isoformat(),
            end=self.end.isoformat(),
            previous_start=self.previous_start.isoformat(),
            previous_end=self.previous_end.isoformat(),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "days": self.days,
            "scope": list(self.scope),
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "previous_start": self.previous_start.isoformat(),
            "previous_end": self.previous_end.isoformat(),
            "figures": [asdict(f) for f in self.figures],
            "offenders": [asdict(o) for o in self.offenders],
            "generated_at": self.generated_at.isoformat(),
            "link": self.link,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ReportCard:
        return cls(
            days=data["days"],
            scope=tuple(data["scope"]),
            start=date.fromisoformat(data["start"]),
            end=date.fromisoformat(data["end"]),
            previous_start=date.fromisoformat(data["previous_start"]),
            previous_end=date.fromisoformat(data["previous_end"]),
            figures=tuple(Figure(**f) for f in data["figures"]),
            offenders=tuple(Offender(**o) for o in data["offenders"]),
            generated_at=datetime.fromisoformat(data["generated_at"]),
            link=data.get("link"),
        )


def duration(seconds: float | None, language: str = EN) -> str:
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
    return gettext_for(language)("{days} days").format(days=f"{seconds / 86400:.1f}")


def _trend(now: float | None, before: float | None) -> str:
    if now is None or before is None:
        return ""
    return "up" if now > before else "down" if now < before else "same"


def _figure(label: str, now: float | None, before: float | None, unit: str = COUNT) -> Figure:
    return Figure(label, now, before, _trend(now, before), "down", unit)


def figures(current: Summary, previous: Summary) -> tuple[Figure, ...]:
    """The key figures, each against the period before (definitions: README, "History and reports")."""
    now_ack, before_ack = current.response.time_to_acknowledge, previous.response.time_to_acknowledge
    return (
        _figure(STOCKOUTS, current.stockouts.opened, previous.stockouts.opened),
        _figure(TIME_OUT, current.stockouts.time_out_seconds, previous.stockouts.time_out_seconds, DURATION),
        _figure(ACKNOWLEDGE_P50, now_ack.p50, before_ack.p50, DURATION),
        _figure(ESCALATED, current.response.escalated, previous.response.escalated),
        _figure(BLOCKED_ORDERS, current.impact.blocked_orders, previous.impact.blocked_orders),
        Figure(OUT_NOW, current.stockouts.out_now, None, "", "down"),
    )


def _days(summary: Summary) -> tuple[date, date]:
    last = summary.period.dates()[-1] if summary.period.days else summary.period.start
    return summary.period.start, last


def scope_of(summary: Summary) -> tuple[str, ...]:
    cut = summary.cut
    return tuple(p for p in (cut.location, cut.category, cut.sku) if p)


def scope_text(summary: Summary) -> str:
    """The cut in English (the web report page)."""
    return " · ".join(scope_of(summary)) or "all locations"


def report_card(report: Report, link: str | None = None) -> ReportCard:
    current, previous = report.current, report.previous
    offenders = tuple(
        Offender(p.name, p.sku, p.location, p.stockouts, p.time_out_seconds)
        for p in current.repeat_offenders[:TOP_OFFENDERS]
    )
    (start, end), (previous_start, previous_end) = _days(current), _days(previous)
    return ReportCard(
        days=current.period.days,
        scope=scope_of(current),
        start=start,
        end=end,
        previous_start=previous_start,
        previous_end=previous_end,
        figures=figures(current, previous),
        offenders=offenders,
        generated_at=report.generated_at,
        link=link,
    )
