"""Reading Teams activities, and the Agents SDK's authentication pieces, for the front end in teams.py.

Pure functions of an ``Activity`` (who sent it, from where, what they typed, what a card button carries)
plus the ``AgentAuthConfiguration``/``ConnectionManager`` built from ``[teams]``: anonymous without an app id
(local development and tests), MSAL with one.
"""

from __future__ import annotations

import html
import re
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from microsoft_agents.activity import Activity, AdaptiveCardInvokeResponse, ContentTypes
from microsoft_agents.hosting.core import (
    AgentAuthConfiguration,
    AnonymousTokenProvider,
    AuthTypes,
    ConnectionManager,
)

from stockbot.adapters.i18n import language_of
from stockbot.adapters.teams import TeamsSettings
from stockbot.bot.alerts import NotFound
from stockbot.bot.permissions import Actor
from stockbot.storage import teams as conversations

_MENTION = re.compile(r"^\s*(?:<at>[^<]*</at>\s*)+", re.IGNORECASE)


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
    raise NotFound("this button names no alert; use the buttons on a stockbot card")


def card_response(card: dict[str, Any]) -> AdaptiveCardInvokeResponse:
    return AdaptiveCardInvokeResponse(status_code=200, type=ContentTypes.adaptive_card, value=card)


def error_response(status: int, message: str) -> AdaptiveCardInvokeResponse:
    """Teams keeps the card and shows ``message`` under it."""
    return AdaptiveCardInvokeResponse(
        status_code=status, type=ContentTypes.error, value={"code": str(status), "message": message}
    )


# --- the SDK's pieces -----------------------------------------------------------------------------------


def auth_configuration(settings: TeamsSettings) -> AgentAuthConfiguration:
    if not settings.app_id:
        return AgentAuthConfiguration(anonymous_allowed=True)
    assert settings.app_password is not None  # TeamsSettings requires it with app_id
    return AgentAuthConfiguration(
        auth_type=AuthTypes.client_secret,
        client_id=settings.app_id,
        client_secret=settings.app_password.get_secret_value(),
        tenant_id=settings.tenant_id or "botframework.com",
        anonymous_allowed=False,
    )


def connection_manager(settings: TeamsSettings, config: AgentAuthConfiguration) -> ConnectionManager:
    if settings.app_id:
        from microsoft_agents.authentication.msal import MsalConnectionManager

        return MsalConnectionManager({"SERVICE_CONNECTION": config})
    return ConnectionManager(lambda _: AnonymousTokenProvider(), {"SERVICE_CONNECTION": config})
