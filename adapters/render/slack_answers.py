"""What the Slack front end says back to one person (ephemeral answers). Pure functions over plain data.

Cards posted to channels are :mod:`adapters.render.slack`; this module renders ``/stock`` and ``/oos``
answers and the short replies to button clicks, with the same escaping, mentions and dates.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from stockbot.adapters.base import AlertMessage
from stockbot.adapters.message import (
    IN_STOCK,
    RECOVERING,
    UNKNOWN,
    LocationStock,
    OpenAlert,
    ProductStock,
    stock_status,
)
from stockbot.adapters.render.slack import (
    RECOVERING_EMOJI,
    SECTION_TEXT_MAX,
    SEVERITY_EMOJI,
    SEVERITY_LABEL,
    clip,
    escape,
    severity_text,
    slack_date,
    who,
)
from stockbot.adapters.render.text import level_text, stock_note, stock_summary

STATUS_WORDS = {IN_STOCK: ":white_check_mark: In stock", UNKNOWN: ":grey_question: Unknown"}
_SLACK_CHANNEL = re.compile(r"^[CG][A-Z0-9]{2,}$")
EXAMPLE_SKU = "CAB-PACMAN-UP"


@dataclass(frozen=True)
class Answer:
    text: str  # notification and fallback text
    blocks: list[dict[str, Any]] = field(default_factory=list)


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": clip(text, SECTION_TEXT_MAX)}}


def _context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": clip(text, SECTION_TEXT_MAX)}]}


def plain(text: str) -> Answer:
    return Answer(text=clip(text, SECTION_TEXT_MAX), blocks=[_section(text)])


def channel_label(name: str, adapter: str | None, address: str | None) -> str:
    """A Slack channel becomes a link (``<#C123>``); other channels are shown by their config name."""
    if adapter == "slack" and address and _SLACK_CHANNEL.match(address):
        return f"<#{address}>"
    return escape(name)


# --- /stock ----------------------------------------------------------------------------------------------


def stock_help() -> Answer:
    return plain(
        "*/stock* shows on-hand stock per location, against the minimum, with any open alert.\n"
        f"• `/stock {EXAMPLE_SKU}`: one product by its SKU\n"
        "• `/stock pacman cabinet`: up to 5 products whose name has every word\n"
        "Warehouse staff report a shortage with `/oos SKU [location] [reason]`, "
        "and take a mistaken one back with `/oos clear SKU [location] [reason]`."
    )


def nothing_found(query: str) -> Answer:
    shown = escape(clip(query, 100))
    return plain(
        f":mag: No product matches `{shown}`.\n"
        f"Check the SKU (it looks like `{EXAMPLE_SKU}`), or try fewer or shorter words: "
        "every word must appear in the product's name or SKU."
    )


def _severity(where: LocationStock) -> str:
    status = stock_status(where)
    if status in STATUS_WORDS:
        return STATUS_WORDS[status]
    if status == RECOVERING and where.alert is not None:
        label = SEVERITY_LABEL.get(where.alert.severity, where.alert.severity)
        return f"{RECOVERING_EMOJI} Recovering (was {label})"
    return f"{SEVERITY_EMOJI.get(status, '')} {SEVERITY_LABEL.get(status, status)}".strip()


def _alert_line(alert: OpenAlert, escalated_to: Sequence[str], tz: str) -> str:
    parts = [f"Alert #{alert.id} open since {slack_date(alert.opened_at, tz)}"]
    if alert.acknowledged_by:
        when = f" {slack_date(alert.acknowledged_at, tz)}" if alert.acknowledged_at else ""
        parts.append(f"acknowledged by {who(alert.acknowledged_by)}{when}")
    else:
        parts.append("not yet acknowledged")
    if alert.escalation_step > 0:
        to = f" ({', '.join(escalated_to)})" if escalated_to else ""
        by = f" by {who(alert.escalated_by)}" if alert.escalated_by else ""
        parts.append(f"escalated to level {alert.escalation_step}{to}{by}")
    if alert.snoozed_until:
        parts.append(f"snoozed until {slack_date(alert.snoozed_until, tz)}")
    if alert.blocked_quantity:
        parts.append(f"{alert.blocked_quantity} units on blocked orders")
    return " · ".join(parts)


def _location_lines(where: LocationStock, escalated_to: Sequence[str], tz: str) -> list[str]:
    on_hand = "level unknown" if where.on_hand is None else f"{where.on_hand} on hand"
    critical = f", critical at {where.critical_level}" if where.critical_level is not None else ""
    note = stock_note(where, who=who)
    lines = [
        f"*{escape(where.location)}*: {on_hand} / minimum {where.minimum}{critical} — {_severity(where)}"
        + (f", {note}" if note else "")
    ]
    if where.alert:
        lines.append(f"      {_alert_line(where.alert, escalated_to, tz)}")
    if where.last_event_at:
        source = f" from {escape(where.last_source)}" if where.last_source else ""
        lines.append(f"      Level last changed {slack_date(where.last_event_at, tz)}{source}")
    elif where.on_hand is None:
        lines.append("      No stock event received yet, and the catalog gives no level")
    else:
        lines.append("      No stock event received yet (level from the catalog)")
    return lines


def _product_text(
    product: ProductStock, escalations: Mapping[tuple[str, str], Sequence[str]], tz: str
) -> str:
    key = " · :star: key product" if product.key_product else ""
    category = f" · {escape(product.category)}" if product.category else ""
    lines = [f"*{escape(product.name)}* `{escape(product.sku)}`{category}{key}"]
    for where in product.locations:
        lines += _location_lines(where, escalations.get((product.sku, where.location), ()), tz)
    if not product.locations:
        lines.append("_No location stocks this product in the catalog._")
    return "\n".join(lines)


def stock_answer(
    found: Sequence[ProductStock],
    *,
    more: bool = False,
    escalations: Mapping[tuple[str, str], Sequence[str]] | None = None,
    tz: str = "UTC",
) -> Answer:
    """One section per product: each location's level against its minimum, severity and open alert."""
    escalations = escalations or {}
    blocks: list[dict[str, Any]] = []
    for index, product in enumerate(found):
        if index:
            blocks.append({"type": "divider"})
        blocks.append(_section(_product_text(product, escalations, tz)))
    if more:
        blocks.append(_context(f"More products match; showing the first {len(found)}. Add words to narrow."))
    if len(found) == 1:
        text = stock_summary(found[0])
    else:
        text = f"{len(found)} products match: " + ", ".join(p.sku for p in found)
    return Answer(text=clip(text, SECTION_TEXT_MAX), blocks=blocks)


# --- /oos ------------------------------------------------------------------------------------------------


def oos_help() -> Answer:
    return plain(
        "*/oos* reports a product out of stock (warehouse staff).\n"
        f"• `/oos {EXAMPLE_SKU}`: the product's only location\n"
        f"• `/oos {EXAMPLE_SKU} Chicago DC damaged on arrival`: a location, then an optional reason\n"
        f"• `/oos clear {EXAMPLE_SKU} Chicago DC found it`: take back a mistaken flag; the alert follows "
        "the system's level again\n"
        "Look the SKU up first with `/stock words of its name`. SKUs and locations ignore upper/lower case."
    )


_EVENT_WORDS = {
    "opened": "opened",
    "reopened": "reopened",
    "updated": "updated",
    "escalated": "is critical, so it was escalated at once",
    "worsened": "is now worse",
}


def flagged(message: AlertMessage, tz: str = "UTC") -> Answer:
    what = _EVENT_WORDS.get(message.event, message.event)
    severity = f"{SEVERITY_EMOJI.get(message.severity, '')} {SEVERITY_LABEL.get(message.severity, '')}"
    reason = f"\n*Reason:* {escape(message.reason)}" if message.reason else ""
    return Answer(
        text=clip(
            f"Flagged {message.sku} at {message.location} out of stock: alert #{message.alert_id}", 300
        ),
        blocks=[
            _section(
                f":rotating_light: Flagged *{escape(message.product_name)}* `{escape(message.sku)}` at "
                f"*{escape(message.location)}* out of stock.\n"
                f"Alert #{message.alert_id} {what}. {severity.strip()}, open since "
                f"{slack_date(message.opened_at, tz)}.{reason}"
            )
        ],
    )


def cleared(message: AlertMessage) -> Answer:
    """The answer to ``/oos clear``: resolved, or still open at what the level says."""
    subject = f"*{escape(message.product_name)}* `{escape(message.sku)}` at *{escape(message.location)}*"
    if message.is_resolved:
        then = f"alert #{message.alert_id} is resolved: the system shows {level_text(message)}."
    else:
        then = (
            f"alert #{message.alert_id} stays open, as the system's level says: {severity_text(message)}, "
            f"{level_text(message, who)}."
        )
    return Answer(
        text=clip(f"Cleared the flag on {message.sku} at {message.location}", 300),
        blocks=[_section(f":leftwards_arrow_with_hook: Cleared the flag on {subject}; {then}")],
    )


# --- button clicks ---------------------------------------------------------------------------------------


def refused(verb: str, why: str) -> Answer:
    """A refused command or click: what was refused and why, worded for the person who tried."""
    return plain(f":no_entry: Could not {verb}: {escape(why)}")


def acted(message: AlertMessage, escalated_to: Sequence[str] = (), tz: str = "UTC") -> Answer:
    """The clicking user's confirmation; everyone else sees the card change."""
    subject = f"alert #{message.alert_id} ({escape(message.product_name)} at {escape(message.location)})"
    if message.event == "acknowledged":
        text = f":eyes: You acknowledged {subject}. Escalation stops here."
    elif message.event == "escalated":
        to = f" ({', '.join(escalated_to)})" if escalated_to else ""
        text = f":arrow_double_up: You escalated {subject} to level {message.escalation_level}{to}."
    elif message.event == "resolved":
        text = f":ballot_box_with_check: You resolved {subject}. The cards say so; the audit log has it."
    elif message.event == "snoozed" and message.snoozed_until:
        until = slack_date(message.snoozed_until, tz)
        text = f":zzz: You snoozed {subject} until {until}; escalation waits until then."
    else:
        text = f"Done: {subject} is now {message.state}."
    return plain(text)


def failed() -> Answer:
    return plain(
        ":warning: Sorry, stockbot hit an error while answering you (it is logged for the admin). "
        "Check the alert card or `/stock` before trying again."
    )


def unknown_command(command: str) -> Answer:
    return plain(f"stockbot does not answer `{escape(command)}`. Try `/stock` or `/oos`.")
