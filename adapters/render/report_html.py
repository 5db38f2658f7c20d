"""The report page: a pure function of a :class:`~adapters.report_data.Report`.

The same function draws ``/reports`` in the dashboard (with the navigation bar and the filter form) and the
file ``stockbot report --format html`` writes (without them), so the two never drift apart. The document is
self-contained: inline CSS, charts as inline SVG, no script, no font or image fetched.

What it shows (figures are defined in the README, "History and reports"): the key figures with arrows
against the previous period; stock-outs per day stacked by severity; the time-to-acknowledge distribution;
the products out of stock longest; one row per location; the repeat offenders; what to reorder.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from stockbot.adapters.render.charts import histogram, horizontal_bars, legend, stacked_bars
from stockbot.adapters.render.html_page import Markup, Nav, page, select_field, table
from stockbot.adapters.render.text import change_text
from stockbot.adapters.report_card import Figure, duration, figures, scope_text
from stockbot.adapters.report_data import Report, Summary

PERIOD_CHOICES = (("7d", "Last 7 days"), ("30d", "Last 30 days"))
MAX_REORDER_ROWS = 25
HALF = 520  # the drawing width of a chart in a half-width card, so its text stays the size of the page's


@dataclass(frozen=True)
class ReportFilters:
    """What the served page's filter form offers and has chosen."""

    period: str
    location: str | None
    category: str | None
    locations: Sequence[str]
    categories: Sequence[str]


def _figure(figure: Figure) -> Markup:
    change = change_text(figure)
    direction = {True: "good", False: "bad", None: ""}[figure.improved]
    delta = (
        Markup('<div class="delta {} {}">{}</div>').format(figure.trend, direction, change)
        if change
        else Markup("")
    )
    return Markup(
        '<div class="figure" data-figure="{}"><div class="label">{}</div><div class="value">{}</div>{}</div>'
    ).format(figure.label, figure.label_text(), figure.value_text(), delta)


def _filters(chosen: ReportFilters) -> Markup:
    fields = [
        select_field("period", "Period", PERIOD_CHOICES, chosen.period),
        select_field(
            "location", "Location", [("", "All"), *((x, x) for x in chosen.locations)], chosen.location
        ),
        select_field(
            "category", "Category", [("", "All"), *((x, x) for x in chosen.categories)], chosen.category
        ),
    ]
    return Markup(
        '<form class="filters" method="get" action="/reports">{}<button class="primary">Show</button></form>'
    ).format(Markup("").join(fields))


def _per_day(summary: Summary) -> Markup:
    days = [(f"{d.day:%m-%d}", {"low": d.low, "out": d.out, "critical": d.critical}) for d in summary.per_day]
    if not any(d.total for d in summary.per_day):
        return Markup('<p class="empty">No stock-outs opened in this period.</p>')
    chart = stacked_bars(days, "Stock-outs opened per day, stacked by severity")
    return chart + legend((("low", "Low stock"), ("out", "Out of stock"), ("critical", "Critical")))


def _ack(summary: Summary) -> Markup:
    buckets = [(b.label, b.count) for b in summary.ack_buckets]
    if not any(n for _, n in buckets):
        return Markup('<p class="empty">No stock-outs to acknowledge in this period.</p>')
    return histogram(buckets, "How long stock-outs waited for an acknowledgement", width=HALF)


def _top(summary: Summary) -> Markup:
    items = [
        (f"{p.name} · {p.location}", p.time_out_seconds, duration(p.time_out_seconds))
        for p in summary.top_time_out
    ]
    if not items:
        return Markup('<p class="empty">Nothing was out of stock in this period.</p>')
    return horizontal_bars(items, "Products out of stock longest in this period", width=HALF)


def _locations(summary: Summary) -> Markup:
    rows = [
        (
            r.location,
            r.stockouts,
            duration(r.time_out_seconds),
            r.out_now,
            r.blocked_orders,
            duration(r.acknowledge_p50),
        )
        for r in summary.locations
    ]
    if not rows:
        return Markup('<p class="empty">No location had a stock-out in this period.</p>')
    headers = ["Location", "Stock-outs", "Time out", "Out now", "Blocked orders", "Acknowledged (median)"]
    return table(headers, rows, numeric=(1, 2, 3, 4, 5))


def _offenders(summary: Summary) -> Markup:
    rows = [
        (
            Markup("{}<br><small>{}</small>").format(p.name, p.sku),
            p.location,
            p.stockouts,
            duration(p.time_out_seconds),
        )
        for p in summary.repeat_offenders
    ]
    if not rows:
        return Markup('<p class="empty">No product ran out more than once.</p>')
    return table(["Product", "Location", "Stock-outs", "Time out"], rows, numeric=(2, 3))


def _reorder(report: Report) -> Markup:
    wanted = [p for p in report.products if p.suggested_reorder][:MAX_REORDER_ROWS]
    if not wanted:
        return Markup('<p class="empty">Nothing to reorder at the current rate of sale.</p>')
    rows = [
        (
            Markup("{}<br><small>{}</small>").format(p.name, p.sku),
            p.location,
            "—" if p.on_hand is None else p.on_hand,
            f"{p.rate_of_sale:.1f}",
            "—" if p.days_of_cover is None else f"{p.days_of_cover:.1f}",
            p.suggested_reorder,
        )
        for p in wanted
    ]
    headers = ["Product", "Location", "On hand", "Sold a day", "Days of cover", "Suggested reorder"]
    return table(headers, rows, numeric=(2, 3, 4, 5))


def _card(title: str, content: Markup, wide: bool = False) -> Markup:
    return Markup('<section class="card{}"><h2>{}</h2>{}</section>').format(
        " wide" if wide else "", title, content
    )


def report_page(report: Report, *, nav: Nav | None = None, filters: ReportFilters | None = None) -> str:
    """The whole report document. ``nav`` and ``filters`` are for the served page; the CLI passes neither."""
    current, previous = report.current, report.previous
    last = current.period.dates()[-1] if current.period.days else current.period.start
    heading = Markup(
        '<h1>Stock report: {}</h1><p class="sub">{} to {} ({} days), against the {} days before · made {}</p>'
    ).format(
        scope_text(current),
        current.period.start.isoformat(),
        last.isoformat(),
        current.period.days,
        previous.period.days,
        f"{report.generated_at:%Y-%m-%d %H:%M} UTC",
    )
    shown = Markup('<div class="figures">{}</div>').format(
        Markup("").join(_figure(f) for f in figures(current, previous))
    )
    notes = Markup("").join(Markup('<p class="sub">{}</p>').format(note) for note in report.notes)
    body = Markup(
        '{}{}{}{}<div class="grid">{}{}{}{}{}{}</div>'
        '<footer>stockbot · figures are defined in the README, "History and reports"</footer>'
    ).format(
        heading,
        _filters(filters) if filters else Markup(""),
        shown,
        notes,
        _card("Stock-outs per day", _per_day(current), wide=True),
        _card("Time to acknowledge", _ack(current)),
        _card("Longest out of stock", _top(current)),
        _card("Per location", _locations(current), wide=True),
        _card("Repeat offenders", _offenders(current), wide=True),
        _card("What to reorder", _reorder(report), wide=True),
    )
    return page(f"stockbot report: {scope_text(current)}", body, nav)
