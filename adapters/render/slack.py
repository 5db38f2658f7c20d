"""Block Kit for Slack alert cards and their thread replies. Pure functions, golden-tested.

What the card sends back (handled by the Bolt front end), all in the actions block ``stockbot_alert_actions``:

- button ``stockbot_ack``, value ``"<alert_id>"`` (only while nobody has acknowledged);
- button ``stockbot_escalate``, value ``"<alert_id>"`` (Slack asks for confirmation first);
- select ``stockbot_snooze``, selected option value ``"<alert_id>:1h"``, ``"<alert_id>:4h"`` or
  ``"<alert_id>:tomorrow"`` (tomorrow 9:00 in the workspace time zone);
- button ``stockbot_resolve``, value ``"<alert_id>"`` (managers close an alert by hand; Slack asks first).

A resolved card has no actions block. Text is Slack mrkdwn: user input is escaped (``&``, ``<``, ``>``),
user ids become mentions, times use ``<!date^…>`` so every reader sees their own time zone. Words come from
the catalog of ``message.language`` (the channel's language, :mod:`adapters.i18n`).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from stockbot.adapters.base import AlertMessage
from stockbot.adapters.i18n import DEFAULT_LANGUAGE, N_, gettext_for, ngettext_for, tr, zone_time
from stockbot.adapters.message import RECOVERING, alert_condition, duration_text, feed_source
from stockbot.adapters.notes import note_text
from stockbot.adapters.render.text import (
    change_text,
    digest_line,
    digest_open_ids,
    digest_title,
    headline,
    level_text,
    report_figure_text,
    status_line,
    trigger_label,
    worsened_text,
)
from stockbot.adapters.report_card import Figure, Offender, ReportCard

ACTIONS_BLOCK_ID = "stockbot_alert_actions"
ACK_ACTION_ID = "stockbot_ack"
ESCALATE_ACTION_ID = "stockbot_escalate"
SNOOZE_ACTION_ID = "stockbot_snooze"
RESOLVE_ACTION_ID = "stockbot_resolve"
ACK_ALL_ACTION = "stockbot_ack_all"  # a digest's button: value is the comma-separated alert ids
SNOOZE_CHOICES = (("1h", N_("1 hour")), ("4h", N_("4 hours")), ("tomorrow", N_("Until tomorrow 9:00")))

SEVERITY_EMOJI = {"low": ":large_yellow_circle:", "out": ":red_circle:", "critical": ":rotating_light:"}
SEVERITY_LABEL = {"low": N_("Low stock"), "out": N_("Out of stock"), "critical": N_("CRITICAL")}
DIGEST_EMOJI = {"critical": ":rotating_light:", "out": ":red_circle:", "low": ":large_yellow_circle:"}
RESOLVED_LABEL = N_("Back in stock")
RESOLVED_BY_HAND_LABEL = N_("Resolved by hand")
RECOVERING_EMOJI = ":large_green_circle:"

# Slack's documented limits for the objects used here (Block Kit reference).
HEADER_TEXT_MAX = 150
SECTION_TEXT_MAX = 3000
FIELD_TEXT_MAX = 2000
CONFIRM_TEXT_MAX = 300
MAX_LISTED_ORDERS = 10

# U…/W… with at least one digit, so that actor names such as "WMS" or "UPS" stay names.
_SLACK_USER = re.compile(r"^<?@?([UW](?=[A-Z0-9]*[0-9])[A-Z0-9]{2,})>?$")


# --- small pieces ----------------------------------------------------------------------------------------


def escape(text: str) -> str:
    """Slack treats ``&``, ``<`` and ``>`` as control characters in mrkdwn and message text."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def who(actor: str | None, language: str = DEFAULT_LANGUAGE) -> str:
    """A Slack user id becomes a mention (``<@U123>``); anything else is shown as an escaped name."""
    if not actor:
        return tr(language, "someone")
    match = _SLACK_USER.match(actor.strip())
    return f"<@{match.group(1)}>" if match else escape(actor)


def slack_date(when: datetime, timezone: str = "UTC") -> str:
    """Slack shows this in each reader's own time zone; the fallback (old clients, notifications) uses the
    workspace time zone."""
    fallback = zone_time(when, timezone)
    return f"<!date^{int(when.timestamp())}^{{date_short_pretty}} {{time}}|{fallback}>"


def severity_label(severity: str, language: str = DEFAULT_LANGUAGE) -> str:
    """``Out of stock``, ``CRITICAL``: a card's short severity word, translated."""
    return tr(language, SEVERITY_LABEL[severity]) if severity in SEVERITY_LABEL else severity


