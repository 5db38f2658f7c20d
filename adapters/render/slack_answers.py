"""What the Slack front end says back to one person (ephemeral answers). Pure functions over plain data.

Cards posted to channels are :mod:`adapters.render.slack`; this module renders ``/stock`` and ``/oos``
answers and the short replies to button clicks, with the same escaping, mentions and dates, in the language
of the person asked (``language``: their Slack locale, see handlers/slack.py).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from stockbot.adapters.base import AlertMessage
from stockbot.adapters.i18n import DEFAULT_LANGUAGE, gettext_for, ngettext_for, tr
from stockbot.adapters.message import (
    IN_STOCK,
    RECOVERING,
    UNKNOWN,
    LocationStock,
    OpenAlert,
    ProductStock,
    stock_status,
)
from stockbot.adapters.notes import note_text
from stockbot.adapters.render.slack import (
    RECOVERING_EMOJI,
    SECTION_TEXT_MAX,
    SEVERITY_EMOJI,
    clip,
    escape,
    report_blocks,
    report_text,
    severity_label,
    severity_text,
    slack_date,
    who,
)
from stockbot.adapters.render.text import (
    STATE_WORDS,
    level_text,
    location_level,
    refused_verb,
    stock_note,
    stock_summary,
)
from stockbot.adapters.report_card import ReportCard

_SLACK_CHANNEL = re.compile(r"^[CG][A-Z0-9]{2,}$")
EXAMPLE_SKU = "CAB-PACMAN-UP"
EN = DEFAULT_LANGUAGE


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


def stock_help(language: str = EN) -> Answer:
    _ = gettext_for(language)
    return plain(
        _(
            "*/stock* shows on-hand stock per location, against the minimum, with any open alert.\n"
            "• `/stock {sku}`: one product by its SKU\n"
            "• `/stock pacman cabinet`: up to 5 products whose name has every word\n"
            "Warehouse staff report a shortage with `/oos SKU [location] [reason]`, "
            "and take a mistaken one back with `/oos clear SKU [location] [reason]`."
        ).format(sku=EXAMPLE_SKU)
        + "\n• "
        + _("`/stock report [7d|30d] [location or category]`: key figures and repeat offenders")
        + "\n• "
        + _("`/stock dashboard`: your personal link to the reports and alert pages")
    )


def nothing_found(query: str, language: str = EN) -> Answer:
    _ = gettext_for(language)
    shown = escape(clip(query, 100))
    return plain(
        ":mag: "
        + _(
            "No product matches `{query}`.\n"
            "Check the SKU (it looks like `{sku}`), or try fewer or shorter words: "
            "every word must appear in the product's name or SKU."
        ).format(query=shown, sku=EXAMPLE_SKU)
    )


def _severity(where: LocationStock, language: str) -> str:
    _ = gettext_for(language)
    status = stock_status(where)
    if status == IN_STOCK:
        return ":white_check_mark: " + _("In stock")
    if status == UNKNOWN:
        return ":grey_question: " + _("Unknown")
    if status == RECOVERING and where.alert is not None:
        label = severity_label(where.alert.severity, language)
        return f"{RECOVERING_EMOJI} " + _("Recovering (was {severity})").format(severity=label)
    return f"{SEVERITY_EMOJI.get(status, '')} {severity_label(status, language)}".strip()


def _alert_line(alert: OpenAlert, escalated_to: Sequence[str], tz: str, language: str) -> str:
    _ = gettext_for(language)
    parts = [_("Alert #{id} open since {time}").format(id=alert.id, time=slack_date(alert.opened_at, tz))]
    if alert.acknowledged_by:
        when = f" {slack_date(alert.acknowledged_at, tz)}" if alert.acknowledged_at else ""
        parts.append(_("acknowledged by {who}").format(who=who(alert.acknowledged_by, language)) + when)
    else:
        parts.append(_("not yet acknowledged"))
    if alert.escalation_step > 0:
        line = _("escalated to level {level}").format(level=alert.escalation_step)
        if escalated_to:
            line += f" ({', '.join(escalated_to)})"
        if alert.escalated_by:
            line = _("{escalated} by {who}").format(escalated=line, who=who(alert.escalated_by, language))
        parts.append(line)
    if alert.snoozed_until:
        parts.append(_("snoozed until {time}").format(time=slack_date(alert.snoozed_until, tz)))
    if alert.blocked_quantity:
        parts.append(_("{units} units on blocked orders").format(units=alert.blocked_quantity))
    return " · ".join(parts)


def _location_lines(where: LocationStock, escalated_to: Sequence[str], tz: str, language: str) -> list[str]:
    _ = gettext_for(language)
    level = location_level(where, language)
    note = stock_note(where, who=lambda actor: who(actor, language), language=language)
    lines = [
        f"*{escape(where.location)}*: {level} — {_severity(where, language)}" + (f", {note}" if note else "")
    ]
    if where.alert:
        lines.append(f"      {_alert_line(where.alert, escalated_to, tz, language)}")
    if where.last_event_at:
        changed = _("Level last changed {time}").format(time=slack_date(where.last_event_at, tz))
        if where.last_source:
            changed = _("{changed} from {source}").format(changed=changed, source=escape(where.last_source))
        lines.append(f"      {changed}")
    elif where.on_hand is None:
        lines.append("      " + _("No stock event received yet, and the catalog gives no level"))
    else:
        lines.append("      " + _("No stock event received yet (level from the catalog)"))
    return lines


def _product_text(
    product: ProductStock, escalations: Mapping[tuple[str, str], Sequence[str]], tz: str, language: str
) -> str:
    _ = gettext_for(language)
    key = " · :star: " + _("key product") if product.key_product else ""
    category = f" · {escape(product.category)}" if product.category else ""
    lines = [f"*{escape(product.name)}* `{escape(product.sku)}`{category}{key}"]
    for where in product.locations:
        lines += _location_lines(where, escalations.get((product.sku, where.location), ()), tz, language)
    if not product.locations:
        lines.append("_" + _("No location stocks this product in the catalog.") + "_")
    return "\n".join(lines)


def stock_answer(
    found: Sequence[ProductStock],
    *,
    more: bool = False,
    escalations: Mapping[tuple[str, str], Sequence[str]] | None = None,
    tz: str = "UTC",
    language: str = EN,
) -> Answer:
    """One section per product: each location's level against its minimum, severity and open alert."""
    _ = gettext_for(language)
    escalations = escalations or {}
    blocks: list[dict[str, Any]] = []
    for index, product in enumerate(found):
        if index:
            blocks.append({"type": "divider"})
        blocks.append(_section(_product_text(product, escalations, tz, language)))
    if more:
        more_text = _("More products match; showing the first {count}. Add words to narrow.")
        blocks.append(_context(more_text.format(count=len(found))))
    if len(found) == 1:
        text = stock_summary(found[0], language)
    else:
        text = _("{count} products match: {skus}").format(
            count=len(found), skus=", ".join(p.sku for p in found)
        )
    return Answer(text=clip(text, SECTION_TEXT_MAX), blocks=blocks)


