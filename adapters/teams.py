"""Microsoft Teams through the Microsoft 365 Agents SDK: a proactive alert card, then updated in place.

Docs: https://learn.microsoft.com/en-us/microsoftteams/platform/bots/how-to/conversations/send-proactive-messages
and https://learn.microsoft.com/en-us/microsoft-365/agents-sdk/ (Bot Connector API v3 underneath).

Address: a Teams conversation id that the inbound front end stored when stockbot was installed there (the
SDK's ConversationReference JSON, with ``user``): ``19:…@thread.tacv2`` for a channel, ``19:…@thread.v2``
for a group chat, ``a:…`` for a personal chat. The receipt's external id is the Teams activity id of the card.

The first event posts the card (``continue_conversation`` + ``send_activity``); every later event replaces
it (``update_activity``) with the refreshed card: acknowledged by whom, snoozed until, escalation level,
and once resolved "back in stock after …" without buttons. A worse severity (low → out) is news an edit
would not announce: it also gets a reply under the card in a channel, or a new message in a chat.
Button clicks come back to ``/api/messages`` as ``adaptiveCard/action`` invokes (verbs in
:mod:`adapters.render.teams`).

Credentials: ``app_id``/``app_password`` (and ``tenant_id`` for a single-tenant bot) of the Azure Bot's
Entra app registration; every call carries stockbot's own bearer token (:mod:`adapters.teams_auth`) from the
configured cloud's login endpoint (:mod:`adapters.teams_config`). Without ``app_id`` the SDK runs
anonymously, with no token: for local development and tests only.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar

import aiohttp
from microsoft_agents.activity import Activity, ChannelAccount, ConversationReference, EntityTypes, Mention
from microsoft_agents.hosting.aiohttp import CloudAdapter
from microsoft_agents.hosting.core import (
    CardFactory,
    ClaimsIdentity,
    ConnectionManager,
    MessageFactory,
    TurnContext,
)
from pydantic import ValidationError

from stockbot.adapters.base import (
    ALL_EVENTS,
    AdapterSettings,
    AlertMessage,
    DeliveryError,
    PermanentError,
    RateLimit,
    Receipt,
    RetryableError,
    Target,
    classify_status,
)
from stockbot.adapters.i18n import DEFAULT_LANGUAGE
from stockbot.adapters.ratelimit import RateLimiter
from stockbot.adapters.render.teams import alert_card
from stockbot.adapters.render.text import worsened_text
from stockbot.adapters.teams_auth import BotConnectorTokens, bot_connector_connections
from stockbot.adapters.teams_config import TeamsSettings

# Events a card's in-place update would not make anyone notice: they also get a reply (see _reply).
REPLY_EVENTS = frozenset({"worsened"})


def reply_text(message: AlertMessage) -> str:
    return f"**{worsened_text(message)}**"


def _locale(message: AlertMessage) -> str:
    """The activity's BCP-47 locale: the channel's language (English as Teams clients write it)."""
    return "en-US" if message.language == DEFAULT_LANGUAGE else message.language


ConversationLookup = Callable[[str], Awaitable[dict[str, Any] | None]]

# Bot Connector error codes worth a sentence (Teams docs: "Status codes from bot conversational APIs").
_HINTS = {
    "BotNotInConversationRoster": "stockbot is no longer in this conversation: install the app there again",
    "ConversationBlockedByUser": "the user blocked stockbot",
    "BotDisabledByAdmin": "a Teams admin disabled stockbot",
    "MessageSizeTooBig": "the card is over Teams' size limit",
}


def _sdk_adapter(connections: ConnectionManager) -> CloudAdapter:
    adapter = CloudAdapter(connection_manager=connections)
    # The default handler posts "Exception caught : …" into the chat and swallows the error.
    adapter.on_turn_error = None
    return adapter


def _mentions(people: tuple[str, ...]) -> list[Any]:
    return [
        Mention(type=EntityTypes.MENTION, text=f"<at>{m}</at>", mentioned=ChannelAccount(id=m, name=m))
        for m in people
    ]


def _classify(exc: BaseException, timeout: float) -> DeliveryError | None:
    """What Teams (or the way to it) answered; None for anything else, which is not ours to classify."""
    if isinstance(exc, DeliveryError):
        return exc
    if isinstance(exc, aiohttp.ClientResponseError):
        hint = next((text for code, text in _HINTS.items() if code in (exc.message or "")), None)
        if exc.status == 412:  # PreconditionFailed: a concurrent operation on the message; Teams says retry
            return RetryableError("teams answered HTTP 412: a concurrent update of the same message")
        try:
            classify_status("teams", exc.status, exc.headers or {}, exc.message)
        except DeliveryError as error:
            if hint and isinstance(error, PermanentError):
                return PermanentError(f"{error} ({hint})")
            return error
        return RetryableError(f"teams: unexpected answer HTTP {exc.status}")
    if isinstance(exc, TimeoutError):
        return RetryableError(f"teams: no answer within {timeout:g}s")
    if isinstance(exc, aiohttp.ClientError | OSError):
        return RetryableError(f"teams: connection failed ({type(exc).__name__})")
    if isinstance(exc, ValueError):  # the SDK's token and argument checks
        return PermanentError(f"teams: {exc}"[:300])
    return None


class TeamsAdapter:
    name: ClassVar[str] = "teams"
    # Teams, per bot and conversation: 7 messages a second, 8 in 2 s, 60 in 30 s and 1800 an hour
    # (learn.microsoft.com, "Rate limiting for bots"). The dispatcher keeps to them per destination, and
    # the adapter spaces its own requests by them too.
    rate_limits: ClassVar[tuple[RateLimit, ...]] = (
        RateLimit(7, 1.0),
        RateLimit(8, 2.0),
        RateLimit(60, 30.0),
        RateLimit(1800, 3600.0),
    )
    events: ClassVar[frozenset[str]] = ALL_EVENTS
    Settings: ClassVar[type[AdapterSettings]] = TeamsSettings
    services: ClassVar[tuple[str, ...]] = ("conversations",)  # the stored conversation references

    def __init__(
        self,
        settings: TeamsSettings,
        http: aiohttp.ClientSession,
        conversations: ConversationLookup | None = None,
    ) -> None:
        self.settings = settings
        self.http = http  # for stockbot's own token; the SDK opens its own session for each turn
        self.conversations = conversations
        # Shared with the front end (handlers/teams.py), so one token serves replies and proactive posts.
        self.connections = bot_connector_connections(settings, http)
        provider = self.connections.get_default_connection()
        self.tokens = provider if isinstance(provider, BotConnectorTokens) else None  # None: anonymous
        self.sdk = _sdk_adapter(self.connections)
        self.budget = RateLimiter(self.rate_limits, min_gap=settings.min_seconds_between_posts)

    async def send(self, message: AlertMessage, target: Target) -> Receipt:
        reference = await self._reference(target.address)
        activity = MessageFactory.attachment(CardFactory.adaptive_card(alert_card(message)))
        activity.locale = _locale(message)  # without one the SDK's update sends "locale": null
        if message.mentions and not target.external_id:
            # An escalation step's people: mention entities on the message (the card schema has none).
            activity.text = "cc " + " ".join(f"<at>{m}</at>" for m in message.mentions)
            activity.entities = _mentions(message.mentions)
        if target.external_id:
            activity.id = target.external_id
        await self._pace(target.address)
        try:
            async with asyncio.timeout(self.settings.timeout_seconds):
                activity_id = await self._turn(reference, activity)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if isinstance(exc, aiohttp.ClientResponseError) and exc.status == 401 and self.tokens:
                self.tokens.refused()  # RetryableError when the token was a cached one
            error = _classify(exc, self.settings.timeout_seconds)
            if error is None:
                raise  # not an answer from Teams: a bug, which the dispatcher counts as one
            raise error from exc
        if self.tokens:
            self.tokens.worked()
        verb = "updated" if target.external_id else "posted"
        if target.external_id and message.event in REPLY_EVENTS:
            await self._reply(reference, target.address, target.external_id, message)
            verb += " with a reply"
        return Receipt(external_id=activity_id, detail=f"card {verb} in {target.address}")

    async def _reply(
        self, reference: ConversationReference, address: str, card_id: str, message: AlertMessage
    ) -> None:
        """News the card's in-place update would not announce: a reply under the card in a channel (the
        card's thread), a new message in a chat (chats have no threads). The card's id stays the receipt."""
        if reference.conversation.conversation_type == "channel":
            conversation = reference.conversation.model_copy(update={"id": f"{address};messageid={card_id}"})
            reference = reference.model_copy(update={"conversation": conversation, "activity_id": card_id})
        activity = MessageFactory.text(reply_text(message))
        activity.locale = _locale(message)
        if message.mentions:
            people = " ".join(f"<at>{m}</at>" for m in message.mentions)
            activity.text = f"{activity.text or ''} cc {people}"
            activity.entities = _mentions(message.mentions)
        await self._pace(address)
        try:
            async with asyncio.timeout(self.settings.timeout_seconds):
                await self._turn(reference, activity)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            error = _classify(exc, self.settings.timeout_seconds)
            if error is None:
                raise  # not an answer from Teams: a bug, which the dispatcher counts as one
            raise error from exc

    async def _reference(self, conversation_id: str) -> ConversationReference:
        if self.conversations is None:
            raise PermanentError("teams: no conversation store was given to the adapter")
        stored = await self.conversations(conversation_id)
        if stored is None:
            raise PermanentError(
                f"no Teams conversation {conversation_id} is stored: install the app there first"
            )
        try:
            reference = ConversationReference.model_validate(stored)
        except ValidationError as exc:
            fields = ", ".join(".".join(map(str, e["loc"])) for e in exc.errors())
            raise PermanentError(
                f"the stored Teams conversation {conversation_id} is unusable ({fields})"
            ) from exc
        if not reference.user or not reference.service_url:
            raise PermanentError(f"the stored Teams conversation {conversation_id} lacks user or serviceUrl")
        if self.settings.base_url:
            reference.service_url = self.settings.base_url.rstrip("/") + "/"
        return reference

    async def _pace(self, conversation_id: str) -> None:
        now = asyncio.get_running_loop().time()
        at = self.budget.next_slot(conversation_id, now)
        if at - now > self.settings.timeout_seconds:
            raise RetryableError(f"teams: pacing posts to {conversation_id}", retry_after=at - now)
        self.budget.book(conversation_id, at)  # reserved before sleeping, so concurrent sends queue up
        if at > now:
            await asyncio.sleep(at - now)

    async def _turn(self, reference: ConversationReference, activity: Activity) -> str | None:
        """One proactive turn: post the card, or replace the one with ``activity.id``."""
        outcome: dict[str, Any] = {}

        async def callback(context: TurnContext) -> None:
            # Errors are carried out of the turn: the SDK would otherwise hand them to on_turn_error.
            try:
                if activity.id:
                    await context.update_activity(activity)
                    outcome["id"] = activity.id
                else:
                    outcome["id"] = (await context.send_activity(activity)).id or None
            except aiohttp.ContentTypeError as exc:
                if activity.id and exc.status < 300:  # updated, but answered without a JSON body
                    outcome["id"] = activity.id
                else:
                    outcome["error"] = exc
            except Exception as exc:
                outcome["error"] = exc

        await self.sdk.continue_conversation_with_claims(
            self._identity(), reference.get_continuation_activity(), callback
        )
        if "error" in outcome:
            raise outcome["error"]
        return outcome.get("id")

    def _identity(self) -> ClaimsIdentity:
        if not self.settings.app_id:
            return ClaimsIdentity()  # no claims: the SDK's anonymous path, no token requested
        return self.sdk.create_claims_identity(self.settings.app_id)
