"""The answer to ``alerts`` in a personal chat: a person's open alerts as one Adaptive Card (1.5).

Each alert shows its level, age and state, with the alert card's own buttons (``alert_actions``) limited to
those the reader's roles allow; every button carries ``{"view": "alerts", "location": …}`` back, so the click
is answered with this list refreshed rather than the single alert's card. A Refresh button (``VERB_ALERTS``)
and the card's ``refresh`` (Universal Actions: Teams asks again when the reader opens the chat) redraw it.
Which alerts, and in what order, is the core's decision (``bot/inbox.py``). Pure functions.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from stockbot.adapters.i18n import DEFAULT_LANGUAGE, N_, gettext_for, ngettext_for, tr
from stockbot.adapters.message import AlertMessage, duration_text, localized
from stockbot.adapters.render.teams import adaptive_card, alert_actions, severity_colour, text_block
from stockbot.adapters.render.teams_answers import local_time
from stockbot.adapters.render.text import headline, level_text, refused_verb, status_line

VERB_ALERTS = "stockbot.alerts"  # redraw the list: data {"location": "Chicago DC" | None}
VIEW = "alerts"  # the "view" a list's buttons carry back
EN = DEFAULT_LANGUAGE
# The notice after a click worked, per the core's event (bot/alerts.py).
DONE = {
    "acknowledged": N_("Acknowledged alert #{id}: {product} at {location}."),
    "escalated": N_("Escalated alert #{id}: {product} at {location}."),
    "snoozed": N_("Snoozed alert #{id}: {product} at {location}."),
    "resolved": N_("Resolved alert #{id}: {product} at {location}."),
}
DONE_OTHER = N_("Updated alert #{id}: {product} at {location}.")


def list_context(location: str | None) -> dict[str, Any]:
    """What each button of the list carries back besides the alert id."""
    return {"view": VIEW, "location": location}


def _alert(
    message: AlertMessage, may: Collection[str], location: str | None, now: datetime
) -> dict[str, Any]:
    language = message.language
    open_for = tr(language, "open for {duration}").format(
        duration=duration_text(message.opened_at, now, language)
    )
    facts = f"{level_text(message)} · {open_for} · {status_line(message)}"
    items: list[dict[str, Any]] = [
        text_block(headline(message), weight="Bolder", color=severity_colour(message)),
        text_block(facts, isSubtle=True, spacing="None"),
    ]
    actions = alert_actions(message, may=may, context=list_context(location))
    if actions:
        items.append({"type": "ActionSet", "actions": actions})
    return {"type": "Container", "separator": True, "spacing": "Medium", "items": items}


def _you_may(may: Sequence[str], language: str) -> str:
    if not may:
        return ""
    _ = gettext_for(language)
    verbs = [refused_verb(verb, language) for verb in may]
    said = (
        verbs[0]
        if len(verbs) == 1
        else _("{some} or {last}").format(some=", ".join(verbs[:-1]), last=verbs[-1])
    )
    return _("You may {actions} them.").format(actions=said)


def alerts_card(
    found: Sequence[AlertMessage],
    *,
    may: Sequence[str],
    now: datetime,
    location: str | None = None,
    more: bool = False,
    notice: str | None = None,
    refused: bool = False,
    reader: str | None = None,
    language: str = EN,
) -> dict[str, Any]:
    """The list, most urgent first as given, in ``language`` (the reader's). ``may``: the reader's actions on
    alerts, in the order to name them; ``more``: the core had more than ``found``; ``notice``: what the click
    that asked for this did, or why not (``refused``); ``reader``: the Teams user id whose client refreshes
    the card by itself."""
    _ = gettext_for(language)
    count = f"{len(found)}{'+' if more else ''}"
    if location:
        title = _("Your open alerts at {location}: {count}").format(location=location, count=count)
    else:
        title = _("Your open alerts: {count}").format(count=count)
    body: list[dict[str, Any]] = []
    if notice:
        body.append(text_block(notice, weight="Bolder", color="Attention" if refused else "Good"))
    body.append(text_block(title, size="Medium", weight="Bolder"))
    as_of = _("Most urgent first; as of {time}.").format(time=local_time(now))
    subtitle = " ".join(p for p in (_you_may(may, language), as_of) if p)
    body.append(text_block(subtitle, isSubtle=True, spacing="None"))
    if not may:
        body.append(
            text_block(
                _(
                    "You hold no role in stockbot's [roles], so no alert has a button for you: "
                    "ask an admin to add your Entra object id."
                ),
                spacing="Medium",
            )
        )
    elif not found:
        if location:
            nothing = _("Nothing open that you can act on at {location}.").format(location=location)
        else:
            nothing = _("Nothing open that you can act on.")
        body.append(text_block(nothing, spacing="Medium"))
    body += [_alert(localized(message, language, message.timezone), may, location, now) for message in found]
    if more:
        if location:
            hint = _("More alerts are open than shown.")
        else:
            hint = _("More alerts are open than shown. Narrow it with a location: {example}.").format(
                example="`alerts Chicago DC`"
            )
        body.append(text_block(hint, isSubtle=True, spacing="Medium"))
    refresh = {
        "type": "Action.Execute",
        "title": _("Refresh"),
        "verb": VERB_ALERTS,
        "data": {"location": location},
    }
    card = adaptive_card(body, [refresh], title)
    if reader:
        card["refresh"] = {"action": refresh, "userIds": [reader]}
    return card


def done_text(message: AlertMessage, event: str, language: str = EN) -> str:
    """The notice on top of the list after a click worked."""
    return tr(language, DONE.get(event, DONE_OTHER)).format(
        id=message.alert_id, product=message.product_name, location=message.location
    )


def not_done_text(why: str, language: str = EN) -> str:
    """The notice on top of the list after a click was refused (``why``: the core's reason)."""
    return tr(language, "Not done: {why}").format(why=why)


def acknowledged_all_text(done: int, skipped: int, who: str, language: str = EN) -> str:
    """The answer to a digest card's "Acknowledge all" (``skipped``: acknowledged, resolved or gone)."""
    ngettext = ngettext_for(language)
    text = ngettext("Acknowledged {count} alert by {who}", "Acknowledged {count} alerts by {who}", done)
    text = text.format(count=done, who=who)
    if skipped:
        handled = ngettext("({count} already handled)", "({count} already handled)", skipped)
        text += " " + handled.format(count=skipped)
    return text + "."


def sorry_text(language: str = EN) -> str:
    """A message that failed on stockbot's side: the error is logged, the person only gets this."""
    return tr(language, "Sorry, stockbot could not finish that. The error is logged; please try again.")


def not_here_text(language: str = EN) -> str:
    """``alerts`` outside a personal chat: the list is one person's, with their own buttons."""
    return tr(
        language,
        "`alerts` lists your own open alerts, with the buttons your role allows, in a personal chat: "
        "open stockbot's chat (Apps → stockbot) and type `alerts` there.",
    )


def unknown_location_text(typed: str, language: str = EN) -> str:
    shown = typed[:64].replace("`", "'")
    return tr(
        language,
        "No location `{location}` stocks anything in stockbot's catalog. Type `alerts` for every location.",
    ).format(location=shown)
