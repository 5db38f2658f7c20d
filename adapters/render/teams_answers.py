"""Answers to what people type to stockbot in Teams: the `stock` card, `oos` replies, help, install text.

Pure functions of the core's plain data (``adapters.message``); the front end (handlers/teams.py) sends them.
Alert cards themselves are in teams.py beside this module.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from stockbot.adapters.message import (
    IN_STOCK,
    RECOVERING,
    UNKNOWN,
    AlertMessage,
    LocationStock,
    OpenAlert,
    ProductStock,
    stock_status,
)
from stockbot.adapters.render.teams import SEVERITY_COLOURS, adaptive_card, text_block
from stockbot.adapters.render.text import (
    SEVERITY_WORDS,
    level_text,
    severity_words,
    stock_note,
    stock_summary,
)

STATUS_WORDS = {IN_STOCK: ("In stock", "Good"), UNKNOWN: ("Unknown", "Default")}

# --- answers to the ``stock`` command (the Teams front end, handlers/teams.py) ---------------------------


def local_time(moment: datetime) -> str:
    """A time each reader sees in their own time zone: the Adaptive Card DATE/TIME functions (TextBlock)."""
    stamp = moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return f"{{{{DATE({stamp}, SHORT)}}}} {{{{TIME({stamp})}}}}"


def _stock_severity(where: LocationStock) -> tuple[str, str]:
    status = stock_status(where)
    if status in STATUS_WORDS:
        return STATUS_WORDS[status]
    if status == RECOVERING and where.alert is not None:
        was = SEVERITY_WORDS.get(where.alert.severity, where.alert.severity).lower()
        return f"Recovering (was {was})", "Warning"
    return SEVERITY_WORDS.get(status, status), SEVERITY_COLOURS.get(status, "Warning")


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
    note = stock_note(where)
    items = [
        text_block(
            f"**{where.location}**: {on_hand} / minimum {where.minimum}{critical} · {words}"
            + (f", {note}" if note else ""),
            color=colour,
            spacing="Small",
        )
    ]
    notes = [_alert_line(where.alert, escalated_to)] if where.alert else []
    if where.last_event_at:
        source = f" from {where.last_source}" if where.last_source else ""
        notes.append(f"Level last changed {local_time(where.last_event_at)}{source}")
    elif where.on_hand is None:
        notes.append("No stock event received yet, and the catalog gives no level")
    else:
        notes.append("No stock event received yet (level from the catalog)")
    items += [text_block(note, isSubtle=True, size="Small", spacing="None") for note in notes]
    return items


def _product(product: ProductStock, escalations: Mapping[tuple[str, str], Sequence[str]]) -> dict[str, Any]:
    facts = [product.sku, *([product.category] if product.category else [])]
    if product.key_product:
        facts.append("key product")
    items = [
        text_block(product.name, weight="Bolder", size="Medium"),
        text_block(" · ".join(facts), isSubtle=True, spacing="None"),
    ]
    for where in product.locations:
        items += _location_items(where, escalations.get((product.sku, where.location), ()))
    if not product.locations:
        items.append(text_block("No location stocks this product in the catalog.", isSubtle=True))
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
            text_block(
                f"More products match; showing the first {len(found)}. Add words to narrow.", isSubtle=True
            )
        )
    if len(found) == 1:
        fallback = stock_summary(found[0])
    else:
        fallback = f"{len(found)} products match: " + ", ".join(p.sku for p in found)
    return adaptive_card(body, [], fallback)


# --- answers to typed commands (the Teams front end, handlers/teams.py) -----------------------------------

EXAMPLE_SKU = "CAB-PACMAN-UP"

HELP = (
    "**stockbot** tells you when key stock runs out. In a channel, mention @stockbot first.\n\n"
    f"- `stock {EXAMPLE_SKU}` or `stock pacman cabinet`: on-hand stock per location, with any open alert\n"
    f"- `oos {EXAMPLE_SKU} Chicago DC damaged on arrival`: report a product out of stock "
    "(warehouse staff; location and reason are optional)\n"
    f"- `oos clear {EXAMPLE_SKU} Chicago DC found it`: take back a mistaken flag (warehouse staff)\n"
    "- `alerts` or `alerts Chicago DC` (in a personal chat): your open alerts, with the buttons your role "
    "allows\n"
    "- `help`: this list\n\n"
    "SKUs and locations ignore upper/lower case. Alert cards have **Acknowledge** (reps), **Escalate** "
    "and **Resolve** (managers) and **Snooze** buttons."
)


def short_help(text: str) -> str:
    shown = (text if len(text) <= 60 else text[:59] + "…").replace("`", "'")
    return f"stockbot does not know `{shown}`. Try `stock <SKU or words>`, `oos <SKU>` or `help`."


def channel_lines(conversation_id: str, name: str | None, scope: str) -> str:
    """The stockbot.toml lines that send alerts to a conversation."""
    slug = re.sub(r"[^a-z0-9]+", "_", (name or "").lower()).strip("_")
    return f'[channels.{slug or "teams_" + scope.lower()}]\nadapter = "teams"\naddress = "{conversation_id}"'


def where_text(conversation_id: str, name: str | None, scope: str) -> str:
    return (
        f"This conversation's id is `{conversation_id}`. To send stock alerts here, add to stockbot.toml "
        f"(and name the channel in a route):\n\n```\n{channel_lines(conversation_id, name, scope)}\n```"
    )


def welcome_text(conversation_id: str, name: str | None, scope: str) -> str:
    return "stockbot is installed here. " + where_text(conversation_id, name, scope) + "\n\nType `help`."


def flagged_text(message: AlertMessage, event: str) -> str:
    """The answer to ``oos``: what the flag did (``event``: opened, escalated, updated…)."""
    what = {"escalated": "escalated at once (critical)"}.get(event, event)
    reason = f" Reason: {message.reason}." if message.reason else ""
    return (
        f"Flagged **{message.product_name}** ({message.sku}) at **{message.location}** out of stock: "
        f"alert #{message.alert_id} {what}, {message.severity}.{reason}"
    )


def cleared_text(message: AlertMessage) -> str:
    """The answer to ``oos clear``: resolved, or still open at what the level says."""
    subject = f"**{message.product_name}** ({message.sku}) at **{message.location}**"
    if message.is_resolved:
        return (
            f"Cleared the flag on {subject}: alert #{message.alert_id} is resolved ({level_text(message)})."
        )
    return (
        f"Cleared the flag on {subject}: alert #{message.alert_id} stays open, as the system's level says: "
        f"{severity_words(message)}, {level_text(message)}."
    )


def nothing_found_text(query: str) -> str:
    return (
        f"No product matches `{query[:100]}`. Check the SKU (it looks like `{EXAMPLE_SKU}`), or try "
        "fewer or shorter words: every word must appear in the product's name or SKU."
    )


def refused_text(what: str, why: str) -> str:
    return f"Could not {what}: {why}"
