"""The alert pages (``/alerts``, ``/alerts/{id}``) and the sign-in pages, as HTML. Pure functions.

The list shows open or recently resolved alerts with filters and paging; an alert's page shows its facts,
its whole timeline from the audit log (events, every delivery attempt, clicks, escalation steps) and, for
people whose role allows it, Acknowledge and Resolve forms carrying the session's CSRF token.
"""

from __future__ import annotations

from collections.abc import Sequence

from stockbot.adapters.message import AlertMessage
from stockbot.adapters.page_data import SHOW_CHOICES, AlertListItem, AlertListPage
from stockbot.adapters.render.html_page import (
    Markup,
    Nav,
    page,
    query_link,
    select_field,
    severity_badge,
    table,
    when,
)
from stockbot.adapters.render.text import fact_lines, headline, status_line
from stockbot.adapters.report_data import Timeline

SHOW_WORDS = {"open": "Open", "recent": "Resolved in the last 30 days", "all": "All"}
SEVERITY_CHOICES = (("", "Any"), ("critical", "Critical"), ("out", "Out of stock"), ("low", "Low stock"))
HOW_TO_GET_IN = Markup(
    "Ask stockbot for a personal link: <code>/stock dashboard</code> in Slack, or <code>dashboard</code> "
    "in a personal chat with stockbot in Teams. A link works once, for 15 minutes."
)


# --- signing in -------------------------------------------------------------------------------------------


def login_page(token: str) -> str:
    """What a dashboard link shows: one button. Opening the session is a POST, so a link preview (Slack's
    unfurler, a mail scanner) that fetches the link cannot use it up."""
    body = Markup(
        '<div class="card" style="max-width:520px;margin:40px auto"><h1>Open the stockbot dashboard</h1>'
        '<p class="sub">This personal link works once. '
        "It opens a session in this browser with your roles.</p>"
        '<form method="post" action="/login"><input type="hidden" name="token" value="{}">'
        '<button class="primary" type="submit">Open dashboard</button></form></div>'
    ).format(token)
    return page("stockbot: open the dashboard", body)


def refused_page(title: str, why: str, *, how_to_get_in: bool = True) -> str:
    hint = Markup("<p>{}</p>").format(HOW_TO_GET_IN) if how_to_get_in else Markup("")
    body = Markup(
        '<div class="card" style="max-width:620px;margin:40px auto"><h1>{}</h1><p>{}</p>{}</div>'
    ).format(title, why, hint)
    return page(f"stockbot: {title}", body)


def message_page(title: str, text: str, nav: Nav | None = None) -> str:
    body = Markup(
        '<div class="card" style="max-width:620px;margin:40px auto"><h1>{}</h1><p>{}</p></div>'
    ).format(title, text)
    return page(f"stockbot: {title}", body, nav)


# --- the list ---------------------------------------------------------------------------------------------


def _state(item: AlertListItem) -> str:
    if item.state == "resolved":
        return f"resolved {when(item.resolved_at)}"
    if item.state == "escalated":
        return f"escalated (level {item.escalation_step})"
    if item.acknowledged_by:
        return f"acknowledged by {item.acknowledged_by}"
    return item.state


def _row(item: AlertListItem) -> list[object]:
    level = "unknown" if item.on_hand is None else item.on_hand
    return [
        Markup('<a href="/alerts/{}">#{}</a>').format(item.id, item.id),
        severity_badge(item.severity, item.state == "resolved"),
        Markup("{}<br><small>{}</small>").format(item.product_name, item.sku),
        item.location,
        item.category,
        f"{level} / {item.minimum}",
        when(item.opened_at),
        _state(item),
    ]


def _filters(data: AlertListPage) -> Markup:
    chosen = data.filters
    fields = [
        select_field("show", "Show", [(s, SHOW_WORDS[s]) for s in SHOW_CHOICES], chosen.show),
        select_field(
            "location", "Location", [("", "Any"), *((x, x) for x in data.locations)], chosen.location
        ),
        select_field(
            "category", "Category", [("", "Any"), *((x, x) for x in data.categories)], chosen.category
        ),
        select_field("severity", "Severity", SEVERITY_CHOICES, chosen.severity),
    ]
    return Markup(
        '<form class="filters" method="get" action="/alerts">{}<button class="primary">Filter</button></form>'
    ).format(Markup("").join(fields))


