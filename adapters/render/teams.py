"""Adaptive Cards (1.5) for Microsoft Teams: the alert card, the same card with a notice, an error card and
the digest card (answers to typed commands are in teams_answers.py).

Pure functions, golden-tested against the Adaptive Card 1.5 JSON schema. Buttons are Universal Actions
(``Action.Execute``): Teams sends the bot an ``invoke`` activity named ``adaptiveCard/action`` whose
``value.action`` carries ``verb`` and ``data``; the bot answers with the refreshed card. The verbs and data:

- ``stockbot.ack``       data ``{"alert_id": 42}``
- ``stockbot.escalate``  data ``{"alert_id": 42}``
- ``stockbot.snooze``    data ``{"alert_id": 42, "snooze": "1h" | "4h" | "tomorrow"}``
- ``stockbot.resolve``   data ``{"alert_id": 42}`` plus the input ``reason`` (managers close it by hand)

Wording comes from :mod:`adapters.render.text`, so Teams says what Slack, e-mail and SMS say, in
``message.language``. Times use the Adaptive Card ``DATE()``/``TIME()`` functions, which Teams shows in each
reader's own zone; those work in a TextBlock only, so a card's times sit in TextBlocks, never in its FactSet.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime
from typing import Any

from stockbot.adapters.base import AlertMessage
from stockbot.adapters.i18n import DEFAULT_LANGUAGE, N_, gettext_for, ngettext_for, tr
from stockbot.adapters.message import RECOVERING, alert_condition
from stockbot.adapters.render.text import (
    change_text,
    digest_line,
    digest_open_ids,
    digest_title,
    fact_lines,
    headline,
    report_offender_text,
    status_line,
    time_facts,
)
from stockbot.adapters.report_card import Figure, ReportCard

CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"
CARD_SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"
CARD_VERSION = "1.5"  # the highest version Teams renders for bots and Workflows

VERB_ACK = "stockbot.ack"
VERB_ESCALATE = "stockbot.escalate"
VERB_SNOOZE = "stockbot.snooze"
VERB_RESOLVE = "stockbot.resolve"
RESOLVE_REASON = "reason"  # the Input.Text id: Teams merges its value into the action's data
ACK_ALL_VERB = "stockbot.ack_all"  # a digest's button: data {"alert_ids": [...]}
VERBS = frozenset({VERB_ACK, VERB_ESCALATE, VERB_SNOOZE, VERB_RESOLVE})
# Each button's action, as bot/permissions.py names it: a person's own list shows only those they may use.
ACTION_OF_VERB = {
    VERB_ACK: "acknowledge",
    VERB_ESCALATE: "escalate",
    VERB_SNOOZE: "snooze",
    VERB_RESOLVE: "resolve",
}
SNOOZE_CHOICES = (("1h", N_("1 hour")), ("4h", N_("4 hours")), ("tomorrow", N_("Until tomorrow")))

SEVERITY_COLOURS = {"critical": "Attention", "out": "Attention", "low": "Warning"}
MAX_ORDER_LINES = 10  # a Teams message tops out near 28 KB; long order lists are summarised


def local_time(moment: datetime) -> str:
    """A time each reader sees in their own time zone: the Adaptive Card DATE/TIME functions (TextBlock)."""
    stamp = moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return f"{{{{DATE({stamp}, SHORT)}}}} {{{{TIME({stamp})}}}}"


def severity_colour(message: AlertMessage) -> str:
    if message.is_resolved:
        return "Good"
    if alert_condition(message) == RECOVERING:
        return "Warning"  # above the minimum again, but still open
    return SEVERITY_COLOURS.get(message.severity, "Warning")


def text_block(text: str, **style: Any) -> dict[str, Any]:
    return {"type": "TextBlock", "text": text, "wrap": True, **style}


def adaptive_card(body: list[dict[str, Any]], actions: list[dict[str, Any]], fallback: str) -> dict[str, Any]:
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
            text_block(headline(message), size="Medium", weight="Bolder", color=severity_colour(message)),
            text_block(status_line(message, local_time), spacing="Small", isSubtle=True),
        ],
    }


def _facts(message: AlertMessage) -> dict[str, Any]:
    # The status line sits in the header; the link becomes a button (or a markdown link once resolved).
    _ = gettext_for(message.language)
    status, link = _("Status"), _("Link")
    facts = [
        {"title": label, "value": f"[{value}]({value})" if label == link else value}
        for label, value in fact_lines(message, times=False)
        if label != status and not (label == link and not message.is_resolved)
    ]
    return {"type": "FactSet", "facts": facts}


def _times(message: AlertMessage) -> dict[str, Any]:
    """Since when, in each reader's zone: DATE()/TIME() are not expanded inside a FactSet."""
    lines = [f"**{label}:** {value}" for label, value in time_facts(message, local_time)]
    return text_block("\n\n".join(lines), spacing="Small", size="Small")


