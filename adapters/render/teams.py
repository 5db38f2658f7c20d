"""Adaptive Cards (1.5) for Microsoft Teams: the alert card, the same card with a notice, an error card,
and the answer to the ``stock`` command.

Pure functions, golden-tested against the Adaptive Card 1.5 JSON schema. Buttons are Universal Actions
(``Action.Execute``): Teams sends the bot an ``invoke`` activity named ``adaptiveCard/action`` whose
``value.action`` carries ``verb`` and ``data``; the bot answers with the refreshed card. The verbs and data:

- ``stockbot.ack``       data ``{"alert_id": 42}``
- ``stockbot.escalate``  data ``{"alert_id": 42}``
- ``stockbot.snooze``    data ``{"alert_id": 42, "snooze": "1h" | "4h" | "tomorrow"}``

Wording comes from :mod:`adapters.render.text`, so Teams says what Slack, e-mail and SMS say.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from stockbot.adapters.base import AlertMessage
from stockbot.adapters.render.text import (
    SEVERITY_WORDS,
    change_text,
    digest_line,
    digest_open_ids,
    digest_title,
    fact_lines,
    headline,
    report_offender_text,
    status_line,
)
from stockbot.adapters.report_card import Figure, ReportCard

if TYPE_CHECKING:  # plain data from the core; not imported at run time (adapters stay below handlers)
    from stockbot.adapters.message import LocationStock, OpenAlert, ProductStock

CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"
CARD_SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"
CARD_VERSION = "1.5"  # the highest version Teams renders for bots and Workflows

VERB_ACK = "stockbot.ack"
VERB_ESCALATE = "stockbot.escalate"
VERB_SNOOZE = "stockbot.snooze"
ACK_ALL_VERB = "stockbot.ack_all"  # a digest's button: data {"alert_ids": [...]}
VERBS = frozenset({VERB_ACK, VERB_ESCALATE, VERB_SNOOZE})
SNOOZE_CHOICES = (("1h", "1 hour"), ("4h", "4 hours"), ("tomorrow", "Until tomorrow"))

SEVERITY_COLOURS = {"critical": "Attention", "out": "Attention", "low": "Warning"}
MAX_ORDER_LINES = 10  # a Teams message tops out near 28 KB; long order lists are summarised


def severity_colour(message: AlertMessage) -> str:
    return "Good" if message.is_resolved else SEVERITY_COLOURS.get(message.severity, "Warning")


def _text(text: str, **style: Any) -> dict[str, Any]:
    return {"type": "TextBlock", "text": text, "wrap": True, **style}


def _card(body: list[dict[str, Any]], actions: list[dict[str, Any]], fallback: str) -> dict[str, Any]:
    card: dict[str, Any] = {
        "$schema": CARD_SCHEMA,
        "type": "AdaptiveCard",
        "version": CARD_VERSION,
        "fallbackText": fallback,
        "body": body,
    }
    if actions:
        card["actions"] = actions
    return card


def _header(message: AlertMessage) -> dict[str, Any]:
    return {
        "type": "Container",
        "style": "good" if message.is_resolved else "emphasis",
        "bleed": True,
        "items": [
            _text(headline(message), size="Medium", weight="Bolder", color=severity_colour(message)),
            _text(status_line(message), spacing="Small", isSubtle=True),
        ],
    }


def _facts(message: AlertMessage) -> dict[str, Any]:
    # The status line sits in the header; the link becomes a button (or a markdown link once resolved).
    facts = [
        {"title": label, "value": f"[{value}]({value})" if label == "Link" else value}
        for label, value in fact_lines(message)
        if label != "Status" and not (label == "Link" and not message.is_resolved)
    ]
    return {"type": "FactSet", "facts": facts}


def _orders(message: AlertMessage) -> list[dict[str, Any]]:
    if not message.blocked_orders:
        return []
    lines = []
    for order in message.blocked_orders[:MAX_ORDER_LINES]:
        rep = f", rep {order.rep}" if order.rep else ""
        lines.append(f"- {order.order_id}: {order.requested} requested, {order.available} available{rep}")
    hidden = len(message.blocked_orders) - MAX_ORDER_LINES
    if hidden > 0:
        lines.append(f"- and {hidden} more")
    return [
        _text("Blocked orders", weight="Bolder", spacing="Medium", separator=True),
        _text("\n".join(lines), spacing="Small"),
    ]


def _execute(title: str, verb: str, data: dict[str, Any], style: str | None = None) -> dict[str, Any]:
    action: dict[str, Any] = {"type": "Action.Execute", "title": title, "verb": verb, "data": data}
    if style:
        action["style"] = style
    return action


def _snooze(alert_id: int) -> dict[str, Any]:
    buttons = [
        _execute(title, VERB_SNOOZE, {"alert_id": alert_id, "snooze": value})
        for value, title in SNOOZE_CHOICES
    ]
    return {
        "type": "Action.ShowCard",
        "title": "Snooze",
        "card": {
            "type": "AdaptiveCard",
            "body": [_text("Snooze reminders and escalation for this alert:", isSubtle=True)],
            "actions": buttons,
        },
    }


def alert_actions(message: AlertMessage) -> list[dict[str, Any]]:
    """The buttons for the alert's state: none once resolved; Acknowledge only until someone has."""
    if message.is_resolved:
        return []
    data = {"alert_id": message.alert_id}
    actions = []
    if not message.acknowledged_by:
        actions.append(_execute("Acknowledge", VERB_ACK, data, style="positive"))
    actions.append(_execute("Escalate", VERB_ESCALATE, data, style="destructive"))
    actions.append(_snooze(message.alert_id))
    if message.link:
        actions.append({"type": "Action.OpenUrl", "title": "Open in stockbot", "url": message.link})
    return actions


