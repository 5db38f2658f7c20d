"""Wording for text destinations: SMS, e-mail, tickets and tasks. Pure functions, golden-tested.

All wording for non-chat platforms lives here, so a change of tone is one edit, not eighteen.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import dataclass

from stockbot.adapters.message import (
    FLAGGED,
    IN_STOCK,
    RECOVERING,
    REPORTED,
    UNKNOWN,
    AlertMessage,
    LocationStock,
    ProductStock,
    alert_condition,
    duration_text,
    feed_source,
    stock_status,
)

SEVERITY_WORDS = {"low": "Low stock", "out": "Out of stock", "critical": "CRITICAL shortage"}
STATE_WORDS = {
    "open": "open",
    "acknowledged": "acknowledged",
    "escalated": "escalated",
    "resolved": "back in stock",
}
TRIGGER_WORDS = {
    "low_stock": "level at or below minimum",
    "out_of_stock": "level at zero",
    "source_out_of_stock": "source reported out of stock",
    "batch_check": "scheduled stock check",
    "manual": "flagged by warehouse staff",
    "fulfillment_failed": "sales order could not be fulfilled",
    "test": "test alert",
    "feed_silent": "no events from the feed in time",
}
# Tickets and tasks: a priority word from severity, mapped per platform by each adapter.
PRIORITY = {"low": "normal", "out": "high", "critical": "urgent"}


def silence(message: AlertMessage) -> str:
    """How long the feed had been silent at this message (``last_changed_at``: its last event)."""
    end = message.resolved_at or message.updated_at
    return duration_text(message.last_changed_at or message.opened_at, end)


def headline(message: AlertMessage) -> str:
    """One line naming status, product, SKU and location: subjects, titles, notification text."""
    if message.digest:
        return digest_title(message)
    source = feed_source(message)
    if source is not None:
        if message.is_resolved:
            return f"Feed back: {source} events resumed"
        return f"Feed silent: {source} has sent nothing for {silence(message)}"
    if message.is_resolved:
        status = "Resolved by hand" if message.resolved_by_hand else "Back in stock"
    else:
        status = severity_words(message)
    return f"{status}: {message.product_name} ({message.sku}) at {message.location}"


def severity_words(message: AlertMessage) -> str:
    """``Out of stock``; ``Recovering (was out of stock)`` once the level is above the minimum again."""
    words = SEVERITY_WORDS.get(message.severity, message.severity)
    if alert_condition(message) == RECOVERING:
        return f"Recovering (was {words.lower()})"
    return words


def level_text(message: AlertMessage, who: Callable[[str], str] = str) -> str:
    """The level as it is now, and how it squares with the severity: "2 on hand, recovering: resolves above
    2 (minimum 1)", "flagged out of stock by Sam although the system shows 5 on hand (minimum 1)".
    ``who`` writes a person's name (Slack makes mentions of user ids)."""
    if feed_source(message) is not None:
        return "events flowing again" if message.is_resolved else f"no events for {silence(message)}"
    if message.on_hand is None:
        return f"level unknown / minimum {message.minimum}"
    condition, on_hand, minimum = alert_condition(message), message.on_hand, message.minimum
    if condition == RECOVERING:
        if message.resolves_above is None:  # a message queued before stockbot said where it resolves
            return f"{on_hand} on hand, recovering (minimum {minimum})"
        return f"{on_hand} on hand, recovering: resolves above {message.resolves_above} (minimum {minimum})"
    if condition == FLAGGED:
        by = who(message.flagged_by or "someone")
        return f"flagged out of stock by {by} although the system shows {on_hand} on hand (minimum {minimum})"
    if condition == REPORTED:
        source = who(message.last_source or "the source")
        return f"{source} reports out of stock although its level is {on_hand} (minimum {minimum})"
    return f"{on_hand} on hand / minimum {minimum}"


def worsened_text(message: AlertMessage, who: Callable[[str], str] = str) -> str:
    """The news a worse severity is: "Worse: now Out of stock, 0 on hand / minimum 1 (was Low stock)"."""
    was = SEVERITY_WORDS.get(message.previous_severity or "", message.previous_severity or "")
    since = f" (was {was})" if was else ""
    return f"Worse: now {severity_words(message)}, {level_text(message, who)}{since}"


def status_line(message: AlertMessage) -> str:
    """Who did what last: the line that changes as the alert moves."""
    if message.is_resolved and message.resolved_at and feed_source(message) is not None:
        return f"Events resumed after {silence(message)} of silence"
    if message.resolved_by_hand and message.resolved_at:
        took = duration_text(message.opened_at, message.resolved_at)
        return f"Resolved by {message.resolved_by or 'someone'} after {took}: {message.resolved_note}"
    if message.is_resolved and message.resolved_at:
        return f"Back in stock after {duration_text(message.opened_at, message.resolved_at)}"
    if message.state == "escalated":
        who = f" by {message.escalated_by}" if message.escalated_by else ""
        note = f" ({message.escalation_note})" if message.escalation_note else ""
        return f"Escalated to level {message.escalation_level}{who}{note}"
    if message.state == "acknowledged" and message.acknowledged_by:
        return f"Acknowledged by {message.acknowledged_by}"
    if message.snoozed_until:
        return f"Snoozed until {message.snoozed_until:%Y-%m-%d %H:%M} UTC"
    return "Open, not yet acknowledged"