def _orders(message: AlertMessage) -> list[dict[str, Any]]:
    if not message.blocked_orders:
        return []
    _ = gettext_for(message.language)
    lines = []
    for order in message.blocked_orders[:MAX_ORDER_LINES]:
        line = _("{order}: {requested} requested, {available} available").format(
            order=order.order_id, requested=order.requested, available=order.available
        )
        rep = ", " + _("rep {who}").format(who=order.rep) if order.rep else ""
        lines.append(f"- {line}{rep}")
    hidden = len(message.blocked_orders) - MAX_ORDER_LINES
    if hidden > 0:
        lines.append("- " + _("and {count} more").format(count=hidden))
    return [
        text_block(_("Blocked orders"), weight="Bolder", spacing="Medium", separator=True),
        text_block("\n".join(lines), spacing="Small"),
    ]


def _execute(title: str, verb: str, data: dict[str, Any], style: str | None = None) -> dict[str, Any]:
    action: dict[str, Any] = {"type": "Action.Execute", "title": title, "verb": verb, "data": data}
    if style:
        action["style"] = style
    return action


def _snooze(data: dict[str, Any], language: str) -> dict[str, Any]:
    _ = gettext_for(language)
    buttons = [_execute(_(title), VERB_SNOOZE, {**data, "snooze": value}) for value, title in SNOOZE_CHOICES]
    return {
        "type": "Action.ShowCard",
        "title": _("Snooze"),
        "card": {
            "type": "AdaptiveCard",
            "body": [text_block(_("Snooze reminders and escalation for this alert:"), isSubtle=True)],
            "actions": buttons,
        },
    }


def _resolve(data: dict[str, Any], language: str) -> dict[str, Any]:
    """A card to confirm on, with room for why (the audit log keeps it): Teams has no confirm dialog."""
    _ = gettext_for(language)
    reason = {
        "type": "Input.Text",
        "id": RESOLVE_REASON,
        "placeholder": _("Why? e.g. flagged by mistake"),
        "maxLength": 200,
    }
    return {
        "type": "Action.ShowCard",
        "title": _("Resolve"),
        "card": {
            "type": "AdaptiveCard",
            "body": [
                text_block(
                    _(
                        "Close this alert by hand (managers), whatever the level says. If the level is still "
                        "short, the next event or stock check opens it again."
                    ),
                    isSubtle=True,
                ),
                reason,
            ],
            "actions": [_execute(_("Resolve"), VERB_RESOLVE, data, style="positive")],
        },
    }