def _footer(message: AlertMessage) -> dict[str, Any]:
    return _text(
        f"stockbot alert #{message.alert_id} · updated {message.updated_at:%Y-%m-%d %H:%M} UTC",
        size="Small",
        isSubtle=True,
        spacing="Medium",
    )


def alert_card(message: AlertMessage) -> dict[str, Any]:
    """The interactive alert card a bot posts and refreshes in place."""
    if message.report is not None:
        return report_adaptive_card(message.report)
    if message.digest:
        return digest_card(message)
    body = [_header(message), _facts(message), *_orders(message), _footer(message)]
    if message.custom_text:  # the channel's own wording replaces the facts; header, buttons, footer stay
        body[1:-1] = [_text(message.custom_text, spacing="Medium")]
    return _card(body, alert_actions(message), headline(message))


def notice_card(message: AlertMessage, notice: str) -> dict[str, Any]:
    """The refreshed card plus why the click was refused ("already acknowledged by dana", …)."""
    card = alert_card(message)
    card["body"].insert(0, _text(notice, color="Attention", weight="Bolder"))
    return card


def error_card(text: str) -> dict[str, Any]:
    """A card that only says something went wrong: the answer when there is no alert to show."""
    return _card([_text(text, color="Attention", weight="Bolder")], [], text)


def attachment(card: dict[str, Any]) -> dict[str, Any]:
    """The Bot Framework / webhook attachment that carries a card."""
    return {"contentType": CARD_CONTENT_TYPE, "content": card}


# --- answers to the ``stock`` command (the Teams front end, bot/teams_app.py) ---------------------------


def local_time(moment: datetime) -> str:
    """A time each reader sees in their own time zone: the Adaptive Card DATE/TIME functions (TextBlock)."""
    stamp = moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return f"{{{{DATE({stamp}, SHORT)}}}} {{{{TIME({stamp})}}}}"


def _stock_severity(where: LocationStock) -> tuple[str, str]:
    severity = where.alert.severity if where.alert else where.severity
    if severity is None:
        return "In stock", "Good"
    return SEVERITY_WORDS.get(severity, severity), SEVERITY_COLOURS.get(severity, "Warning")


def _alert_line(alert: OpenAlert, escalated_to: Sequence[str]) -> str:
    parts = [f"Alert #{alert.id} open since {local_time(alert.opened_at)}"]
    if alert.acknowledged_by:
        parts.append(f"acknowledged by {alert.acknowledged_by}")
    else:
        parts.append("not yet acknowledged")
    if alert.escalation_step > 0:
        to = f" ({', '.join(escalated_to)})" if escalated_to else ""
        by = f" by {alert.escalated_by}" if alert.escalated_by else ""
        parts.append(f"escalated to level {alert.escalation_step}{to}{by}")
    if alert.snoozed_until:
        parts.append(f"snoozed until {local_time(alert.snoozed_until)}")
    if alert.blocked_quantity:
        parts.append(f"{alert.blocked_quantity} units on blocked orders")
    return " · ".join(parts)


def _location_items(where: LocationStock, escalated_to: Sequence[str]) -> list[dict[str, Any]]:
    on_hand = "level unknown" if where.on_hand is None else f"{where.on_hand} on hand"
    critical = f", critical at {where.critical_level}" if where.critical_level is not None else ""
    words, colour = _stock_severity(where)
    items = [
        _text(
            f"**{where.location}**: {on_hand} / minimum {where.minimum}{critical} · {words}",
            color=colour,
            spacing="Small",
        )
    ]
    notes = [_alert_line(where.alert, escalated_to)] if where.alert else []
    if where.last_event_at:
        source = f" from {where.last_source}" if where.last_source else ""
        notes.append(f"Level last changed {local_time(where.last_event_at)}{source}")
    else:
        notes.append("No stock event received yet (level from the catalog)")
    items += [_text(note, isSubtle=True, size="Small", spacing="None") for note in notes]
    return items