def severity_text(message: AlertMessage) -> str:
    label = severity_label(message.severity, message.language)
    if alert_condition(message) == RECOVERING:  # above the minimum again: say so, not "Out of stock"
        was = tr(message.language, "Recovering (was {severity})").format(severity=label)
        return f"{RECOVERING_EMOJI} {was}"
    emoji = SEVERITY_EMOJI.get(message.severity, ":grey_question:")
    return f"{emoji} {label}"


def _plain(text: str, limit: int = 75) -> dict[str, Any]:
    return {"type": "plain_text", "text": clip(text, limit), "emoji": True}


def _mrkdwn(text: str, limit: int = SECTION_TEXT_MAX) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": clip(text, limit)}


def _level(message: AlertMessage) -> str:
    return level_text(message, who=lambda actor: who(actor, message.language))


# --- the card --------------------------------------------------------------------------------------------


def mention_text(mentions: tuple[str, ...]) -> str:
    """An escalation step's people: Slack user ids as user mentions, user-group ids (S…) as group mentions;
    anything else (a Teams member's id) as plain text."""
    parts = []
    for mention in mentions:
        if mention.startswith("S") and mention[1:].isalnum():
            parts.append(f"<!subteam^{mention}>")
        elif mention.startswith(("U", "W")) and mention[1:].isalnum():
            parts.append(f"<@{mention}>")
    return " ".join(parts)


def alert_text(message: AlertMessage) -> str:
    """The notification and fallback text: what a phone shows when the card arrives (mentions first, so the
    people an escalation step names are notified)."""
    if message.report is not None:
        return report_text(message.report, message.language)
    mentions = mention_text(message.mentions)
    text = _alert_text(message)
    return clip(f"{mentions} {text}", SECTION_TEXT_MAX) if mentions else text


def _alert_text(message: AlertMessage) -> str:
    if message.custom_text:  # the channel's own wording (its template) is what a phone shows
        return clip(escape(message.custom_text), SECTION_TEXT_MAX)
    if feed_source(message) is not None:
        return clip(escape(_feed_title(message)), SECTION_TEXT_MAX)
    if message.digest:  # its title words the alerts it stands for
        return clip(escape(digest_title(message)), SECTION_TEXT_MAX)
    text = tr(message.language, "{status}: {product} ({sku}) at {location}").format(
        status=_label(message),
        product=escape(message.product_name),
        sku=escape(message.sku),
        location=escape(message.location),
    )
    return clip(f"{text} — {_level(message)}", SECTION_TEXT_MAX)


def alert_blocks(message: AlertMessage, timezone: str = "UTC") -> list[dict[str, Any]]:
    """The card; ``timezone`` is only the fallback's (Slack shows each reader their own)."""
    _ = gettext_for(message.language)
    if message.report is not None:
        return report_blocks(message.report, message.language)
    if message.digest:
        return digest_blocks(message)
    label = _label(message)
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": _plain(_title(message, label), HEADER_TEXT_MAX)},
        {"type": "section", "fields": _fields(message, timezone)},
    ]
    if message.blocked_orders:
        blocks.append({"type": "section", "text": _mrkdwn(_orders(message))})
    if message.reason:
        reason = _("*Reason:* {reason}").format(reason=escape(note_text(message.reason, message.language)))
        blocks.append({"type": "section", "text": _mrkdwn(reason)})
    if message.custom_text:  # the channel's own wording replaces the facts; header, status, buttons stay
        blocks[1:] = [{"type": "section", "text": _mrkdwn(escape(message.custom_text))}]
    blocks.append({"type": "context", "elements": _context(message, timezone)})
    if mention_text(message.mentions) and not message.is_resolved:
        blocks.append({"type": "section", "text": _mrkdwn(f"cc {mention_text(message.mentions)}")})
    if not message.is_resolved:
        blocks.append({"type": "actions", "block_id": ACTIONS_BLOCK_ID, "elements": _actions(message)})
    return blocks


def _label(message: AlertMessage) -> str:
    _ = gettext_for(message.language)
    if message.resolved_by_hand:
        return f":ballot_box_with_check: {_(RESOLVED_BY_HAND_LABEL)}"
    return f":white_check_mark: {_(RESOLVED_LABEL)}" if message.is_resolved else severity_text(message)


def _title(message: AlertMessage, label: str) -> str:
    if feed_source(message) is not None:
        return _feed_title(message)
    return tr(message.language, "{status}: {product}").format(status=label, product=message.product_name)