def sms(message: AlertMessage) -> str:
    """Under 160 characters (one GSM segment) and always naming SKU, status and location."""
    if message.digest:
        return _digest_sms(message)
    if message.custom_text:  # the channel's own wording, clipped to the same one segment
        return _clip_sms(message.custom_text)
    source = feed_source(message)
    if source is not None:
        return _clip_sms(_feed_sms(message, source))
    status = "BACK IN STOCK" if message.is_resolved else message.severity.upper()
    if alert_condition(message) == RECOVERING:
        status = "RECOVERING"
    elif message.resolved_by_hand:
        status = "RESOLVED"
    fixed = f"{status} {message.sku} @ {message.location}: {level_text(message)}"
    if message.state in ("acknowledged", "escalated") and not message.is_resolved:
        fixed += f" ({message.state})"
    room = 159 - len(fixed) - 3
    name = message.product_name
    if room < 8:
        return _ascii(fixed)[:159]
    if len(name) > room:
        name = name[: room - 1].rstrip() + "."
    return _ascii(f"{fixed} - {name}")[:159]


def _feed_sms(message: AlertMessage, source: str) -> str:
    if message.is_resolved:
        return f"FEED BACK {source}: events resumed after {silence(message)} of silence"
    state = f" ({message.state})" if message.state in ("acknowledged", "escalated") else ""
    return f"FEED SILENT {source}: no events for {silence(message)}{state}"


def _clip_sms(text: str) -> str:
    text = _ascii(text.strip())
    return text if len(text) <= 159 else text[:156].rstrip() + "..."


def _ascii(text: str) -> str:
    # Non-GSM characters switch an SMS to UCS-2 and 70-character segments: keep it GSM-safe.
    return text.encode("ascii", "replace").decode("ascii")


def fact_lines(message: AlertMessage) -> list[tuple[str, str]]:
    """The facts every rich destination shows, in order, as (label, value) pairs."""
    source = feed_source(message)
    facts = _feed_facts(message, source) if source is not None else _stock_facts(message)
    if message.reason:
        facts.append(("Reason", message.reason))
    if message.link:
        facts.append(("Link", message.link))
    return facts


def _feed_facts(message: AlertMessage, source: str) -> list[tuple[str, str]]:
    quiet_from = message.last_changed_at or message.opened_at
    return [
        ("Feed", source),
        ("Silent since", f"{quiet_from:%Y-%m-%d %H:%M} UTC"),
        ("Severity", message.severity.capitalize()),
        ("Trigger", TRIGGER_WORDS["feed_silent"]),
        ("Status", status_line(message)),
        ("Since", f"{message.opened_at:%Y-%m-%d %H:%M} UTC"),
    ]


def _stock_facts(message: AlertMessage) -> list[tuple[str, str]]:
    facts = [
        ("Product", f"{message.product_name} ({message.sku})"),
        ("Location", message.location),
        ("Level", level_text(message)),
        ("Severity", severity_words(message)),
        ("Trigger", TRIGGER_WORDS.get(message.trigger, message.trigger)),
        ("Status", status_line(message)),
        ("Since", f"{message.opened_at:%Y-%m-%d %H:%M} UTC"),
    ]
    if message.blocked_orders:
        orders = ", ".join(o.order_id for o in message.blocked_orders)
        facts.append(("Blocked orders", f"{orders} ({message.blocked_quantity} units)"))
    return facts


def plain_text(message: AlertMessage) -> str:
    if message.digest:
        return _digest_plain_text(message)
    lines = [headline(message), ""]
    if message.custom_text:  # the channel's own wording in place of the facts
        lines.append(message.custom_text)
    else:
        lines += [f"{label}: {value}" for label, value in fact_lines(message)]
    lines += ["", f"stockbot alert #{message.alert_id}"]
    return "\n".join(lines)


def email_subject(message: AlertMessage) -> str:
    return f"[stockbot] {headline(message)}"


def email_html(message: AlertMessage) -> str:
    if message.digest:
        return _digest_email_html(message)
    if message.custom_text:  # the channel's own wording is plain text: escaped, line breaks kept
        body = "<p>" + html.escape(message.custom_text).replace("\n", "<br>") + "</p>"
    else:
        rows = "".join(
            f"<tr><th align='left' style='padding:2px 12px 2px 0'>{html.escape(label)}</th>"
            f"<td>{html.escape(value)}</td></tr>"
            for label, value in fact_lines(message)
        )
        body = f"<table>{rows}</table>"
    return (
        "<!doctype html><html><body style='font-family:sans-serif'>"
        f"<h2 style='margin:0 0 8px'>{html.escape(headline(message))}</h2>"
        f"{body}"
        f"<p style='color:#666'>stockbot alert #{message.alert_id}</p></body></html>"
    )


