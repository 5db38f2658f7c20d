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

from stockbot.adapters.message import AlertMessage, duration_text
from stockbot.adapters.render.teams import adaptive_card, alert_actions, severity_colour, text_block
from stockbot.adapters.render.teams_answers import local_time
from stockbot.adapters.render.text import headline, level_text, status_line

VERB_ALERTS = "stockbot.alerts"  # redraw the list: data {"location": "Chicago DC" | None}
VIEW = "alerts"  # the "view" a list's buttons carry back


def list_context(location: str | None) -> dict[str, Any]:
    """What each button of the list carries back besides the alert id."""
    return {"view": VIEW, "location": location}


def _alert(
    message: AlertMessage, may: Collection[str], location: str | None, now: datetime
) -> dict[str, Any]:
    facts = (
        f"{level_text(message)} · open for {duration_text(message.opened_at, now)} · {status_line(message)}"
    )
    items: list[dict[str, Any]] = [
        text_block(headline(message), weight="Bolder", color=severity_colour(message)),
        text_block(facts, isSubtle=True, spacing="None"),
    ]
    actions = alert_actions(message, may=may, context=list_context(location))
    if actions:
        items.append({"type": "ActionSet", "actions": actions})
    return {"type": "Container", "separator": True, "spacing": "Medium", "items": items}


def _you_may(may: Sequence[str]) -> str:
    if not may:
        return ""
    said = may[0] if len(may) == 1 else ", ".join(may[:-1]) + " or " + may[-1]
    return f"You may {said} them."


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
) -> dict[str, Any]:
    """The list, most urgent first as given. ``may``: the reader's actions on alerts, in the order to name
    them; ``more``: the core had more than ``found``; ``notice``: what the click that asked for this did, or
    why not (``refused``); ``reader``: the Teams user id whose client refreshes the card by itself."""
    where = f" at {location}" if location else ""
    title = f"Your open alerts{where}: {len(found)}{'+' if more else ''}"
    body: list[dict[str, Any]] = []
    if notice:
        body.append(text_block(notice, weight="Bolder", color="Attention" if refused else "Good"))
    body.append(text_block(title, size="Medium", weight="Bolder"))
    subtitle = " ".join(p for p in (_you_may(may), f"Most urgent first; as of {local_time(now)}.") if p)
    body.append(text_block(subtitle, isSubtle=True, spacing="None"))
    if not may:
        body.append(
            text_block(
                "You hold no role in stockbot's [roles], so no alert has a button for you: "
                "ask an admin to add your Entra object id.",
                spacing="Medium",
            )
        )
    elif not found:
        body.append(text_block(f"Nothing open that you can act on{where}.", spacing="Medium"))
    body += [_alert(message, may, location, now) for message in found]
    if more:
        hint = "" if location else " Narrow it with a location: `alerts Chicago DC`."
        body.append(text_block(f"More alerts are open than shown.{hint}", isSubtle=True, spacing="Medium"))
    refresh = {
        "type": "Action.Execute",
        "title": "Refresh",
        "verb": VERB_ALERTS,
        "data": {"location": location},
    }
    card = adaptive_card(body, [refresh], title)
    if reader:
        card["refresh"] = {"action": refresh, "userIds": [reader]}
    return card


def done_text(message: AlertMessage, event: str) -> str:
    """The notice on top of the list after a click worked."""
    return f"{event.capitalize()} alert #{message.alert_id}: {message.product_name} at {message.location}."


def not_here_text() -> str:
    """``alerts`` outside a personal chat: the list is one person's, with their own buttons."""
    return (
        "`alerts` lists your own open alerts, with the buttons your role allows, in a personal chat: "
        "open stockbot's chat (Apps → stockbot) and type `alerts` there."
    )


def unknown_location_text(typed: str) -> str:
    shown = typed[:64].replace("`", "'")
    return f"No location `{shown}` stocks anything in stockbot's catalog. Type `alerts` for every location."
