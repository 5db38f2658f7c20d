"""The Microsoft Teams front end: ``POST /api/messages`` through the Microsoft 365 Agents SDK.

The SDK's ``AgentApplication`` routes each activity Teams sends:

- ``message`` (a personal chat, or an @mention in a channel or group chat; the mention is stripped):
  ``stock <SKU or words>``, ``oos <SKU> [location] [reason]`` and ``help``, with Slack's answers and the
  core's role rules (``[roles]`` lists Entra object ids: ``from.aadObjectId``); in a personal chat,
  ``alerts [location]``: the person's open alerts (``bot/inbox.py``) with the buttons their roles allow.
  Anything else: short help.
- ``conversationUpdate`` with stockbot among ``membersAdded``, or ``installationUpdate`` ``add``: the
  conversation reference (with ``user``) is stored in ``teams_conversations`` and audited, and stockbot
  says the conversation id and the ``[channels.NAME]`` lines that send alerts there. Removed from the
  conversation, or ``installationUpdate`` ``remove``: forgotten and audited.
- ``invoke`` ``adaptiveCard/action``: a button on an alert card (verbs in :mod:`adapters.render.teams`)
  goes to the alert desk and is answered with the refreshed card; a refused click gets the current card
  with why on top, and an audit row. Every posted card (Teams and Slack) is then updated by the outbox. A
  button on a person's ``alerts`` list (its data says ``"view": "alerts"``) is answered with that list
  redrawn instead, what happened or why not on top; ``stockbot.alerts`` (Refresh, and Teams' own refresh
  of the card) redraws it.

Decisions:

- Authentication: with ``[teams] app_id`` every request must carry a Bot Framework token for that app,
  checked in ``handlers/teams_auth.py`` against the configured cloud's keys and issuers (only on this route:
  the events API and Slack have their own checks). A refusal is answered 401 and audited here
  (``request.refused``, ``teams:?``, with the reason). Replies and proactive posts carry stockbot's own token
  (``adapters/teams_auth.py``), one cache shared with the ``teams`` adapter. Without ``app_id`` the route is
  anonymous (the SDK's middleware with anonymous access), for local development and tests: anyone who can
  reach it can act as any user, so start-up says so in a warning.
- A message from a conversation that is not stored yet stores it (any scope). Teams only delivers
  messages from where the app is installed, and a channel other than a team's General channel is only
  ever seen that way: an @mention there is how an admin gets its id (``help`` says it).
- Stored references drop the ``;messageid=`` of a channel thread: alert cards start a new post in the
  channel, not a reply in the thread where someone happened to mention stockbot.
- Errors never reach the chat as exception text (the SDK's default): they are logged, and the user gets
  a short apology (or an error response to an invoke).
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

from aiohttp import web
from microsoft_agents.activity import (
    Activity,
    ActivityTypes,
    AdaptiveCardInvokeResponse,
    InvokeResponse,
)
from microsoft_agents.hosting.aiohttp import CloudAdapter, jwt_authorization_decorator, start_agent_process
from microsoft_agents.hosting.core import (
    AgentApplication,
    CardFactory,
    MemoryStorage,
    MessageFactory,
    RouteRank,
    TurnContext,
    TurnState,
)
from pydantic import ValidationError

from stockbot.adapters import notes
from stockbot.adapters.base import DeliveryError
from stockbot.adapters.i18n import phrase, said, tr
from stockbot.adapters.message import AlertMessage, localized
from stockbot.adapters.render.teams import (
    ACK_ALL_VERB,
    ACTION_OF_VERB,
    RESOLVE_REASON,
    VERB_ACK,
    VERB_ESCALATE,
    VERB_RESOLVE,
    alert_card,
    dashboard_card,
    error_card,
    notice_card,
    report_adaptive_card,
)
from stockbot.adapters.render.teams_answers import (
    cleared_text,
    dashboard_elsewhere_text,
    flagged_text,
    help_text,
    nothing_found_text,
    refused_text,
    short_help,
    stock_card,
    welcome_text,
    where_text,
)
from stockbot.adapters.render.teams_inbox import (
    VERB_ALERTS,
    acknowledged_all_text,
    alerts_card,
    done_text,
    not_done_text,
    not_here_text,
    sorry_text,
    unknown_location_text,
)
from stockbot.adapters.teams import TeamsAdapter, TeamsSettings
from stockbot.bot.access import WebAccess
from stockbot.bot.alerts import NotFound, Outcome, retrying
from stockbot.bot.inbox import location_named, open_alerts_for
from stockbot.bot.permissions import Actor, PermissionDenied, alert_actions_of
from stockbot.bot.refusals import refuse_request
from stockbot.bot.report_requests import BadReportRequest, chat_report
from stockbot.bot.runtime import Runtime
from stockbot.bot.stock import escalated_to, lookup, parse_flag, record_lookup, resolve_sku
from stockbot.bot.transitions import InvalidTransition
from stockbot.handlers.bodies import BodyError, json_body, read_body
from stockbot.handlers.problems import problem
from stockbot.handlers.teams_activity import (
    activity_problem,
    actor_of,
    alert_id_of,
    card_response,
    command_text,
    error_response,
    from_list,
    language_from,
    list_location_of,
    name_of,
    reader_of,
    reference_of,
    scope_of,
    tenant_of,
    timezone_of,
)
from stockbot.handlers.teams_auth import REFUSAL, BotFrameworkTokens
from stockbot.storage import teams as conversations
from stockbot.storage.audit import audit_row, record

log = logging.getLogger("stockbot.teams")
PATH = "/api/messages"
EXTRA_KEY = "teams"  # runtime.extras["teams"] is the TeamsFrontEnd
STOCK_RESULTS = 5
RESOLVED_FROM_CARD = notes.RESOLVED_FROM_TEAMS  # when the manager typed no reason
ALERTS_SHOWN = 12  # a Teams message tops out near 28 KB; 12 alerts with every button stay under 22 KB
Reply = Activity | str
AfterReply = Callable[[], Awaitable[None]] | None  # work done once the reply is sent (the lookup's audit row)


class TeamsFrontEnd:
    def __init__(self, runtime: Runtime, settings: TeamsSettings) -> None:
        self.runtime = runtime
        self.settings = settings
        # The teams adapter's connections: one token cache for replies here and its proactive posts.
        outbound = runtime.dispatcher.adapter("teams")
        assert isinstance(outbound, TeamsAdapter)
        connections = outbound.connections
        # What the SDK's middleware reads in anonymous mode (anonymous_allowed); unused with an app id.
        self.auth_config = connections.get_default_connection_configuration()
        self.adapter = CloudAdapter(connection_manager=connections)
        self.adapter.on_turn_error = None  # the default posts the exception text into the chat
        self.agent: AgentApplication[TurnState] = AgentApplication[TurnState](
            storage=MemoryStorage(),  # stockbot keeps no SDK turn state; nothing is ever written here
            connection_manager=connections,
            start_typing_timer=False,  # answers take milliseconds; typing activities would be noise
        )
        _route(self.agent, self)
        self.tokens = BotFrameworkTokens(settings, runtime.http) if settings.app_id else None
        if self.tokens is not None:
            self._guarded = self.tokens.guard(self._process)
        else:
            self._guarded = jwt_authorization_decorator(self._process)

    # --- HTTP ------------------------------------------------------------------------------------------
    async def handle(self, request: web.Request) -> web.StreamResponse:
        try:
            await read_body(request, self.runtime.config.server.body_limit_bytes)  # kept for the SDK
        except BodyError as exc:
            return exc.answer()
        try:
            response = await self._guarded(request)
        except Exception as exc:
            if "claims_identity" in request:  # raised after the token was accepted: not the token's fault
                raise
            # The SDK's token check raised instead of refusing (a JWT without `kid` escapes as KeyError).
            log.warning("teams: a malformed token broke the SDK's check (%s); refused", type(exc).__name__)
            response = web.json_response({"error": "Invalid token or authentication failed."}, status=401)
        if response.status == 401:
            await self._refused(request)
        return response

    async def _process(self, request: web.Request) -> web.StreamResponse:
        try:
            activity = json_body(await request.read())
        except BodyError as exc:
            return exc.answer()
        why = activity_problem(activity)
        if why is not None:
            return problem(400, "Bad Request", f"not a Bot Framework activity: {why}")
        try:
            Activity.model_validate(activity)  # as the SDK will next; it has nothing else to do here
        except ValidationError as exc:
            fields = ", ".join(".".join(map(str, e["loc"])) for e in exc.errors()[:5])
            return problem(400, "Bad Request", f"not a Bot Framework activity ({fields})")
        except Exception as exc:  # the SDK's validators also raise TypeError, and a bare Exception
            why = (str(exc).splitlines() or [type(exc).__name__])[0][:200]
            return problem(400, "Bad Request", f"not a Bot Framework activity: {why}")
        try:
            response = await start_agent_process(request, self.agent, self.adapter)
        except DeliveryError as exc:  # stockbot's own token (adapters/teams_auth.py), fetched before the turn
            log.error("teams: no Bot Framework token to answer with: %s", exc)
            return problem(503, "Service Unavailable", "stockbot could not get its own Bot Framework token")
        if response is None or response.status == 501:  # an invoke no route takes
            name = str(activity.get("name"))[:80]
            return problem(400, "Bad Request", f"stockbot does not handle {activity.get('type')} {name!r}")
        return response

    async def _refused(self, request: web.Request) -> None:
        if REFUSAL in request:  # production mode: handlers/teams_auth.py says why
            reason = request[REFUSAL]
        elif "claims_identity" in request:  # the token was good; the SDK refused the activity's serviceUrl
            reason = "the activity's serviceUrl does not match the token"
        elif "Authorization" in request.headers:
            reason = "invalid, expired or foreign Bot Framework token"
        else:
            reason = "no Authorization header: Teams requests carry a Bot Framework token"
        await refuse_request(
            self.runtime.engine,
            self.runtime.clock,
            front_end="teams",
            why="token",
            actor="teams:?",
            path=request.path,
            remote=request.remote,
            reason=reason,
        )

    # --- messages ----------------------------------------------------------------------------------------
    async def on_message(self, context: TurnContext, _: TurnState) -> None:
        activity = context.activity
        text = command_text(activity)
        if not text and activity.value is not None:
            return  # an Action.Submit from some other card: nothing stockbot asked for
        await self._remember(activity, via="message", quiet=True)
        reply, after = await self._answer(text, activity)
        await context.send_activity(reply)
        if after is not None:
            await after()

    async def _answer(self, text: str, activity: Activity) -> tuple[Reply, AfterReply]:
        command, _, rest = text.partition(" ")
        command = command.lower()
        language = language_from(activity)  # answers to one person are in that person's language
        if command == "stock" and rest and rest.lower() != "help":
            return await self.stock(rest, actor_of(activity), language)
        return await self._command(command, rest, text, activity, language), None

    async def _command(self, command: str, rest: str, text: str, activity: Activity, language: str) -> Reply:
        if command == "stock":
            return help_text(language)
        if command == "oos":
            if rest and rest.lower() != "help":
                return await self.oos(rest, actor_of(activity), language)
            return help_text(language)
        if command == "dashboard":
            return await self.dashboard(activity, language)
        if command == "report":
            return await self.report(rest, actor_of(activity), language)
        if command == "alerts":
            if rest.lower() == "help":
                return help_text(language)
            return await self.alerts(rest, activity, language)
        if command in ("help", ""):
            conversation_id = conversations.base_conversation_id(activity.conversation.id)
            scope = scope_of(activity)
            where = where_text(conversation_id, name_of(activity, scope), scope, language)
            return help_text(language) + "\n\n" + where
        return short_help(text, language)

    async def stock(self, query: str, actor: Actor, language: str = "en") -> tuple[Reply, AfterReply]:
        """The ``stock`` card, and the lookup's audit row to write once the card is sent."""
        buffer = self.runtime.config.alerts.resolve_buffer
        found = await lookup(self.runtime.engine, query, limit=STOCK_RESULTS + 1, resolve_buffer=buffer)
        runtime, shown, more = self.runtime, min(len(found), STOCK_RESULTS), len(found) > STOCK_RESULTS

        async def audit() -> None:
            await record_lookup(runtime.engine, runtime.clock, actor, query, shown, more=more)

        if not found:
            return nothing_found_text(query, language), audit
        config = self.runtime.config
        escalations = {(p.sku, w.location): escalated_to(config, p, w) for p in found for w in p.locations}
        card = stock_card(found[:STOCK_RESULTS], more=more, escalations=escalations, language=language)
        return MessageFactory.attachment(CardFactory.adaptive_card(card)), audit

    async def oos(self, text: str, actor: Actor, language: str = "en") -> Reply:
        command, _, rest = text.partition(" ")
        if command.lower() == "clear":
            return await self.clear(rest.strip(), actor, language) if rest.strip() else help_text(language)
        known = await resolve_sku(self.runtime.engine, text.split()[0])
        request = parse_flag(text, known[1] if known else ())
        sku = known[0] if known else request.sku
        try:
            # An unknown SKU still goes to the core: it checks permission first, then says the SKU is unknown.
            outcome = await retrying(
                lambda: self.runtime.desk.flag(sku, request.location, actor, request.reason)
            )
        except (PermissionDenied, NotFound) as exc:  # PermissionDenied is audited by the core
            return refused_text("flag stock", said(exc, language), language)
        log.info("teams: %s flagged %s at %s", actor.label, outcome.message.sku, outcome.message.location)
        return flagged_text(replace(outcome.message, language=language), outcome.event)

    async def clear(self, text: str, actor: Actor, language: str = "en") -> Reply:
        """``oos clear SKU [location] [reason]``: warehouse staff take back a mistaken flag."""
        known = await resolve_sku(self.runtime.engine, text.split()[0])
        request = parse_flag(text, known[1] if known else ())
        sku = known[0] if known else request.sku
        try:
            outcome = await retrying(
                lambda: self.runtime.desk.clear(sku, request.location, actor, request.reason)
            )
        except (PermissionDenied, NotFound, InvalidTransition) as exc:  # audited by the core
            return refused_text("clear the flag", said(exc, language), language)
        log.info("teams: %s cleared the flag on alert %s", actor.label, outcome.alert.id)
        return cleared_text(replace(outcome.message, language=language))

    # --- a person's own alerts (personal chats) -------------------------------------------------------
    async def alerts(self, rest: str, activity: Activity, language: str = "en") -> Reply:
        """``alerts [location]``: the reader's open alerts with their buttons (bot/inbox.py says which), in
        ``language`` (the reader's)."""
        if scope_of(activity) != "personal":
            return not_here_text(language)
        location = None
        if rest:
            location = await location_named(self.runtime.engine, rest)
            if location is None:
                return unknown_location_text(rest, language)
        card = await self.alerts_card(
            actor_of(activity), location, reader=reader_of(activity), language=language
        )
        return MessageFactory.attachment(CardFactory.adaptive_card(card))

    async def alerts_card(
        self,
        actor: Actor,
        location: str | None,
        *,
        notice: str | None = None,
        refused: bool = False,
        reader: str | None = None,
        language: str = "en",
    ) -> dict[str, Any]:
        runtime = self.runtime
        found = await open_alerts_for(
            runtime.engine, runtime.config, actor, location=location, limit=ALERTS_SHOWN + 1
        )
        return alerts_card(
            found[:ALERTS_SHOWN],
            may=alert_actions_of(runtime.config.roles, actor),
            now=runtime.clock.now(),
            location=location,
            more=len(found) > ALERTS_SHOWN,
            notice=notice,
            refused=refused,
            reader=reader,
            language=language,
        )

    async def refresh_alerts(
        self, context: TurnContext, _: TurnState, data: Any
    ) -> AdaptiveCardInvokeResponse:
        """The list's Refresh button, and Teams' own refresh when the reader opens the chat."""
        activity = context.activity
        card = await self.alerts_card(
            actor_of(activity),
            list_location_of(data),
            reader=reader_of(activity),
            language=language_from(activity),
        )
        return card_response(card)

    async def dashboard(self, activity: Activity, language: str = "en") -> Reply:
        """A personal link is as good as a login: it is only ever said in a personal chat."""
        if scope_of(activity) != "personal":
            return dashboard_elsewhere_text(language)
        runtime = self.runtime
        try:
            link = await WebAccess(runtime.config, runtime.engine, runtime.clock).link_for(actor_of(activity))
        except PermissionDenied as exc:  # audited by WebAccess
            return refused_text("open the dashboard", said(exc, language), language)
        minutes = int(runtime.config.web.link_lifetime.total_seconds() // 60)
        return MessageFactory.attachment(CardFactory.adaptive_card(dashboard_card(link, minutes, language)))

    async def report(self, words: str, actor: Actor, language: str = "en") -> Reply:
        runtime = self.runtime
        try:
            card = await chat_report(runtime.engine, runtime.config, runtime.clock, actor, words)
        except (PermissionDenied, BadReportRequest) as exc:  # a refusal is audited by chat_report
            return refused_text("make that report", said(exc, language), language)
        return MessageFactory.attachment(CardFactory.adaptive_card(report_adaptive_card(card, language)))

    # --- install and uninstall -----------------------------------------------------------------------
    async def on_conversation_update(self, context: TurnContext, _: TurnState) -> None:
        activity = context.activity
        bot = activity.recipient.id if activity.recipient else None
        if any(member.id == bot for member in activity.members_added or []):
            await self._installed(context, "conversationUpdate")
        elif any(member.id == bot for member in activity.members_removed or []):
            await self._uninstalled(activity, "conversationUpdate")
        # Other membership changes (people joining a team) are none of stockbot's business.

    async def on_installation_update(self, context: TurnContext, _: TurnState) -> None:
        action = (context.activity.action or "").lower()
        if action.startswith("add"):  # add, add-upgrade
            await self._installed(context, "installationUpdate")
        elif action.startswith("remove"):
            await self._uninstalled(context.activity, "installationUpdate")

    async def _installed(self, context: TurnContext, via: str) -> None:
        # Teams sends both conversationUpdate and installationUpdate: whichever comes first says hello.
        activity = context.activity
        if await self._remember(activity, via=via, quiet=False):
            conversation_id = conversations.base_conversation_id(activity.conversation.id)
            scope = scope_of(activity)
            welcome = welcome_text(conversation_id, name_of(activity, scope), scope, language_from(activity))
            await context.send_activity(welcome)

    async def _remember(self, activity: Activity, *, via: str, quiet: bool) -> bool:
        """Store the conversation; True when it was not stored before. ``quiet``: only if it was not."""
        conversation_id = conversations.base_conversation_id(activity.conversation.id)
        engine = self.runtime.engine
        known = await conversations.load_reference(engine, conversation_id) is not None
        if known and quiet:
            return False
        reference = reference_of(activity)
        if reference is None:
            log.warning("teams: %s in %s has no user or serviceUrl; not stored", via, conversation_id)
            return False
        scope, now = scope_of(activity), self.runtime.clock.now()
        name = name_of(activity, scope)
        await conversations.save_reference(engine, reference, scope, name, tenant_of(activity), now)
        # Any: these spread into audit_row's **detail, which mypy would otherwise match to its typed keywords.
        detail: dict[str, Any] = {"scope": scope, "name": name, "via": via, "refreshed": known}
        await record(
            engine,
            audit_row(now, "teams.installed", actor_of(activity).label, subject=conversation_id, **detail),
        )
        log.info("teams: stored conversation %s (%s %r) from %s", conversation_id, scope, name, via)
        return not known

    async def _uninstalled(self, activity: Activity, via: str) -> None:
        conversation_id = conversations.base_conversation_id(activity.conversation.id)
        engine = self.runtime.engine
        if await conversations.load_reference(engine, conversation_id) is None:
            return  # the other of the two removal activities got here first
        await conversations.forget(engine, conversation_id)
        now = self.runtime.clock.now()
        await record(
            engine,
            audit_row(now, "teams.uninstalled", actor_of(activity).label, subject=conversation_id, via=via),
        )
        still = [
            n
            for n, c in self.runtime.config.channels.items()
            if c.adapter == "teams" and c.address == conversation_id
        ]
        log.warning(
            "teams: removed from conversation %s%s",
            conversation_id,
            f"; channels {', '.join(still)} can no longer be delivered there" if still else "",
        )

    # --- card buttons ------------------------------------------------------------------------------------
    def on_click(
        self, verb: str
    ) -> Callable[[TurnContext, TurnState, Any], Awaitable[AdaptiveCardInvokeResponse]]:
        async def clicked(context: TurnContext, _: TurnState, data: Any) -> AdaptiveCardInvokeResponse:
            return await self.click(verb, data, context.activity)

        return clicked

    async def click(self, verb: str, data: Any, activity: Activity) -> AdaptiveCardInvokeResponse:
        actor, action = actor_of(activity), ACTION_OF_VERB[verb]
        # A button of a person's own list is answered with that list, refreshed, for its reader.
        reader = reader_of(activity) if from_list(data) else None
        try:
            alert_id = alert_id_of(data)
        except NotFound as exc:
            await self.runtime.desk.refuse(actor, action, str(exc))
            return await self._refused_card(None, exc, activity, actor, data, reader)
        try:
            outcome = await retrying(lambda: self._apply(verb, alert_id, data, actor, activity))
        except (PermissionDenied, InvalidTransition, NotFound) as exc:  # audited by the core
            return await self._refused_card(alert_id, exc, activity, actor, data, reader)
        log.info("teams: %s %s alert %s", actor.label, outcome.event, outcome.alert.id)
        if reader is not None:
            language = language_from(activity)
            notice = done_text(outcome.message, outcome.event, language)
            location = list_location_of(data)
            card = await self.alerts_card(actor, location, notice=notice, reader=reader, language=language)
            return card_response(card)
        return card_response(alert_card(self._for_conversation(outcome.message, activity)))

    def _for_conversation(self, message: AlertMessage, activity: Activity) -> AlertMessage:
        """A refreshed card replaces the one everyone in the conversation sees: in the language and zone of
        the channel configured there (the first one, if several), else the clicking person's language."""
        conversation_id = conversations.base_conversation_id(activity.conversation.id)
        for channel in self.runtime.config.channels.values():
            if channel.adapter == "teams" and channel.address == conversation_id:
                return localized(message, channel.language, channel.timezone)
        return localized(message, language_from(activity), message.timezone)

    async def click_all(self, context: TurnContext, _: TurnState, data: Any) -> AdaptiveCardInvokeResponse:
        """A digest's "Acknowledge all": ``data`` carries the alert ids."""
        actor, language = actor_of(context.activity), language_from(context.activity)
        raw = data.get("alert_ids") if isinstance(data, dict) else None
        ids = [int(i) for i in raw if str(i).isdigit()] if isinstance(raw, list) else []
        try:
            done, skipped = await self.runtime.desk.acknowledge_many(ids, actor)
        except PermissionDenied as denied:  # audited by the core
            return card_response(error_card(not_done_text(said(denied, language), language)))
        text = acknowledged_all_text(len(done), len(skipped), actor.display, language)
        return card_response(error_card(text))

    def _apply(
        self, verb: str, alert_id: int, data: Any, actor: Actor, activity: Activity
    ) -> Awaitable[Outcome]:
        desk = self.runtime.desk
        if verb == VERB_ACK:
            return desk.acknowledge(alert_id, actor)
        if verb == VERB_ESCALATE:
            return desk.escalate(alert_id, actor)
        if verb == VERB_RESOLVE:
            reason = str(data.get(RESOLVE_REASON) or "").strip()[:200] if isinstance(data, dict) else ""
            return desk.resolve(alert_id, actor, reason or RESOLVED_FROM_CARD)
        return desk.snooze(alert_id, actor, str(data.get("snooze") or ""), tz_name=timezone_of(activity))

    async def _refused_card(
        self,
        alert_id: int | None,
        why: Exception,
        activity: Activity,
        actor: Actor,
        data: Any,
        reader: str | None,
    ) -> AdaptiveCardInvokeResponse:
        """The alert as it is now, with why on top; just why when there is no alert to show. From a person's
        own list (``reader``): that list as it is now, with why on top. Why is in the clicking person's
        language; a shared alert card stays in its channel's."""
        language = language_from(activity)
        notice = not_done_text(said(why, language), language)
        if reader is not None:
            location = list_location_of(data)
            card = await self.alerts_card(
                actor, location, notice=notice, refused=True, reader=reader, language=language
            )
            return card_response(card)
        message = await self.runtime.desk.current_message(alert_id) if alert_id is not None else None
        if message is not None:
            return card_response(notice_card(self._for_conversation(message, activity), notice))
        return card_response(error_card(notice))

    async def on_other_action(self, context: TurnContext, _: TurnState) -> None:
        value = context.activity.value if isinstance(context.activity.value, dict) else {}
        verb = (value.get("action") or {}).get("verb")
        log.info("teams: ignored card action %r from %s", verb, actor_of(context.activity).label)
        why = phrase("stockbot has no action {verb}", verb=repr(verb))
        await _invoke_answer(context, error_response(400, said(why, language_from(context.activity))))

    # --- errors ------------------------------------------------------------------------------------------
    async def on_error(self, context: TurnContext, error: Exception) -> None:
        activity = context.activity
        # The SDK has just logged the traceback (microsoft_agents…agent_application); one line here.
        log.error(
            "teams: %s from %s failed: %s", activity.type, actor_of(activity).label, type(error).__name__
        )
        try:
            language = language_from(activity)
            if activity.type == ActivityTypes.invoke:
                why = tr(language, "stockbot could not do that; please try again")
                await _invoke_answer(context, error_response(500, why))
            elif activity.type == ActivityTypes.message:
                await context.send_activity(sorry_text(language))
        except Exception as exc:
            log.error("teams: could not tell %s about the failure: %s", actor_of(activity).label, exc)


async def _invoke_answer(context: TurnContext, answer: AdaptiveCardInvokeResponse) -> None:
    body = answer.model_dump(mode="json", by_alias=True, exclude_none=True)
    await context.send_activity(
        Activity(type=ActivityTypes.invoke_response, value=InvokeResponse(status=200, body=body))
    )


def _route(agent: AgentApplication[TurnState], front: TeamsFrontEnd) -> None:
    """The SDK routes each activity here; explicit, one line per kind."""
    agent.message()(front.on_message)
    agent.activity(ActivityTypes.conversation_update)(front.on_conversation_update)
    agent.activity(ActivityTypes.installation_update)(front.on_installation_update)
    for verb in ACTION_OF_VERB:
        agent.adaptive_card.action_execute(verb)(front.on_click(verb))
    agent.adaptive_card.action_execute(ACK_ALL_VERB)(front.click_all)
    agent.adaptive_card.action_execute(VERB_ALERTS)(front.refresh_alerts)
    agent.invoke("adaptiveCard/action", rank=RouteRank.LAST)(front.on_other_action)
    agent.error(front.on_error)


def mount(app: web.Application, runtime: Runtime) -> None:
    """Serve Teams at ``/api/messages``; nothing without a ``[teams]`` section."""
    if runtime.config.teams is None:
        return
    settings = runtime.config.settings_for("teams")
    assert isinstance(settings, TeamsSettings)
    front = TeamsFrontEnd(runtime, settings)
    runtime.extras[EXTRA_KEY] = front
    # The SDK keeps its JWT claims under a plain string key of the request: aiohttp warns about that on
    # every request. Silenced for the SDK's modules only.
    warnings.filterwarnings("ignore", category=web.NotAppKeyWarning, module=r"microsoft_agents\.")
    with warnings.catch_warnings():
        # The SDK's JWT check reads this plain string key from the application; an AppKey would hide it.
        warnings.simplefilter("ignore", web.NotAppKeyWarning)
        app["agent_configuration"] = front.auth_config
    app.router.add_post(PATH, front.handle)
    # The SDK logs every activity that fails validation with a traceback at ERROR; stockbot answers those
    # 400 itself, and a refused request is not an error of ours (nor worth a traceback per request).
    logging.getLogger("microsoft_agents.activity.activity").setLevel(logging.CRITICAL)
    if settings.app_id:
        log.info("teams: %s accepts requests with a Bot Framework token for app %s", PATH, settings.app_id)
    else:
        log.warning(
            "teams: no [teams] app_id, so %s is ANONYMOUS: any request is accepted and anyone who can reach "
            "it can act as any user. For local development and tests only; set app_id, app_password and "
            "tenant_id before exposing stockbot.",
            PATH,
        )
        # Said once here; the SDK would repeat "App ID is not provided" on every turn.
        logging.getLogger("microsoft_agents.hosting.core.connector.client.user_token_client").setLevel(
            logging.ERROR
        )