@dataclass(frozen=True)
class TicketFields:
    title: str
    description: str
    priority: str  # normal | high | urgent (see PRIORITY); each adapter maps to its platform's words
    labels: tuple[str, ...]


def ticket(message: AlertMessage) -> TicketFields:
    return TicketFields(
        title=headline(message),
        description=plain_text(message),
        priority=PRIORITY.get(message.severity, "normal"),
        labels=("stockbot", message.severity, message.sku.lower()),
    )


def resolution_note(message: AlertMessage) -> str:
    """The comment added when an alert closes: what a ticket's reader needs to close the loop."""
    who = f" ({message.resolved_by})" if message.resolved_by and not message.resolved_by_hand else ""
    return f"{status_line(message)}{who}. {level_text(message)}."


# Digests: one message standing for several alerts (a route's low-stock digest, what quiet hours held, or a
# burst grouped to stay within a platform's rate limit). A digest message has ``event == "digest"`` and its
# alerts in ``message.digest``, most severe first; slack.py and teams.py draw their own from these lines.
DIGEST_MARKS = {"critical": "CRITICAL", "out": "OUT", "low": "LOW"}


def digest_title(message: AlertMessage) -> str:
    return f"Stock digest: {message.product_name}"


def digest_line(item: AlertMessage) -> str:
    mark = "BACK IN STOCK" if item.is_resolved else DIGEST_MARKS.get(item.severity, item.severity.upper())
    if alert_condition(item) == RECOVERING:
        mark = "RECOVERING"
    elif item.resolved_by_hand:
        mark = "RESOLVED"
    return (
        f"{mark} {item.product_name} ({item.sku}) at {item.location}: {level_text(item)}; {status_line(item)}"
    )


def digest_open_ids(message: AlertMessage) -> list[int]:
    """Alerts a bulk Acknowledge applies to: unresolved and not yet acknowledged."""
    return [i.alert_id for i in message.digest if not i.is_resolved and not i.acknowledged_by]


def _digest_plain_text(message: AlertMessage) -> str:
    return "\n".join([digest_title(message), "", *(f"- {digest_line(i)}" for i in message.digest)])


def _digest_sms(message: AlertMessage) -> str:
    """One segment: the counts, then as many SKUs as fit."""
    head = f"{len(message.digest)} stock alerts:"
    skus = [i.sku + ("(ok)" if i.is_resolved else "") for i in message.digest]
    text = head
    for index, sku in enumerate(skus):
        rest = len(skus) - index - 1
        candidate = f"{text} {sku}" + ("," if rest else "")
        if len(candidate) + (len(f" +{rest} more") if rest else 0) > 159:
            return f"{text.rstrip(',')} +{len(skus) - index} more"
        text = candidate
    return text


def _digest_email_html(message: AlertMessage) -> str:
    rows = "".join(f"<li>{html.escape(digest_line(i))}</li>" for i in message.digest)
    return (
        "<!doctype html><html><body style='font-family:sans-serif'>"
        f"<h2 style='margin:0 0 8px'>{html.escape(digest_title(message))}</h2><ul>{rows}</ul></body></html>"
    )


# Stock answers (Slack /stock, Teams stock): the one-line summary a notification or fallback shows.


def stock_summary(product: ProductStock) -> str:
    """``Name (SKU): short at A; recovering at B; level unknown at C``; "in stock everywhere" only when every
    level is known and above its minimum with no alert open."""
    status = {where.location: stock_status(where) for where in product.locations}
    groups = [
        ("short", [loc for loc, s in status.items() if s not in (IN_STOCK, UNKNOWN, RECOVERING)]),
        ("recovering", [loc for loc, s in status.items() if s == RECOVERING]),
        ("level unknown", [loc for loc, s in status.items() if s == UNKNOWN]),
    ]
    parts = [f"{words} at {', '.join(places)}" for words, places in groups if places]
    return f"{product.name} ({product.sku}): {'; '.join(parts) or 'in stock everywhere'}"


def stock_note(where: LocationStock, who: Callable[[str], str] = str) -> str:
    """What a stock answer adds when an open alert's severity and the level disagree: where a recovering
    level resolves, or who said out although the system shows stock. Empty when they agree."""
    alert, on_hand = where.alert, where.on_hand
    if alert is None or on_hand is None:
        return ""
    if stock_status(where) == RECOVERING and where.resolves_above is not None:
        return f"resolves above {where.resolves_above}"
    if alert.flagged_by and on_hand > 0:
        return f"flagged out of stock by {who(alert.flagged_by)} although the system shows {on_hand} on hand"
    if alert.trigger == "source_out_of_stock" and on_hand > 0:
        source = who(where.last_source or "the source")
        return f"{source} reports out of stock although its level is {on_hand}"
    return ""
