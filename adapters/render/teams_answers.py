"""Answers to what people type to stockbot in Teams: the `stock` card, `oos` replies, help, install text.

Pure functions of the core's plain data (``adapters.message``); the front end (handlers/teams.py) sends them,
in the language of the activity's ``locale`` (``language``, or ``message.language``). Alert cards themselves
are in teams.py beside this module.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from stockbot.adapters.i18n import DEFAULT_LANGUAGE, N_, gettext_for, tr
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
from stockbot.adapters.notes import note_text
from stockbot.adapters.render.teams import SEVERITY_COLOURS, adaptive_card, local_time, text_block
from stockbot.adapters.render.text import (
    level_text,
    location_level,
    refused_verb,
    severity_label,
    severity_words,
    stock_note,
    stock_summary,
)

__all__ = ["local_time"]  # defined beside the alert cards, which show times too
EN = DEFAULT_LANGUAGE

# --- answers to the ``stock`` command (the Teams front end, handlers/teams.py) ---------------------------


def _stock_severity(where: LocationStock, language: str) -> tuple[str, str]:
    _ = gettext_for(language)
    status = stock_status(where)
    if status == IN_STOCK:
        return _("In stock"), "Good"
    if status == UNKNOWN:
        return _("Unknown"), "Default"
    if status == RECOVERING and where.alert is not None:
        was = severity_label(where.alert.severity, language).lower()
        return _("Recovering (was {severity})").format(severity=was), "Warning"
    return severity_label(status, language), SEVERITY_COLOURS.get(status, "Warning")


def _alert_line(alert: OpenAlert, escalated_to: Sequence[str], language: str) -> str:
    _ = gettext_for(language)
    parts = [_("Alert #{id} open since {time}").format(id=alert.id, time=local_time(alert.opened_at))]
    if alert.acknowledged_by:
        parts.append(_("acknowledged by {who}").format(who=alert.acknowledged_by))
    else:
        parts.append(_("not yet acknowledged"))
    if alert.escalation_step > 0:
        line = _("escalated to level {level}").format(level=alert.escalation_step)
        if escalated_to:
            line += f" ({', '.join(escalated_to)})"
        if alert.escalated_by:
            line = _("{escalated} by {who}").format(escalated=line, who=alert.escalated_by)
        parts.append(line)
    if alert.snoozed_until:
        parts.append(_("snoozed until {time}").format(time=local_time(alert.snoozed_until)))
    if alert.blocked_quantity:
        parts.append(_("{units} units on blocked orders").format(units=alert.blocked_quantity))
    return " · ".join(parts)


def _location_items(where: LocationStock, escalated_to: Sequence[str], language: str) -> list[dict[str, Any]]:
    _ = gettext_for(language)
    level = location_level(where, language)
    words, colour = _stock_severity(where, language)
    note = stock_note(where, language=language)
    items = [
        text_block(
            f"**{where.location}**: {level} · {words}" + (f", {note}" if note else ""),
            color=colour,
            spacing="Small",
        )
    ]
    notes = [_alert_line(where.alert, escalated_to, language)] if where.alert else []
    if where.last_event_at:
        changed = _("Level last changed {time}").format(time=local_time(where.last_event_at))
        if where.last_source:
            changed = _("{changed} from {source}").format(changed=changed, source=where.last_source)
        notes.append(changed)
    elif where.on_hand is None:
        notes.append(_("No stock event received yet, and the catalog gives no level"))
    else:
        notes.append(_("No stock event received yet (level from the catalog)"))
    items += [text_block(note, isSubtle=True, size="Small", spacing="None") for note in notes]
    return items


def _product(
    product: ProductStock, escalations: Mapping[tuple[str, str], Sequence[str]], language: str
) -> dict[str, Any]:
    _ = gettext_for(language)
    facts = [product.sku, *([product.category] if product.category else [])]
    if product.key_product:
        facts.append(_("key product"))
    items = [
        text_block(product.name, weight="Bolder", size="Medium"),
        text_block(" · ".join(facts), isSubtle=True, spacing="None"),
    ]
    for where in product.locations:
        items += _location_items(where, escalations.get((product.sku, where.location), ()), language)
    if not product.locations:
        items.append(text_block(_("No location stocks this product in the catalog."), isSubtle=True))
    return {"type": "Container", "separator": True, "spacing": "Medium", "items": items}


def stock_card(
    found: Sequence[ProductStock],
    *,
    more: bool = False,
    escalations: Mapping[tuple[str, str], Sequence[str]] | None = None,
    language: str = EN,
) -> dict[str, Any]:
    """The answer to ``stock``: each product's level per location against its minimum, with any open alert
    (the same facts as Slack's ``/stock``)."""
    _ = gettext_for(language)
    escalations = escalations or {}
    body = [_product(product, escalations, language) for product in found]
    if more:
        more_text = _("More products match; showing the first {count}. Add words to narrow.")
        body.append(text_block(more_text.format(count=len(found)), isSubtle=True))
    if len(found) == 1:
        fallback = stock_summary(found[0], language)
    else:
        fallback = _("{count} products match: {skus}").format(
            count=len(found), skus=", ".join(p.sku for p in found)
        )
    return adaptive_card(body, [], fallback)


# --- answers to typed commands (the Teams front end, handlers/teams.py) -----------------------------------

EXAMPLE_SKU = "CAB-PACMAN-UP"


def help_text(language: str = EN) -> str:
    _ = gettext_for(language)
    return _(
        "**stockbot** tells you when key stock runs out. In a channel, mention @stockbot first.\n\n"
        "- `stock {sku}` or `stock pacman cabinet`: on-hand stock per location, with any open alert\n"
        "- `oos {sku} Chicago DC damaged on arrival`: report a product out of stock "
        "(warehouse staff; location and reason are optional)\n"
        "- `oos clear {sku} Chicago DC found it`: take back a mistaken flag (warehouse staff)\n"
        "- `alerts` or `alerts Chicago DC` (in a personal chat): your open alerts, with the buttons your "
        "role allows\n"
        "- `help`: this list\n\n"
        "SKUs and locations ignore upper/lower case. Alert cards have **Acknowledge** (reps), **Escalate** "
        "and **Resolve** (managers) and **Snooze** buttons.",
    ).format(sku=EXAMPLE_SKU) + (
        "\n\n- "
        + _("`report [7d|30d] [location or category]`: key figures and the top repeat offenders")
        + "\n- "
        + _("`dashboard` (in a personal chat): your personal link to the reports and alert pages")
    )


HELP = help_text()  # the English help, for the app manifest's command list and older callers


def short_help(text: str, language: str = EN) -> str:
    shown = (text if len(text) <= 60 else text[:59] + "…").replace("`", "'")
    return tr(
        language, "stockbot does not know `{text}`. Try `stock <SKU or words>`, `oos <SKU>` or `help`."
    ).format(text=shown)


def channel_lines(conversation_id: str, name: str | None, scope: str) -> str:
    """The stockbot.toml lines that send alerts to a conversation."""
    slug = re.sub(r"[^a-z0-9]+", "_", (name or "").lower()).strip("_")
    return f'[channels.{slug or "teams_" + scope.lower()}]\nadapter = "teams"\naddress = "{conversation_id}"'


def where_text(conversation_id: str, name: str | None, scope: str, language: str = EN) -> str:
    return tr(
        language,
        "This conversation's id is `{id}`. To send stock alerts here, add to stockbot.toml "
        "(and name the channel in a route):\n\n```\n{lines}\n```",
    ).format(id=conversation_id, lines=channel_lines(conversation_id, name, scope))


def welcome_text(conversation_id: str, name: str | None, scope: str, language: str = EN) -> str:
    _ = gettext_for(language)
    where = where_text(conversation_id, name, scope, language)
    return _("stockbot is installed here.") + " " + where + "\n\n" + _("Type `help`.")


SEVERITY_SHORT = {"low": N_("low"), "out": N_("out"), "critical": N_("critical")}


def flagged_text(message: AlertMessage, event: str) -> str:
    """The answer to ``oos``: what the flag did (``event``: opened, escalated, updated…)."""
    _ = gettext_for(message.language)
    what = {
        "opened": _("opened"),
        "reopened": _("reopened"),
        "updated": _("updated"),
        "worsened": _("now worse"),
        "escalated": _("escalated at once (critical)"),
    }.get(event, event)
    said = note_text(message.reason, message.language)
    reason = " " + _("Reason: {reason}.").format(reason=said) if said else ""
    return (
        _(
            "Flagged **{product}** ({sku}) at **{location}** out of stock: alert #{id} {what}, {severity}."
        ).format(
            product=message.product_name,
            sku=message.sku,
            location=message.location,
            id=message.alert_id,
            what=what,
            severity=_(SEVERITY_SHORT[message.severity])
            if message.severity in SEVERITY_SHORT
            else message.severity,
        )
        + reason
    )


def cleared_text(message: AlertMessage) -> str:
    """The answer to ``oos clear``: resolved, or still open at what the level says."""
    _ = gettext_for(message.language)
    subject = _("**{product}** ({sku}) at **{location}**").format(
        product=message.product_name, sku=message.sku, location=message.location
    )
    if message.is_resolved:
        return _("Cleared the flag on {subject}: alert #{id} is resolved ({level}).").format(
            subject=subject, id=message.alert_id, level=level_text(message)
        )
    return _(
        "Cleared the flag on {subject}: alert #{id} stays open, as the system's level says: "
        "{severity}, {level}."
    ).format(
        subject=subject, id=message.alert_id, severity=severity_words(message), level=level_text(message)
    )


def nothing_found_text(query: str, language: str = EN) -> str:
    return tr(
        language,
        "No product matches `{query}`. Check the SKU (it looks like `{sku}`), or try "
        "fewer or shorter words: every word must appear in the product's name or SKU.",
    ).format(query=query[:100], sku=EXAMPLE_SKU)


def dashboard_elsewhere_text(language: str = EN) -> str:
    """``dashboard`` outside a personal chat: a personal link is as good as a login, so it is never posted
    where others read."""
    return tr(
        language,
        "A dashboard link is personal, so I only send it in a personal chat: open a chat with stockbot and "
        "write `dashboard` there.",
    )


def refused_text(what: str, why: str, language: str = EN) -> str:
    return tr(language, "Could not {verb}: {why}").format(verb=refused_verb(what, language), why=why)
