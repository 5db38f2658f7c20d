"""Wording for text destinations: SMS, e-mail, tickets and tasks. Pure functions, golden-tested.

All wording for non-chat platforms lives here, so a change of tone is one edit, not eighteen. Every string is
a gettext msgid (:mod:`adapters.i18n`), translated into ``message.language``; times are written in
``message.timezone``, the channel's configured zone.
"""

from __future__ import annotations

import html
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from stockbot.adapters.i18n import DEFAULT_LANGUAGE, N_, gettext_for, ngettext_for, tr, zone_time
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
from stockbot.adapters.notes import note_text
from stockbot.adapters.report_card import Figure, Offender, ReportCard

SEVERITY_WORDS = {"low": N_("Low stock"), "out": N_("Out of stock"), "critical": N_("CRITICAL shortage")}
TRIGGER_WORDS = {
    "low_stock": N_("level at or below minimum"),
    "out_of_stock": N_("level at zero"),
    "source_out_of_stock": N_("source reported out of stock"),
    "batch_check": N_("scheduled stock check"),
    "manual": N_("flagged by warehouse staff"),
    "fulfillment_failed": N_("sales order could not be fulfilled"),
    "test": N_("test alert"),
    "feed_silent": N_("no events from the feed in time"),
    "forecast": N_("expected to run out soon at the current rate of sale"),
}
# A feed is not stock: its severity reads as a plain level, not "Out of stock".
FEED_SEVERITY = {"low": N_("Low"), "out": N_("Out"), "critical": N_("Critical")}
# Tickets and tasks: a priority word from severity, mapped per platform by each adapter.
PRIORITY = {"low": "normal", "out": "high", "critical": "urgent"}


def severity_label(severity: str, language: str = DEFAULT_LANGUAGE) -> str:
    """``Out of stock``, translated; an unknown severity as it is."""
    return tr(language, SEVERITY_WORDS[severity]) if severity in SEVERITY_WORDS else severity


def trigger_label(trigger: str, language: str = DEFAULT_LANGUAGE) -> str:
    return tr(language, TRIGGER_WORDS[trigger]) if trigger in TRIGGER_WORDS else trigger


def when_text(message: AlertMessage, moment: datetime) -> str:
    """A moment in the channel's time zone (e-mail, SMS, tickets: no per-reader localisation there)."""
    return zone_time(moment, message.timezone)


def silence(message: AlertMessage) -> str:
    """How long the feed had been silent at this message (``last_changed_at``: its last event)."""
    end = message.resolved_at or message.updated_at
    return duration_text(message.last_changed_at or message.opened_at, end, message.language)


def headline(message: AlertMessage) -> str:
    """One line naming status, product, SKU and location: subjects, titles, notification text."""
    if message.report is not None:
        return message.report.title(message.language)
    _ = gettext_for(message.language)
    if message.digest:
        return digest_title(message)
    source = feed_source(message)
    if source is not None:
        if message.is_resolved:
            return _("Feed back: {source} events resumed").format(source=source)
        return _("Feed silent: {source} has sent nothing for {duration}").format(
            source=source, duration=silence(message)
        )
    if message.is_resolved:
        status = _("Resolved by hand") if message.resolved_by_hand else _("Back in stock")
    else:
        status = severity_words(message)
    return _("{status}: {product} ({sku}) at {location}").format(
        status=status, product=message.product_name, sku=message.sku, location=message.location
    )


def severity_words(message: AlertMessage) -> str:
    """``Out of stock``; ``Recovering (was out of stock)`` once the level is above the minimum again."""
    words = severity_label(message.severity, message.language)
    if alert_condition(message) == RECOVERING:
        return tr(message.language, "Recovering (was {severity})").format(severity=words.lower())
    return words


