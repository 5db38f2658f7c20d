"""Block Kit for stockbot's App Home tab in Slack: one person's open alerts. Pure functions, like the cards.

The view lists each alert with its level, age and state, and the card's own buttons (``card_actions``) that
this person may use, so the card's click handlers answer them from Home as well. A location menu at the top
(action ``stockbot_home_location``, value a location or ``*`` for all) narrows the list.

Nothing in the view depends on the time it is rendered: ages are ``<!date^…^{ago}>``, which each reader's
Slack turns into "5 minutes ago" itself. So an unchanged list renders to the same view, and stockbot can
skip publishing it again.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from zoneinfo import ZoneInfo

from stockbot.adapters.base import AlertMessage
from stockbot.adapters.i18n import DEFAULT_LANGUAGE, N_, gettext_for, ngettext_for, tr
from stockbot.adapters.message import feed_source, localized
from stockbot.adapters.render.slack import (
    ACK_ACTION_ID,
    ACTIONS_BLOCK_ID,
    ESCALATE_ACTION_ID,
    RESOLVE_ACTION_ID,
    SECTION_TEXT_MAX,
    SNOOZE_ACTION_ID,
    card_actions,
    card_status,
    clip,
    escape,
    severity_text,
)

HOME_LOCATION_ACTION = "stockbot_home_location"
HOME_FILTER_BLOCK = "stockbot_home_filter"
ALL_LOCATIONS = "*"
# A Home view holds at most 100 blocks; an alert takes four, so 20 alerts and the header fit.
MAX_HOME_ALERTS = 20
MAX_OPTIONS = 100  # static_select
# The permission each of the card's elements needs (bot/permissions.py RULES). An element not named here
# (a button added to the card later) is shown to everyone: the core still refuses what a role may not do.
ACTION_PERMISSION = {
    ACK_ACTION_ID: "acknowledge",
    ESCALATE_ACTION_ID: "escalate",
    SNOOZE_ACTION_ID: "snooze",
    RESOLVE_ACTION_ID: "resolve",
}
ALERT_ACTIONS = frozenset({"acknowledge", "snooze", "escalate", "resolve"})
STATES = {"open": N_("Open"), "acknowledged": N_("Acknowledged"), "escalated": N_("Escalated")}


def home_view(
    alerts: Sequence[AlertMessage],
    *,
    may: frozenset[str],
    locations: Sequence[str] = (),
    location: str | None = None,
    more: bool = False,
    notice: str | None = None,
    timezone: str = "UTC",
    language: str = DEFAULT_LANGUAGE,
) -> dict[str, Any]:
    """The ``home`` view for one person, in ``language`` (their Slack locale's): ``alerts`` (at most
    :data:`MAX_HOME_ALERTS`), the actions they ``may`` take, the location menu and ``notice`` (the answer to
    their last click)."""
    _ = gettext_for(language)
    blocks: list[dict[str, Any]] = [_plain_header(_("Your stock alerts"))]
    if notice:
        blocks.append(_section(notice))
    if locations:
        blocks.append(_location_menu(locations, location, language))
    blocks.append(_context(_summary(len(alerts), more, location, may, language)))
    for message in alerts[:MAX_HOME_ALERTS]:
        mine = localized(message, language, message.timezone)
        blocks += [{"type": "divider"}, *_alert_blocks(mine, may, timezone)]
    if more:
        blocks.append(_context(_("Showing the most urgent; pick a location to see the others there.")))
    return {"type": "home", "blocks": blocks}


def _summary(count: int, more: bool, location: str | None, may: frozenset[str], language: str) -> str:
    _, ngettext = gettext_for(language), ngettext_for(language)
    if not may & ALERT_ACTIONS:
        return _(
            "You have no stockbot role, so no alerts are listed here. "
            "Ask an admin to add you to [roles] in stockbot.toml."
        )
    if count == 0:
        if location:
            return ":white_check_mark: " + _("No open stock alerts at {location}.").format(
                location=escape(location)
            )
        return ":white_check_mark: " + _("No open stock alerts.")
    shown, n = (f"{count}+", max(count, 2)) if more else (str(count), count)
    if location:
        line = ngettext(
            "{count} open stock alert at {location}, most urgent first.",
            "{count} open stock alerts at {location}, most urgent first.",
            n,
        )
        return line.format(count=shown, location=escape(location))
    line = ngettext(
        "{count} open stock alert, most urgent first.", "{count} open stock alerts, most urgent first.", n
    )
    return line.format(count=shown)


def _alert_blocks(message: AlertMessage, may: frozenset[str], timezone: str) -> list[dict[str, Any]]:
    """One alert, in ``message.language``."""
    _ = gettext_for(message.language)
    product = f"*{escape(message.product_name)}*"
    if feed_source(message) is None:
        product = _("*{product}* `{sku}` at *{location}*").format(
            product=escape(message.product_name), sku=escape(message.sku), location=escape(message.location)
        )
    title = f"{severity_text(message)}: {product}"
    if message.on_hand is None:
        level = _("level unknown / minimum {minimum}").format(minimum=message.minimum)
    else:
        level = _("{on_hand} on hand / minimum {minimum}").format(
            on_hand=message.on_hand, minimum=message.minimum
        )
    facts = f"{level} · {_state(message)}"
    when = _("opened {ago} · #{id}").format(ago=_ago(message, timezone), id=message.alert_id)
    blocks: list[dict[str, Any]] = [
        _section(f"{title}\n{facts}"),
        _context(f"{card_status(message, timezone)} · {when}"),
    ]
    elements = [e for e in card_actions(message) if _usable(e, may)]
    if elements:
        # block_id is unique per view; the click handlers read only the action id and its value.
        blocks.append(
            {"type": "actions", "block_id": f"{ACTIONS_BLOCK_ID}:{message.alert_id}", "elements": elements}
        )
    return blocks


def _usable(element: dict[str, Any], may: frozenset[str]) -> bool:
    needed = ACTION_PERMISSION.get(element.get("action_id", ""))
    return needed is None or needed in may


def _state(message: AlertMessage) -> str:
    language = message.language
    state = tr(language, STATES[message.state]) if message.state in STATES else message.state
    return tr(language, "{state}, snoozed").format(state=state) if message.snoozed_until else state


def _ago(message: AlertMessage, timezone: str) -> str:
    """Slack renders ``{ago}`` in each reader's client; the fallback is the opening time."""
    local = message.opened_at.astimezone(ZoneInfo(timezone))
    fallback = f"{local:%Y-%m-%d %H:%M} {local.tzname()}"
    return f"<!date^{int(message.opened_at.timestamp())}^{{ago}}|{fallback}>"


def _location_menu(locations: Sequence[str], selected: str | None, language: str) -> dict[str, Any]:
    _ = gettext_for(language)
    everywhere = _option(_("All locations"), ALL_LOCATIONS)
    options = [everywhere, *(_option(name, name) for name in locations[: MAX_OPTIONS - 1])]
    chosen = next((o for o in options if selected is not None and o["value"] == selected), everywhere)
    return {
        "type": "section",
        "block_id": HOME_FILTER_BLOCK,
        "text": {"type": "mrkdwn", "text": f"*{_('Location')}*"},
        "accessory": {
            "type": "static_select",
            "action_id": HOME_LOCATION_ACTION,
            "placeholder": {"type": "plain_text", "text": _("All locations")},
            "options": options,
            "initial_option": chosen,
        },
    }


def _option(label: str, value: str) -> dict[str, Any]:
    return {"text": {"type": "plain_text", "text": clip(label, 75)}, "value": value[:150]}


def _plain_header(text: str) -> dict[str, Any]:
    return {"type": "header", "text": {"type": "plain_text", "text": text}}


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": clip(text, SECTION_TEXT_MAX)}}


def _context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": clip(text, SECTION_TEXT_MAX)}]}