# --- /stock dashboard and /stock report ------------------------------------------------------------------


def dashboard_link(link: str, minutes: int, language: str = EN) -> Answer:
    """Only the asker sees this: the link is as good as their login for ``minutes``, once."""
    _, ngettext = gettext_for(language), ngettext_for(language)
    works = ngettext(
        "Your personal dashboard link (works once, for {count} minute; do not share it): {link}",
        "Your personal dashboard link (works once, for {count} minutes; do not share it): {link}",
        minutes,
    )
    opens = _("open the stockbot dashboard")
    button = {
        "type": "button",
        "action_id": "stockbot_open_dashboard",
        "text": {"type": "plain_text", "text": _("Open the dashboard")},
        "url": link,
        "style": "primary",
    }
    return Answer(
        text=clip(_("Your personal stockbot dashboard link: {link}").format(link=link), SECTION_TEXT_MAX),
        blocks=[
            _section(":bar_chart: " + works.format(count=minutes, link=f"<{link}|{opens}>")),
            {"type": "actions", "block_id": "stockbot_dashboard", "elements": [button]},
        ],
    )


def report_answer(card: ReportCard, language: str = EN) -> Answer:
    """A report asked for in chat, in the asker's language."""
    return Answer(text=report_text(card, language), blocks=report_blocks(card, language))


# --- /oos ------------------------------------------------------------------------------------------------


def oos_help(language: str = EN) -> Answer:
    _ = gettext_for(language)
    return plain(
        _(
            "*/oos* reports a product out of stock (warehouse staff).\n"
            "• `/oos {sku}`: the product's only location\n"
            "• `/oos {sku} Chicago DC damaged on arrival`: a location, then an optional reason\n"
            "• `/oos clear {sku} Chicago DC found it`: take back a mistaken flag; the alert follows "
            "the system's level again\n"
            "Look the SKU up first with `/stock words of its name`. "
            "SKUs and locations ignore upper/lower case."
        ).format(sku=EXAMPLE_SKU)
    )