def level_text(message: AlertMessage, who: Callable[[str], str] = str) -> str:
    """The level as it is now, and how it squares with the severity: "2 on hand, recovering: resolves above
    2 (minimum 1)", "flagged out of stock by Sam although the system shows 5 on hand (minimum 1)".
    ``who`` writes a person's name (Slack makes mentions of user ids)."""
    _ = gettext_for(message.language)
    if feed_source(message) is not None:
        if message.is_resolved:
            return _("events flowing again")
        return _("no events for {duration}").format(duration=silence(message))
    if message.on_hand is None:
        return _("level unknown / minimum {minimum}").format(minimum=message.minimum)
    condition, on_hand, minimum = alert_condition(message), message.on_hand, message.minimum
    if condition == RECOVERING:
        if message.resolves_above is None:  # a message queued before stockbot said where it resolves
            return _("{on_hand} on hand, recovering (minimum {minimum})").format(
                on_hand=on_hand, minimum=minimum
            )
        return _("{on_hand} on hand, recovering: resolves above {above} (minimum {minimum})").format(
            on_hand=on_hand, above=message.resolves_above, minimum=minimum
        )
    if condition == FLAGGED:
        by = who(message.flagged_by or _("someone"))
        return _(
            "flagged out of stock by {who} although the system shows {on_hand} on hand (minimum {minimum})"
        ).format(who=by, on_hand=on_hand, minimum=minimum)
    if condition == REPORTED:
        source = who(message.last_source or _("the source"))
        return _("{source} reports out of stock although its level is {on_hand} (minimum {minimum})").format(
            source=source, on_hand=on_hand, minimum=minimum
        )
    return _("{on_hand} on hand / minimum {minimum}").format(on_hand=on_hand, minimum=minimum)


def worsened_text(message: AlertMessage, who: Callable[[str], str] = str) -> str:
    """The news a worse severity is: "Worse: now Out of stock, 0 on hand / minimum 1 (was Low stock)"."""
    _ = gettext_for(message.language)
    now = _("Worse: now {severity}, {level}").format(
        severity=severity_words(message), level=level_text(message, who)
    )
    if not message.previous_severity:
        return now
    was = severity_label(message.previous_severity, message.language)
    return _("{news} (was {severity})").format(news=now, severity=was)


def status_line(message: AlertMessage, when: Callable[[datetime], str] | None = None) -> str:
    """Who did what last: the line that changes as the alert moves. ``when`` writes a time (a chat card
    shows it in each reader's zone); by default, in the channel's zone."""
    _ = gettext_for(message.language)
    at = when or (lambda moment: when_text(message, moment))
    if message.is_resolved and message.resolved_at and feed_source(message) is not None:
        return _("Events resumed after {duration} of silence").format(duration=silence(message))
    if message.resolved_by_hand and message.resolved_at:
        took = duration_text(message.opened_at, message.resolved_at, message.language)
        return _("Resolved by {who} after {duration}: {note}").format(
            who=message.resolved_by or _("someone"),
            duration=took,
            note=note_text(message.resolved_note, message.language),
        )
    if message.is_resolved and message.resolved_at:
        took = duration_text(message.opened_at, message.resolved_at, message.language)
        return _("Back in stock after {duration}").format(duration=took)
    if message.state == "escalated":
        line = _("Escalated to level {level}").format(level=message.escalation_level)
        if message.escalated_by:
            line = _("{escalated} by {who}").format(escalated=line, who=message.escalated_by)
        note = note_text(message.escalation_note, message.language)
        return f"{line} ({note})" if note else line
    if message.state == "acknowledged" and message.acknowledged_by:
        return _("Acknowledged by {who}").format(who=message.acknowledged_by)
    if message.snoozed_until:
        return _("Snoozed until {time}").format(time=at(message.snoozed_until))
    return _("Open, not yet acknowledged")


def sms(message: AlertMessage) -> str:
    """Under 160 characters (one GSM segment) and always naming SKU, status and location."""
    if message.report is not None:
        return report_sms(message.report, message.language)
    _ = gettext_for(message.language)
    if message.digest:
        return _digest_sms(message)
    if message.custom_text:  # the channel's own wording, clipped to the same one segment
        return _clip_sms(message.custom_text)
    source = feed_source(message)
    if source is not None:
        return _clip_sms(_feed_sms(message, source))
    status = _("BACK IN STOCK") if message.is_resolved else _sms_severity(message)
    if alert_condition(message) == RECOVERING:
        status = _("RECOVERING")
    elif message.resolved_by_hand:
        status = _("RESOLVED")
    fixed = f"{status} {message.sku} @ {message.location}: {level_text(message)}"
    if message.state in ("acknowledged", "escalated") and not message.is_resolved:
        fixed += f" ({_state_word(message)})"
    room = 159 - len(fixed) - 3
    name = message.product_name
    if room < 8:
        return _ascii(fixed)[:159]
    if len(name) > room:
        name = name[: room - 1].rstrip() + "."
    return _ascii(f"{fixed} - {name}")[:159]