def _pager(data: AlertListPage) -> Markup:
    chosen = data.filters
    params: dict[str, object] = {
        "show": chosen.show,
        "location": chosen.location,
        "category": chosen.category,
        "severity": chosen.severity,
    }
    parts = []
    if data.page > 1:
        parts.append(
            Markup('<a rel="prev" href="{}">← Newer</a>').format(
                query_link("/alerts", {**params, "page": data.page - 1})
            )
        )
    parts.append(Markup("<span>Page {} of {} · {} alerts</span>").format(data.page, data.pages, data.total))
    if data.page < data.pages:
        parts.append(
            Markup('<a rel="next" href="{}">Older →</a>').format(
                query_link("/alerts", {**params, "page": data.page + 1})
            )
        )
    return Markup('<div class="pager">{}</div>').format(Markup("").join(parts))


def alerts_page(data: AlertListPage, nav: Nav) -> str:
    headers = ["Alert", "Severity", "Product", "Location", "Category", "On hand / min", "Opened", "State"]
    rows = [_row(item) for item in data.items]
    listing = table(headers, rows) if rows else Markup('<p class="empty">No alerts match these filters.</p>')
    body = Markup(
        '<h1>Alerts</h1><p class="sub">{}, newest change first.</p>{}<div class="card">{}{}</div>'
    ).format(SHOW_WORDS.get(data.filters.show, data.filters.show), _filters(data), listing, _pager(data))
    return page("stockbot: alerts", body, nav)


# --- one alert ---------------------------------------------------------------------------------------------


def _timeline(timeline: Timeline | None) -> Markup:
    if timeline is None or not timeline.entries:
        return Markup('<p class="empty">Nothing recorded yet.</p>')
    items = Markup("").join(
        Markup(
            '<li class="entry" data-kind="{}"><span class="when">{}</span><span class="kind">{}</span>'
            '<span>{}<br><span class="detail">{}</span></span></li>'
        ).format(entry.kind, when(entry.at), entry.kind, entry.summary, entry.actor)
        for entry in timeline.entries
    )
    return Markup('<ol class="timeline">{}</ol>').format(items)


def _action_forms(message: AlertMessage, csrf: str, allowed: Sequence[str]) -> Markup:
    forms = []
    if "acknowledge" in allowed and not message.is_resolved and not message.acknowledged_by:
        forms.append(
            Markup(
                '<form method="post" action="/alerts/{}/acknowledge">'
                '<input type="hidden" name="csrf" value="{}">'
                '<button class="primary" type="submit">Acknowledge</button></form>'
            ).format(message.alert_id, csrf)
        )
    if "resolve" in allowed and not message.is_resolved:
        forms.append(
            Markup(
                '<form method="post" action="/alerts/{}/resolve"><input type="hidden" name="csrf" value="{}">'
                '<input type="text" name="reason" maxlength="300" placeholder="Why (optional)">'
                '<button class="danger" type="submit">Resolve</button></form>'
            ).format(message.alert_id, csrf)
        )
    return Markup('<div class="actions">{}</div>').format(Markup("").join(forms)) if forms else Markup("")


def alert_page(
    message: AlertMessage,
    timeline: Timeline | None,
    nav: Nav,
    *,
    allowed: Sequence[str] = (),
    notice: tuple[str, str] | None = None,
) -> str:
    """``allowed``: the actions the person may take (``acknowledge``, ``resolve``);
    ``notice``: (ok|bad, text) shown on top."""
    facts = table(["", ""], [(label, value) for label, value in fact_lines(message) if label != "Link"])
    shown = Markup('<div class="notice {}">{}</div>').format(*notice) if notice else Markup("")
    body = Markup(
        '{}<p class="sub"><a href="/alerts">← Alerts</a></p><h1>{} {}</h1><p class="sub">Alert #{} · {}</p>'
        '<div class="grid"><div class="card"><h2>Facts</h2>{}{}</div>'
        '<div class="card"><h2>Timeline</h2>{}</div></div>'
    ).format(
        shown,
        severity_badge(message.severity, message.is_resolved),
        headline(message),
        message.alert_id,
        status_line(message),
        facts,
        _action_forms(message, nav.csrf, allowed),
        _timeline(timeline),
    )
    return page(f"stockbot: alert #{message.alert_id}", body, nav)