def _feed_title(message: AlertMessage) -> str:
    """Feed-watchdog alerts (bot/watchdog.py) name the feed, not a product."""
    emoji = ":white_check_mark:" if message.is_resolved else SEVERITY_EMOJI.get(message.severity, "")
    return f"{emoji} {headline(message)}"


def _feed_fields(message: AlertMessage, timezone: str) -> list[dict[str, Any]]:
    _ = gettext_for(message.language)
    quiet_from = message.last_changed_at or message.opened_at
    facts = [
        (_("Feed"), escape(feed_source(message) or "")),
        (_("Silent since"), slack_date(quiet_from, timezone)),
        (_("Severity"), severity_text(message)),
        (_("Since"), slack_date(message.opened_at, timezone)),
    ]
    return [_mrkdwn(f"*{label}*\n{value}", FIELD_TEXT_MAX) for label, value in facts]


def _fields(message: AlertMessage, timezone: str) -> list[dict[str, Any]]:
    if feed_source(message) is not None:
        return _feed_fields(message, timezone)
    _ = gettext_for(message.language)
    level = _level(message)
    if message.critical_level is not None:
        level += " " + _("(critical at {level})").format(level=message.critical_level)
    severity = severity_text(message) + ("\n:star: " + _("Key product") if message.key_product else "")
    facts = [
        (_("SKU"), escape(message.sku)),
        (_("Location"), escape(message.location)),
        (_("Level"), level),
        (_("Severity"), severity),
        (_("Trigger"), escape(trigger_label(message.trigger, message.language))),
        (_("Since"), slack_date(message.opened_at, timezone)),
    ]
    return [_mrkdwn(f"*{label}*\n{value}", FIELD_TEXT_MAX) for label, value in facts]


def _orders(message: AlertMessage) -> str:
    _ = gettext_for(message.language)
    lines = [_("*Blocked orders* ({units} units short)").format(units=message.blocked_quantity)]
    for order in message.blocked_orders[:MAX_LISTED_ORDERS]:
        line = _("{order}: {requested} requested, {available} available").format(
            order=escape(order.order_id), requested=order.requested, available=order.available
        )
        rep = ", " + _("rep {who}").format(who=who(order.rep, message.language)) if order.rep else ""
        lines.append(f"• {line}{rep}")
    hidden = len(message.blocked_orders) - MAX_LISTED_ORDERS
    if hidden > 0:
        lines.append(_("…and {count} more").format(count=hidden))
    return "\n".join(lines)


def card_status(message: AlertMessage, timezone: str = "UTC") -> str:
    """The line under the facts that changes as the alert moves: who acknowledged, escalation, snooze."""
    _, lang = gettext_for(message.language), message.language
    if message.is_resolved and feed_source(message) is not None:
        return f":white_check_mark: {escape(status_line(message))}"
    if message.resolved_by_hand and message.resolved_at:
        took = duration_text(message.opened_at, message.resolved_at, lang)
        line = _("Resolved by {who} after {duration}: {note}").format(
            who=who(message.resolved_by, lang),
            duration=took,
            note=escape(note_text(message.resolved_note, lang)),
        )
        return f":ballot_box_with_check: {line}"
    if message.is_resolved and message.resolved_at:
        took = duration_text(message.opened_at, message.resolved_at, lang)
        line = _("Back in stock after {duration}").format(duration=took)
        if message.resolved_by:
            line += " " + _("(reported by {who})").format(who=who(message.resolved_by, lang))
        return f":white_check_mark: {line}"
    parts = []
    if message.acknowledged_by:
        line = _("Acknowledged by {who}").format(who=who(message.acknowledged_by, lang))
        when = f" {slack_date(message.acknowledged_at, timezone)}" if message.acknowledged_at else ""
        parts.append(f":eyes: {line}{when}")
    if message.escalation_level > 0:
        line = _("Escalated to level {level}").format(level=message.escalation_level)
        if message.escalated_by:
            line = _("{escalated} by {who}").format(escalated=line, who=who(message.escalated_by, lang))
        note = f": {escape(note_text(message.escalation_note, lang))}" if message.escalation_note else ""
        parts.append(f":arrow_double_up: {line}{note}")
    if message.snoozed_until:
        until = _("Snoozed until {time}").format(time=slack_date(message.snoozed_until, timezone))
        parts.append(f":zzz: {until}")
    return " · ".join(parts) or escape(status_line(message, lambda moment: slack_date(moment, timezone)))


def _context(message: AlertMessage, timezone: str) -> list[dict[str, Any]]:
    _ = gettext_for(message.language)
    footer = _("stockbot alert #{id}").format(id=message.alert_id)
    if message.link:
        details = _("details")
        footer += f" · <{message.link}|{details}>"
    return [_mrkdwn(card_status(message, timezone)), _mrkdwn(footer)]