DIGEST_MARKS = {"critical": N_("CRITICAL"), "out": N_("OUT"), "low": N_("LOW")}
STATE_WORDS = {"acknowledged": N_("acknowledged"), "escalated": N_("escalated")}


def _sms_severity(message: AlertMessage) -> str:
    mark = DIGEST_MARKS.get(message.severity)
    return tr(message.language, mark) if mark else message.severity.upper()


def _state_word(message: AlertMessage) -> str:
    word = STATE_WORDS.get(message.state)
    return tr(message.language, word) if word else message.state


def _feed_sms(message: AlertMessage, source: str) -> str:
    _ = gettext_for(message.language)
    if message.is_resolved:
        return _("FEED BACK {source}: events resumed after {duration} of silence").format(
            source=source, duration=silence(message)
        )
    state = f" ({_state_word(message)})" if message.state in ("acknowledged", "escalated") else ""
    return (
        _("FEED SILENT {source}: no events for {duration}").format(source=source, duration=silence(message))
        + state
    )


def _clip_sms(text: str) -> str:
    text = _ascii(text.strip())
    return text if len(text) <= 159 else text[:156].rstrip() + "..."


def _ascii(text: str) -> str:
    # Non-GSM characters switch an SMS to UCS-2 and 70-character segments: keep it GSM-safe. Accented letters
    # (Spanish á, é, ñ) keep their base letter rather than becoming "?".
    bare = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    return bare.encode("ascii", "replace").decode("ascii")


def fact_lines(message: AlertMessage, times: bool = True) -> list[tuple[str, str]]:
    """The facts every rich destination shows, in order, as (label, value) pairs, times in the channel's
    zone. ``times=False`` leaves out the facts that are moments (see :func:`time_facts`), for a card that
    shows those in each reader's zone its own way."""
    _ = gettext_for(message.language)
    when = (lambda moment: when_text(message, moment)) if times else None
    source = feed_source(message)
    facts = _feed_facts(message, source, when) if source is not None else _stock_facts(message, when)
    if message.reason:
        facts.append((_("Reason"), note_text(message.reason, message.language)))
    if message.link:
        facts.append((_("Link"), message.link))
    return facts


def time_facts(message: AlertMessage, when: Callable[[datetime], str]) -> list[tuple[str, str]]:
    """The facts that are moments: since when the feed is silent and the alert open, written by ``when``."""
    _ = gettext_for(message.language)
    facts = []
    if feed_source(message) is not None:
        facts.append((_("Silent since"), when(message.last_changed_at or message.opened_at)))
    facts.append((_("Since"), when(message.opened_at)))
    return facts


def _feed_facts(
    message: AlertMessage, source: str, when: Callable[[datetime], str] | None
) -> list[tuple[str, str]]:
    _ = gettext_for(message.language)
    moments = time_facts(message, when) if when else []
    return [
        (_("Feed"), source),
        *moments[:1],
        (
            _("Severity"),
            _(FEED_SEVERITY[message.severity]) if message.severity in FEED_SEVERITY else message.severity,
        ),
        (_("Trigger"), trigger_label("feed_silent", message.language)),
        (_("Status"), status_line(message)),
        *moments[1:],
    ]


def _stock_facts(message: AlertMessage, when: Callable[[datetime], str] | None) -> list[tuple[str, str]]:
    _ = gettext_for(message.language)
    facts = [
        (_("Product"), f"{message.product_name} ({message.sku})"),
        (_("Location"), message.location),
        (_("Level"), level_text(message)),
        (_("Severity"), severity_words(message)),
        (_("Trigger"), trigger_label(message.trigger, message.language)),
        (_("Status"), status_line(message)),
        *(time_facts(message, when) if when else []),
    ]
    if message.blocked_orders:
        orders = ", ".join(o.order_id for o in message.blocked_orders)
        value = _("{orders} ({units} units)").format(orders=orders, units=message.blocked_quantity)
        facts.append((_("Blocked orders"), value))
    if (cover := cover_text(message)) is not None:
        facts.append((_("Cover"), cover))
    return facts


