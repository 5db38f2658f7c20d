"""Reading Teams activities for the front end in teams.py.

Pure functions of an ``Activity``: who sent it, from where, what they typed, what a card button carries.
(Tokens: ``handlers/teams_auth.py`` checks Teams'; ``adapters/teams_auth.py`` fetches stockbot's own.)
"""

from __future__ import annotations

import html
import re
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from microsoft_agents.activity import Activity, AdaptiveCardInvokeResponse, ContentTypes
from yarl import URL

from stockbot.adapters.i18n import language_of, phrase
from stockbot.adapters.render.teams_inbox import VIEW
from stockbot.bot.alerts import NotFound
from stockbot.bot.permissions import Actor
from stockbot.storage import teams as conversations

_MENTION = re.compile(r"^\s*(?:<at>[^<]*</at>\s*)+", re.IGNORECASE)


def activity_problem(body: Any) -> str | None:
    """What the SDK would trip over in a request body before its own checks, or None: it must be an object,
    and ``serviceUrl`` (where replies go) an absolute http(s) URL."""
    if not isinstance(body, dict):
        return "the body must be a JSON object"
    service_url = body.get("serviceUrl")
    if service_url is None:
        return None
    if not isinstance(service_url, str):
        return "serviceUrl must be a string"
    try:
        url = URL(service_url)
    except ValueError:
        url = None
    if url is None or url.scheme not in ("http", "https") or not url.host:
        return "serviceUrl must be an absolute http(s) URL"
    return None


def command_text(activity: Activity) -> str:
    """The text with any leading @mentions removed (the SDK strips stockbot's own when it has the entity)."""
    text = html.unescape(activity.text or "").replace("\xa0", " ")
    return " ".join(_MENTION.sub("", text).split())


def actor_of(activity: Activity) -> Actor:
    person = activity.from_property
    if person is None:
        return Actor(id="?", via="teams")
    return Actor(id=person.aad_object_id or person.id or "?", via="teams", name=person.name or "")


def _channel_data(activity: Activity) -> dict[str, Any]:
    data = activity.channel_data
    if isinstance(data, dict):
        return data
    dump = getattr(data, "model_dump", None)
    return dump(by_alias=True) if dump else {}


def scope_of(activity: Activity) -> str:
    """personal | groupChat | team (a team's General channel, where a team install lands) | channel."""
    conversation = activity.conversation
    kind = conversation.conversation_type or ("groupChat" if conversation.is_group else "personal")
    if kind != "channel":
        return kind
    team = _channel_data(activity).get("team") or {}
    return "team" if team.get("id") == conversations.base_conversation_id(conversation.id) else "channel"


def name_of(activity: Activity, scope: str) -> str | None:
    data = _channel_data(activity)
    team = (data.get("team") or {}).get("name")
    channel = (data.get("channel") or {}).get("name")
    if team or channel:
        return " / ".join(n for n in (team, channel) if n)
    if scope == "personal" and activity.from_property is not None:
        return activity.from_property.name
    return activity.conversation.name


def tenant_of(activity: Activity) -> str | None:
    return activity.conversation.tenant_id or (_channel_data(activity).get("tenant") or {}).get("id")


def reference_of(activity: Activity) -> dict[str, Any] | None:
    """What the ``teams`` adapter needs to post here later; None without a user (the SDK requires one)."""
    if activity.from_property is None or not activity.service_url:
        return None
    reference = activity.get_conversation_reference().model_dump(
        mode="json", by_alias=True, exclude_none=True
    )
    # A channel thread's id ends in ";messageid=…": alert cards go to the channel, not into that thread.
    reference["conversation"]["id"] = conversations.base_conversation_id(reference["conversation"]["id"])
    return reference


def language_from(activity: Activity) -> str:
    """The language to answer this person in: their Teams client's ``locale`` (``es-MX`` → ``es``), English
    when stockbot has no catalog for it."""
    return language_of(activity.locale)


def timezone_of(activity: Activity) -> str:
    """Snoozing "until tomorrow" means 9:00 where the person clicking is (Teams sends localTimezone)."""
    try:
        return str(ZoneInfo(activity.local_timezone or "UTC"))
    except (ZoneInfoNotFoundError, ValueError):
        return "UTC"


def alert_id_of(data: Any) -> int:
    value = data.get("alert_id") if isinstance(data, dict) else None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    raise NotFound(phrase("this button names no alert; use the buttons on a stockbot card"))


def reader_of(activity: Activity) -> str:
    """The Teams user id (``29:…``) a personal card is drawn for: Teams refreshes the card for that user."""
    return (activity.from_property.id if activity.from_property else None) or "?"


def from_list(data: Any) -> bool:
    """Whether a button was on a person's own list of alerts (``alerts``), not on an alert's card."""
    return isinstance(data, dict) and data.get("view") == VIEW


def list_location_of(data: Any) -> str | None:
    """The location a list was narrowed to, as its buttons carry it back."""
    value = data.get("location") if isinstance(data, dict) else None
    return value[:64] if isinstance(value, str) and value.strip() else None


def card_response(card: dict[str, Any]) -> AdaptiveCardInvokeResponse:
    return AdaptiveCardInvokeResponse(status_code=200, type=ContentTypes.adaptive_card, value=card)


def error_response(status: int, message: str) -> AdaptiveCardInvokeResponse:
    """Teams keeps the card and shows ``message`` under it."""
    return AdaptiveCardInvokeResponse(
        status_code=status, type=ContentTypes.error, value={"code": str(status), "message": message}
    )