def _actions(message: AlertMessage) -> list[dict[str, Any]]:
    _ = gettext_for(message.language)
    alert = str(message.alert_id)
    elements: list[dict[str, Any]] = []
    if not message.acknowledged_by and message.state != "acknowledged":
        elements.append(
            {
                "type": "button",
                "action_id": ACK_ACTION_ID,
                "text": _plain(_("Acknowledge")),
                "value": alert,
                "style": "primary",
            }
        )
    source = feed_source(message)
    if source:
        subject = _("the silent {source} feed").format(source=source)
    else:
        subject = _("{sku} at {location}").format(sku=message.sku, location=message.location)
    confirm_text = _("The next escalation level is alerted about {subject}.").format(subject=subject)
    elements.append(
        {
            "type": "button",
            "action_id": ESCALATE_ACTION_ID,
            "text": _plain(_("Escalate")),
            "value": alert,
            "style": "danger",
            "confirm": {
                "title": _plain(_("Escalate this alert?"), 100),
                "text": _plain(confirm_text, CONFIRM_TEXT_MAX),
                "confirm": _plain(_("Escalate"), 30),
                "deny": _plain(_("Cancel"), 30),
                "style": "danger",
            },
        }
    )
    elements.append(
        {
            "type": "static_select",
            "action_id": SNOOZE_ACTION_ID,
            "placeholder": _plain(_("Snooze…")),
            "options": [
                {"text": _plain(_(label)), "value": f"{alert}:{key}"} for key, label in SNOOZE_CHOICES
            ],
        }
    )
    resolve_text = _(
        "The alert about {subject} is closed by hand, whatever the level says. If the level is still short, "
        "the next event or stock check opens it again."
    ).format(subject=subject)
    elements.append(
        {
            "type": "button",
            "action_id": RESOLVE_ACTION_ID,
            "text": _plain(_("Resolve")),
            "value": alert,
            "confirm": {
                "title": _plain(_("Resolve this alert?"), 100),
                "text": _plain(resolve_text, CONFIRM_TEXT_MAX),
                "confirm": _plain(_("Resolve"), 30),
                "deny": _plain(_("Cancel"), 30),
            },
        }
    )
    return elements


# --- thread replies --------------------------------------------------------------------------------------


def thread_text(message: AlertMessage, timezone: str = "UTC") -> str:
    """The reply posted in the card's thread for a later event: one line saying what happened."""
    _, lang = gettext_for(message.language), message.language
    event = message.event
    if event == "acknowledged":
        text = _("Acknowledged by {who}").format(who=who(message.acknowledged_by or message.actor, lang))
    elif event == "escalated":
        by = who(message.escalated_by or message.actor, lang)
        note = f": {escape(note_text(message.escalation_note, lang))}" if message.escalation_note else ""
        escalated = _("Escalated to level {level}").format(level=message.escalation_level)
        text = _("{escalated} by {who}").format(escalated=escalated, who=by) + note
    elif event in ("resolved", "reopened") and feed_source(message) is not None:
        text = escape(status_line(message) if event == "resolved" else headline(message))
    elif event == "resolved" and message.resolved_by_hand:
        text = _("Resolved by {who}: {note}").format(
            who=who(message.resolved_by or message.actor, lang),
            note=escape(note_text(message.resolved_note, lang)),
        )
    elif event == "resolved":
        on_hand = "?" if message.on_hand is None else message.on_hand
        took = duration_text(message.opened_at, message.resolved_at or message.updated_at, lang)
        text = _("Back in stock: {on_hand} on hand after {duration}").format(on_hand=on_hand, duration=took)
    elif event == "updated":
        text = _("Updated: {level}").format(level=_level(message))
    elif event == "worsened":
        worse = worsened_text(message, lambda actor: who(actor, lang))
        text = f"{SEVERITY_EMOJI.get(message.severity, '')} {worse}".strip()
    elif event == "snoozed":
        until = slack_date(message.snoozed_until, timezone) if message.snoozed_until else _("later")
        text = _("Snoozed until {time}").format(time=until)
        if message.actor:
            text = _("{snoozed} by {who}").format(snoozed=text, who=who(message.actor, lang))
    elif event == "reopened":
        text = _("Reopened: {severity}, {level}").format(
            severity=severity_text(message), level=_level(message)
        )
    else:
        text = alert_text(message)
    if message.reason and event in ("acknowledged", "snoozed", "reopened"):
        text += f" — {escape(note_text(message.reason, lang))}"
    if event in ("escalated", "worsened") and mention_text(message.mentions):
        text += f" — cc {mention_text(message.mentions)}"
    return clip(text, SECTION_TEXT_MAX)