def footer(message: AlertMessage) -> str:
    return tr(message.language, "stockbot alert #{id}").format(id=message.alert_id)


def cover_text(message: AlertMessage) -> str | None:
    """Days of cover at the rate of sale, and the suggested reorder (README, "History and reports")."""
    if message.rate_of_sale is None:
        return None
    _ = gettext_for(message.language)
    rate = f"{message.rate_of_sale:.1f}".removesuffix(".0")
    days = message.days_of_cover
    if days is None:
        cover = _("no recent sales")
    else:
        cover = _("{days} days at {rate} a day").format(days=f"{days:.1f}", rate=rate)
    return _("{cover}; suggested reorder {quantity}").format(cover=cover, quantity=message.suggested_reorder)


def plain_text(message: AlertMessage) -> str:
    if message.report is not None:
        return report_plain_text(message.report, message.language)
    if message.digest:
        return _digest_plain_text(message)
    lines = [headline(message), ""]
    if message.custom_text:  # the channel's own wording in place of the facts
        lines.append(message.custom_text)
    else:
        lines += [f"{label}: {value}" for label, value in fact_lines(message)]
    lines += ["", footer(message)]
    return "\n".join(lines)


def email_subject(message: AlertMessage) -> str:
    return f"[stockbot] {headline(message)}"


def email_html(message: AlertMessage) -> str:
    if message.report is not None:
        return report_email_html(message.report, message.language)
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
        f"<!doctype html><html lang='{html.escape(message.language)}'><body style='font-family:sans-serif'>"
        f"<h2 style='margin:0 0 8px'>{html.escape(headline(message))}</h2>"
        f"{body}"
        f"<p style='color:#666'>{html.escape(footer(message))}</p></body></html>"
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


def digest_title(message: AlertMessage) -> str:
    return tr(message.language, "Stock digest: {name}").format(name=digest_name(message))


DIGEST_COUNTS = {"critical": N_("{count} critical"), "out": N_("{count} out"), "low": N_("{count} low")}


def digest_name(message: AlertMessage) -> str:
    """``5 stock alerts: 1 critical, 3 out, 1 back in stock``, worded here from the digest's alerts (the
    core's ``product_name`` for a digest is English, for logs)."""
    if not message.digest:
        return message.product_name
    _, ngettext = gettext_for(message.language), ngettext_for(message.language)
    items = message.digest
    parts = []
    for severity, words in DIGEST_COUNTS.items():
        count = sum(1 for m in items if m.severity == severity and not m.is_resolved)
        if count:
            parts.append(_(words).format(count=count))
    resolved = sum(1 for m in items if m.is_resolved)
    if resolved:
        parts.append(_("{count} back in stock").format(count=resolved))
    alerts = ngettext("{count} stock alert", "{count} stock alerts", len(items)).format(count=len(items))
    return f"{alerts}: {', '.join(parts)}"


def digest_line(item: AlertMessage) -> str:
    _ = gettext_for(item.language)
    mark = _("BACK IN STOCK") if item.is_resolved else _sms_severity(item)
    if alert_condition(item) == RECOVERING:
        mark = _("RECOVERING")
    elif item.resolved_by_hand:
        mark = _("RESOLVED")
    return _("{mark} {product} ({sku}) at {location}: {level}; {status}").format(
        mark=mark,
        product=item.product_name,
        sku=item.sku,
        location=item.location,
        level=level_text(item),
        status=status_line(item),
    )


def digest_open_ids(message: AlertMessage) -> list[int]:
    """Alerts a bulk Acknowledge applies to: unresolved and not yet acknowledged."""
    return [i.alert_id for i in message.digest if not i.is_resolved and not i.acknowledged_by]


def _digest_plain_text(message: AlertMessage) -> str:
    return "\n".join([digest_title(message), "", *(f"- {digest_line(i)}" for i in message.digest)])