def alert_actions(
    message: AlertMessage, *, may: Collection[str] | None = None, context: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    """The buttons for the alert's state: none once resolved; Acknowledge only until someone has.

    ``may``: the actions the one reader may take (a personal list); None for a card a whole channel sees.
    ``context``: more data every button carries back (which list the click came from)."""
    if message.is_resolved:
        return []
    _ = gettext_for(message.language)
    data = {"alert_id": message.alert_id, **(context or {})}
    shown = {verb for verb, action in ACTION_OF_VERB.items() if may is None or action in may}
    actions = []
    if not message.acknowledged_by and VERB_ACK in shown:
        actions.append(_execute(_("Acknowledge"), VERB_ACK, data, style="positive"))
    if VERB_ESCALATE in shown:
        actions.append(_execute(_("Escalate"), VERB_ESCALATE, data, style="destructive"))
    if VERB_SNOOZE in shown:
        actions.append(_snooze(data, message.language))
    if VERB_RESOLVE in shown:
        actions.append(_resolve(data, message.language))
    if message.link:
        actions.append({"type": "Action.OpenUrl", "title": _("Open in stockbot"), "url": message.link})
    return actions


def _footer(message: AlertMessage) -> dict[str, Any]:
    _ = gettext_for(message.language)
    return text_block(
        _("stockbot alert #{id} · updated {time}").format(
            id=message.alert_id, time=local_time(message.updated_at)
        ),
        size="Small",
        isSubtle=True,
        spacing="Medium",
    )


def alert_card(message: AlertMessage) -> dict[str, Any]:
    """The interactive alert card a bot posts and refreshes in place."""
    if message.report is not None:
        return report_adaptive_card(message.report, message.language)
    if message.digest:
        return digest_card(message)
    body = [_header(message), _facts(message), _times(message), *_orders(message), _footer(message)]
    if message.custom_text:  # the channel's own wording replaces the facts; header, buttons, footer stay
        body[1:-1] = [text_block(message.custom_text, spacing="Medium")]
    return adaptive_card(body, alert_actions(message), headline(message))


def notice_card(message: AlertMessage, notice: str) -> dict[str, Any]:
    """The refreshed card plus why the click was refused ("already acknowledged by dana", …)."""
    card = alert_card(message)
    card["body"].insert(0, text_block(notice, color="Attention", weight="Bolder"))
    return card


def error_card(text: str) -> dict[str, Any]:
    """A card that only says something went wrong: the answer when there is no alert to show."""
    return adaptive_card([text_block(text, color="Attention", weight="Bolder")], [], text)


def attachment(card: dict[str, Any]) -> dict[str, Any]:
    """The Bot Framework / webhook attachment that carries a card."""
    return {"contentType": CARD_CONTENT_TYPE, "content": card}


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
    acknowledge_all = tr(message.language, "Acknowledge all {count}").format(count=len(ids))
    actions = (
        [
            {
                "type": "Action.Execute",
                "title": acknowledge_all,
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


def _figure_column(figure: Figure, language: str) -> dict[str, Any]:
    change = change_text(figure, language)
    items = [
        text_block(figure.label_text(language), isSubtle=True, size="Small"),
        text_block(figure.value_text(language), size="Large", weight="Bolder", spacing="None"),
    ]
    if change:
        items.append(
            text_block(change, size="Small", spacing="None", color=_IMPROVED_COLOUR[figure.improved])
        )
    return {"type": "Column", "width": "stretch", "items": items}


def report_adaptive_card(card: ReportCard, language: str = DEFAULT_LANGUAGE) -> dict[str, Any]:
    """Key figures in rows of three (arrows against the previous period), then the top repeat offenders, in
    ``language`` (the asker's, or a scheduled report's channel's)."""
    _ = gettext_for(language)
    rows = [
        {
            "type": "ColumnSet",
            "columns": [_figure_column(f, language) for f in card.figures[i : i + 3]],
            "spacing": "Medium",
        }
        for i in range(0, len(card.figures), 3)
    ]
    offenders = [
        text_block(report_offender_text(i, o, language), spacing="Small", size="Small")
        for i, o in enumerate(card.offenders, 1)
    ] or [text_block(_("No repeat offenders in this period."), isSubtle=True, spacing="Small")]
    title = card.title(language)
    body = [
        text_block(title, size="Medium", weight="Bolder"),
        text_block(card.period(language), isSubtle=True, spacing="None", size="Small"),
        *rows,
        text_block(_("Top repeat offenders"), weight="Bolder", spacing="Medium", separator=True),
        *offenders,
    ]
    opens = _("Open the dashboard")
    actions = [{"type": "Action.OpenUrl", "title": opens, "url": card.link}] if card.link else []
    return adaptive_card(body, actions, title)


def dashboard_card(link: str, minutes: int, language: str = DEFAULT_LANGUAGE) -> dict[str, Any]:
    """The answer to ``dashboard`` in a personal chat: the personal link as a button."""
    _, ngettext = gettext_for(language), ngettext_for(language)
    works = ngettext(
        "This personal link works once, for {count} minute. Do not share it.",
        "This personal link works once, for {count} minutes. Do not share it.",
        minutes,
    )
    body = [
        text_block(_("Your stockbot dashboard"), size="Medium", weight="Bolder"),
        text_block(works.format(count=minutes), isSubtle=True),
    ]
    actions = [{"type": "Action.OpenUrl", "title": _("Open the dashboard"), "url": link}]
    return adaptive_card(body, actions, _("Your personal stockbot dashboard link: {link}").format(link=link))