def digest_blocks(message: AlertMessage) -> list[dict[str, Any]]:
    _ = gettext_for(message.language)
    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {"type": "plain_text", "text": clip(digest_title(message), HEADER_TEXT_MAX)},
        },
    ]
    lines = [f"{DIGEST_EMOJI.get(i.severity, '')} {escape(digest_line(i))}" for i in message.digest[:45]]
    if len(message.digest) > 45:
        lines.append(_("…and {count} more").format(count=len(message.digest) - 45))
    chunk: list[str] = []
    for line in lines:  # a section holds at most 3000 characters
        if sum(len(c) + 1 for c in chunk) + len(line) > 2900:
            blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(chunk)}})
            chunk = []
        chunk.append(line)
    if chunk:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(chunk)}})
    ids = digest_open_ids(message)
    value = ",".join(map(str, ids))
    if ids and len(value) <= 2000:
        blocks.append(
            {
                "type": "actions",
                "block_id": "stockbot_digest_actions",
                "elements": [
                    {
                        "type": "button",
                        "action_id": ACK_ALL_ACTION,
                        "style": "primary",
                        "value": value,
                        "text": {
                            "type": "plain_text",
                            "text": clip(_("Acknowledge all {count}").format(count=len(ids)), 75),
                        },
                    }
                ],
            }
        )
    return blocks


# --- reports (``/stock report`` and scheduled reports) ----------------------------------------------------


def _figure_field(figure: Figure, language: str) -> dict[str, Any]:
    change = change_text(figure, language)
    mark = {True: ":large_green_circle:", False: ":small_red_triangle:", None: ""}[figure.improved]
    line = f"*{escape(figure.label_text(language))}*\n{escape(figure.value_text(language))}"
    if change:
        line += f"  {mark} {escape(change)}" if mark else f"  {escape(change)}"
    return _mrkdwn(line, FIELD_TEXT_MAX)


def _offender_line(index: int, offender: Offender, language: str) -> str:
    ngettext = ngettext_for(language)  # by this name, so the extraction finds the msgids
    words = ngettext(
        "{index}. *{name}* `{sku}` at {location}: {count} stock-out, {time_out} out",
        "{index}. *{name}* `{sku}` at {location}: {count} stock-outs, {time_out} out",
        offender.stockouts,
    )
    return words.format(
        index=index,
        name=escape(offender.name),
        sku=escape(offender.sku),
        location=escape(offender.location),
        count=offender.stockouts,
        time_out=escape(offender.time_out(language)),
    )


def report_blocks(card: ReportCard, language: str = DEFAULT_LANGUAGE) -> list[dict[str, Any]]:
    """Key figures (arrows against the previous period) and the top repeat offenders, in ``language`` (the
    asker's, or a scheduled report's channel's)."""
    _ = gettext_for(language)
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": _plain(card.title(language), HEADER_TEXT_MAX)},
        {"type": "context", "elements": [_mrkdwn(escape(card.period(language)))]},
        {"type": "section", "fields": [_figure_field(f, language) for f in card.figures[:10]]},
    ]
    if card.offenders:
        lines = [_offender_line(i, o, language) for i, o in enumerate(card.offenders, 1)]
        top = "*" + _("Top repeat offenders") + "*\n"
        blocks.append({"type": "section", "text": _mrkdwn(top + "\n".join(lines))})
    else:
        none = "_" + _("No repeat offenders in this period.") + "_"
        blocks.append({"type": "section", "text": _mrkdwn(none)})
    if card.link:
        blocks.append(
            {
                "type": "actions",
                "block_id": "stockbot_report_actions",
                "elements": [
                    {
                        "type": "button",
                        "action_id": "stockbot_open_reports",
                        "text": _plain(_("Open the dashboard")),
                        "url": card.link,
                    }
                ],
            }
        )
    return blocks


def report_text(card: ReportCard, language: str = DEFAULT_LANGUAGE) -> str:
    """The notification text: the title and the first figure."""
    first = card.figures[0] if card.figures else None
    tail = f": {report_figure_text(first, language)}" if first else ""
    return clip(escape(card.title(language) + tail), SECTION_TEXT_MAX)


def card_actions(message: AlertMessage) -> list[dict[str, Any]]:
    """The card's buttons and snooze menu for ``message``: other surfaces (App Home) reuse them as they are,
    so the same click handlers answer them."""
    return _actions(message)