def _product(product: ProductStock, escalations: Mapping[tuple[str, str], Sequence[str]]) -> dict[str, Any]:
    facts = [product.sku, *([product.category] if product.category else [])]
    if product.key_product:
        facts.append("key product")
    items = [
        _text(product.name, weight="Bolder", size="Medium"),
        _text(" · ".join(facts), isSubtle=True, spacing="None"),
    ]
    for where in product.locations:
        items += _location_items(where, escalations.get((product.sku, where.location), ()))
    if not product.locations:
        items.append(_text("No location stocks this product in the catalog.", isSubtle=True))
    return {"type": "Container", "separator": True, "spacing": "Medium", "items": items}


def stock_card(
    found: Sequence[ProductStock],
    *,
    more: bool = False,
    escalations: Mapping[tuple[str, str], Sequence[str]] | None = None,
) -> dict[str, Any]:
    """The answer to ``stock``: each product's level per location against its minimum, with any open alert
    (the same facts as Slack's ``/stock``)."""
    escalations = escalations or {}
    body = [_product(product, escalations) for product in found]
    if more:
        body.append(
            _text(f"More products match; showing the first {len(found)}. Add words to narrow.", isSubtle=True)
        )
    if len(found) == 1:
        product = found[0]
        short = [w.location for w in product.locations if _stock_severity(w)[0] != "In stock"]
        state = f"short at {', '.join(short)}" if short else "in stock everywhere"
        fallback = f"{product.name} ({product.sku}): {state}"
    else:
        fallback = f"{len(found)} products match: " + ", ".join(p.sku for p in found)
    return _card(body, [], fallback)


def digest_card(message: AlertMessage) -> dict[str, Any]:
    body: list[dict[str, Any]] = [
        {
            "type": "TextBlock",
            "text": digest_title(message),
            "weight": "Bolder",
            "size": "Medium",
            "wrap": True,
        },
        *(
            {
                "type": "TextBlock",
                "text": digest_line(i),
                "wrap": True,
                "spacing": "Small",
                "color": "Good" if i.is_resolved else ("Attention" if i.severity != "low" else "Warning"),
            }
            for i in message.digest[:60]
        ),
    ]
    ids = digest_open_ids(message)
    actions = (
        [
            {
                "type": "Action.Execute",
                "title": f"Acknowledge all {len(ids)}",
                "verb": ACK_ALL_VERB,
                "data": {"alert_ids": ids},
            }
        ]
        if ids
        else []
    )
    card: dict[str, Any] = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.5",
        "fallbackText": digest_title(message),
        "body": body,
    }
    if actions:
        card["actions"] = actions
    return card


# --- reports (the ``report`` command and scheduled reports) ------------------------------------------------

_IMPROVED_COLOUR = {True: "Good", False: "Attention", None: "Default"}


def _figure_column(figure: Figure) -> dict[str, Any]:
    change = change_text(figure)
    items = [
        _text(figure.label, isSubtle=True, size="Small"),
        _text(figure.value, size="Large", weight="Bolder", spacing="None"),
    ]
    if change:
        items.append(_text(change, size="Small", spacing="None", color=_IMPROVED_COLOUR[figure.improved]))
    return {"type": "Column", "width": "stretch", "items": items}


def report_adaptive_card(card: ReportCard) -> dict[str, Any]:
    """Key figures in rows of three (arrows against the previous period), then the top repeat offenders."""
    rows = [
        {
            "type": "ColumnSet",
            "columns": [_figure_column(f) for f in card.figures[i : i + 3]],
            "spacing": "Medium",
        }
        for i in range(0, len(card.figures), 3)
    ]
    offenders = [
        _text(report_offender_text(i, o), spacing="Small", size="Small")
        for i, o in enumerate(card.offenders, 1)
    ] or [_text("No repeat offenders in this period.", isSubtle=True, spacing="Small")]
    body = [
        _text(card.title, size="Medium", weight="Bolder"),
        _text(card.period, isSubtle=True, spacing="None", size="Small"),
        *rows,
        _text("Top repeat offenders", weight="Bolder", spacing="Medium", separator=True),
        *offenders,
    ]
    actions = (
        [{"type": "Action.OpenUrl", "title": "Open the dashboard", "url": card.link}] if card.link else []
    )
    return _card(body, actions, card.title)


def dashboard_card(link: str, minutes: int) -> dict[str, Any]:
    """The answer to ``dashboard`` in a personal chat: the personal link as a button."""
    body = [
        _text("Your stockbot dashboard", size="Medium", weight="Bolder"),
        _text(f"This personal link works once, for {minutes} minutes. Do not share it.", isSubtle=True),
    ]
    actions = [{"type": "Action.OpenUrl", "title": "Open the dashboard", "url": link}]
    return _card(body, actions, f"Your personal stockbot dashboard link: {link}")