def _digest_sms(message: AlertMessage) -> str:
    """One segment: the counts, then as many SKUs as fit."""
    _ = gettext_for(message.language)
    head = _("{count} stock alerts:").format(count=len(message.digest))
    skus = [i.sku + ("(ok)" if i.is_resolved else "") for i in message.digest]
    text = head
    for index, sku in enumerate(skus):
        rest = len(skus) - index - 1
        more = _(" +{count} more")
        candidate = f"{text} {sku}" + ("," if rest else "")
        if len(candidate) + (len(more.format(count=rest)) if rest else 0) > 159:
            return _ascii(text.rstrip(",") + more.format(count=len(skus) - index))
        text = candidate
    return _ascii(text)


def _digest_email_html(message: AlertMessage) -> str:
    rows = "".join(f"<li>{html.escape(digest_line(i))}</li>" for i in message.digest)
    return (
        f"<!doctype html><html lang='{html.escape(message.language)}'><body style='font-family:sans-serif'>"
        f"<h2 style='margin:0 0 8px'>{html.escape(digest_title(message))}</h2><ul>{rows}</ul></body></html>"
    )


# Reports (a scheduled report or a chat answer): key figures against the previous period and the top repeat
# offenders, from a ReportCard (adapters/report_card.py). Text and e-mail destinations use these; Slack and
# Teams draw their own cards from the same card.


def change_text(figure: Figure, language: str = DEFAULT_LANGUAGE) -> str:
    """ "▲ from 9", "no change", or "" when there is nothing to compare with."""
    if not figure.trend:
        return ""
    if figure.trend == "same":
        return tr(language, "no change")
    return tr(language, "{arrow} from {previous}").format(
        arrow=figure.arrow, previous=figure.previous_text(language)
    )


def report_figure_text(figure: Figure, language: str = DEFAULT_LANGUAGE) -> str:
    change = change_text(figure, language)
    said = f"{figure.label_text(language)}: {figure.value_text(language)}"
    return f"{said} ({change})" if change else said


def report_offender_text(index: int, offender: Offender, language: str = DEFAULT_LANGUAGE) -> str:
    ngettext = ngettext_for(language)
    words = ngettext(
        "{name} ({sku}) at {location}: {count} stock-out, {time_out} out of stock",
        "{name} ({sku}) at {location}: {count} stock-outs, {time_out} out of stock",
        offender.stockouts,
    )
    line = words.format(
        name=offender.name,
        sku=offender.sku,
        location=offender.location,
        count=offender.stockouts,
        time_out=offender.time_out(language),
    )
    return f"{index}. {line}"


def report_plain_text(card: ReportCard, language: str = DEFAULT_LANGUAGE) -> str:
    _ = gettext_for(language)
    figures = [report_figure_text(f, language) for f in card.figures]
    lines = [card.title(language), card.period(language), "", *figures, ""]
    if card.offenders:
        lines += [
            _("Top repeat offenders:"),
            *(report_offender_text(i, o, language) for i, o in enumerate(card.offenders, 1)),
        ]
    else:
        lines.append(_("No repeat offenders in this period."))
    if card.link:
        lines += ["", _("Dashboard: {link}").format(link=card.link)]
    return "\n".join(lines)


# ▲, ▼ and · are not in the GSM alphabet (they would arrive as "?"): an SMS says +, - and a comma.
_SMS_TREND = {"up": "+", "down": "-", "same": "="}


def report_sms(card: ReportCard, language: str = DEFAULT_LANGUAGE) -> str:
    """One segment: the first figures that fit."""
    text = "stockbot " + card.title(language).partition(": ")[2].replace(" · ", ", ")
    for figure in card.figures:
        trend = _SMS_TREND.get(figure.trend, "")
        part = f"; {figure.label_text(language).lower()} {figure.value_text(language)}{trend}"
        if len(_ascii(text + part)) > 159:
            break
        text += part
    return _clip_sms(text)