def flagged(message: AlertMessage, tz: str = "UTC") -> Answer:
    """The answer to ``/oos``, in ``message.language`` (the flagging person's)."""
    _ = gettext_for(message.language)
    event_words = {
        "opened": _("Alert #{id} opened."),
        "reopened": _("Alert #{id} reopened."),
        "updated": _("Alert #{id} updated."),
        "escalated": _("Alert #{id} is critical, so it was escalated at once."),
        "worsened": _("Alert #{id} is now worse."),
    }
    what = event_words.get(message.event, "#{id} " + message.event + ".").format(id=message.alert_id)
    severity = (
        f"{SEVERITY_EMOJI.get(message.severity, '')} {severity_label(message.severity, message.language)}"
    )
    reason = ""
    if message.reason:
        reason = "\n" + _("*Reason:* {reason}").format(
            reason=escape(note_text(message.reason, message.language))
        )
    since = _("{severity}, open since {time}.").format(
        severity=severity.strip(), time=slack_date(message.opened_at, tz)
    )
    return Answer(
        text=clip(
            _("Flagged {sku} at {location} out of stock: alert #{id}").format(
                sku=message.sku, location=message.location, id=message.alert_id
            ),
            300,
        ),
        blocks=[
            _section(
                ":rotating_light: "
                + _("Flagged *{product}* `{sku}` at *{location}* out of stock.").format(
                    product=escape(message.product_name),
                    sku=escape(message.sku),
                    location=escape(message.location),
                )
                + f"\n{what} {since}{reason}"
            )
        ],
    )


def cleared(message: AlertMessage) -> Answer:
    """The answer to ``/oos clear``: resolved, or still open at what the level says."""
    _ = gettext_for(message.language)
    subject = _("*{product}* `{sku}` at *{location}*").format(
        product=escape(message.product_name), sku=escape(message.sku), location=escape(message.location)
    )
    if message.is_resolved:
        then = _("alert #{id} is resolved: the system shows {level}.").format(
            id=message.alert_id, level=level_text(message)
        )
    else:
        then = _("alert #{id} stays open, as the system's level says: {severity}, {level}.").format(
            id=message.alert_id,
            severity=severity_text(message),
            level=level_text(message, lambda actor: who(actor, message.language)),
        )
    return Answer(
        text=clip(
            _("Cleared the flag on {sku} at {location}").format(sku=message.sku, location=message.location),
            300,
        ),
        blocks=[
            _section(
                ":leftwards_arrow_with_hook: "
                + _("Cleared the flag on {subject}; {then}").format(subject=subject, then=then)
            )
        ],
    )


# --- button clicks ---------------------------------------------------------------------------------------


def refused(verb: str, why: str, language: str = EN) -> Answer:
    """A refused command or click: what was refused and why, worded for the person who tried. ``verb`` and
    ``why`` come worded from the caller."""
    return plain(
        ":no_entry: "
        + tr(language, "Could not {verb}: {why}").format(verb=refused_verb(verb, language), why=escape(why))
    )


def acted(message: AlertMessage, escalated_to: Sequence[str] = (), tz: str = "UTC") -> Answer:
    """The clicking user's confirmation, in ``message.language`` (theirs); everyone else sees the card
    change."""
    _ = gettext_for(message.language)
    subject = _("alert #{id} ({product} at {location})").format(
        id=message.alert_id, product=escape(message.product_name), location=escape(message.location)
    )
    if message.event == "acknowledged":
        text = ":eyes: " + _("You acknowledged {subject}. Escalation stops here.").format(subject=subject)
    elif message.event == "escalated":
        to = f" ({', '.join(escalated_to)})" if escalated_to else ""
        text = ":arrow_double_up: " + _("You escalated {subject} to level {level}{to}.").format(
            subject=subject, level=message.escalation_level, to=to
        )
    elif message.event == "resolved":
        text = ":ballot_box_with_check: " + _(
            "You resolved {subject}. The cards say so; the audit log has it."
        ).format(subject=subject)
    elif message.event == "snoozed" and message.snoozed_until:
        until = slack_date(message.snoozed_until, tz)
        text = ":zzz: " + _("You snoozed {subject} until {time}; escalation waits until then.").format(
            subject=subject, time=until
        )
    else:
        state = _(STATE_WORDS[message.state]) if message.state in STATE_WORDS else message.state
        text = _("Done: {subject} is now {state}.").format(subject=subject, state=state)
    return plain(text)


def acknowledged_many(done: int, skipped: int, language: str = EN) -> Answer:
    """The answer to a digest's "Acknowledge all"."""
    ngettext = ngettext_for(language)
    text = ngettext("You acknowledged {count} alert", "You acknowledged {count} alerts", done).format(
        count=done
    )
    if skipped:
        handled = ngettext("({count} already handled)", "({count} already handled)", skipped)
        text += " " + handled.format(count=skipped)
    return plain(f":eyes: {text}.")


def failed(language: str = EN) -> Answer:
    return plain(
        ":warning: "
        + tr(
            language,
            "Sorry, stockbot hit an error while answering you (it is logged for the admin). "
            "Check the alert card or `/stock` before trying again.",
        )
    )


def unknown_command(command: str, language: str = EN) -> Answer:
    return plain(
        tr(language, "stockbot does not answer `{command}`. Try `/stock` or `/oos`.").format(
            command=escape(command)
        )
    )