def report_email_html(card: ReportCard, language: str = DEFAULT_LANGUAGE) -> str:
    """Tables only (mail clients draw no SVG): the figures, the offenders, and a link to the dashboard."""
    _ = gettext_for(language)
    colours = {True: "#2e8b57", False: "#d2452e", None: "#5b6473"}
    figure_rows = "".join(
        f"<tr><th align='left' style='padding:2px 12px 2px 0'>{html.escape(f.label_text(language))}</th>"
        f"<td style='padding:2px 12px 2px 0'><b>{html.escape(f.value_text(language))}</b></td>"
        f"<td style='color:{colours[f.improved]}'>{html.escape(change_text(f, language))}</td></tr>"
        for f in card.figures
    )
    offenders = "".join(
        f"<li>{html.escape(report_offender_text(i, o, language).partition(' ')[2])}</li>"
        for i, o in enumerate(card.offenders, 1)
    )
    top = html.escape(_("Top repeat offenders"))
    offenders_html = f"<h3>{top}</h3><ol>{offenders}</ol>" if offenders else ""
    opens = html.escape(_("Open the dashboard"))
    link = f"<p><a href='{html.escape(card.link)}'>{opens}</a></p>" if card.link else ""
    return (
        f"<!doctype html><html lang='{html.escape(language)}'><body style='font-family:sans-serif'>"
        f"<h2 style='margin:0 0 4px'>{html.escape(card.title(language))}</h2>"
        f"<p style='color:#666;margin:0 0 12px'>{html.escape(card.period(language))}</p>"
        f"<table>{figure_rows}</table>{offenders_html}{link}</body></html>"
    )


# Stock answers (Slack /stock, Teams stock): the one-line summary a notification or fallback shows.


def stock_summary(product: ProductStock, language: str = DEFAULT_LANGUAGE) -> str:
    """``Name (SKU): short at A; recovering at B; level unknown at C``; "in stock everywhere" only when every
    level is known and above its minimum with no alert open."""
    _ = gettext_for(language)
    status = {where.location: stock_status(where) for where in product.locations}
    groups = [
        (
            _("short at {places}"),
            [loc for loc, s in status.items() if s not in (IN_STOCK, UNKNOWN, RECOVERING)],
        ),
        (_("recovering at {places}"), [loc for loc, s in status.items() if s == RECOVERING]),
        (_("level unknown at {places}"), [loc for loc, s in status.items() if s == UNKNOWN]),
    ]
    parts = [words.format(places=", ".join(places)) for words, places in groups if places]
    summary = "; ".join(parts) or _("in stock everywhere")
    return f"{product.name} ({product.sku}): {summary}"


def location_level(where: LocationStock, language: str = DEFAULT_LANGUAGE) -> str:
    """A stock answer's level: "3 on hand / minimum 2, critical at 0", or "level unknown"."""
    _ = gettext_for(language)
    if where.on_hand is None:
        on_hand = _("level unknown")
    else:
        on_hand = _("{on_hand} on hand").format(on_hand=where.on_hand)
    level = _("{on_hand} / minimum {minimum}").format(on_hand=on_hand, minimum=where.minimum)
    if where.critical_level is not None:
        level += ", " + _("critical at {level}").format(level=where.critical_level)
    return level


def stock_note(
    where: LocationStock, who: Callable[[str], str] = str, language: str = DEFAULT_LANGUAGE
) -> str:
    """What a stock answer adds when an open alert's severity and the level disagree: where a recovering
    level resolves, or who said out although the system shows stock. Empty when they agree."""
    _ = gettext_for(language)
    alert, on_hand = where.alert, where.on_hand
    if alert is None or on_hand is None:
        return ""
    if stock_status(where) == RECOVERING and where.resolves_above is not None:
        return _("resolves above {above}").format(above=where.resolves_above)
    if alert.flagged_by and on_hand > 0:
        return _("flagged out of stock by {who} although the system shows {on_hand} on hand").format(
            who=who(alert.flagged_by), on_hand=on_hand
        )
    if alert.trigger == "source_out_of_stock" and on_hand > 0:
        source = who(where.last_source or _("the source"))
        return _("{source} reports out of stock although its level is {on_hand}").format(
            source=source, on_hand=on_hand
        )
    return ""


# What a front end says it could not do (the audit log keeps these English words): worded here per reader.
REFUSED_VERBS = (
    N_("acknowledge"),
    N_("escalate"),
    N_("snooze"),
    N_("resolve"),
    N_("flag stock"),
    N_("clear the flag"),
    N_("do that"),
    N_("open the dashboard"),
    N_("make that report"),
)


def refused_verb(verb: str, language: str) -> str:
    """One of :data:`REFUSED_VERBS` in ``language``; any other verb as given."""
    return tr(language, verb) if verb in REFUSED_VERBS else verb
