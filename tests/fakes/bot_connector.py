"""A fake Bot Connector (the Teams side of the Agents SDK's proactive sends) on 127.0.0.1.

Every activity the bot POSTs or PUTs is checked against the Activity schema of
``../shared/vendor-api/microsoft_teams.json`` (``Conversations_SendToConversation``; ReplyToActivity and
UpdateActivity take the same Activity body, which is why the file leaves them out) and every Adaptive Card
attachment against the Adaptive Card 1.5 schema embedded there. A token request is checked against
``outlook_graph.json``'s client-credentials entry: the Bot Framework token comes from the same endpoint.
Answers ``{"id": …}`` like the real service and keeps the current card per activity id, so a test reads
what a channel would show after an update::

    connector = FakeBotConnector()
    await connector.start()
    reference = connector.reference("19:stock@thread.tacv2")   # what the front end would have stored
    ...
    assert connector.card(receipt.external_id)["body"][0] ...
    assert connector.errors == []
    await connector.close()

Proactive sends arrive as replies (``POST …/activities/{replyToId}`` with a fresh id); both POST forms are
the operation ``post``, PUT is ``update``, so ``fail_next(429, operation="post")`` makes the next post fail.

Production mode: ``connector.require_bearer(issuer.bearer_problem)`` makes every post and update carry a
bearer token the check accepts (a :class:`tests.fakes.bot_framework_auth.LocalIssuer` token for the app),
else it is answered 401 like the real service and listed in ``errors``.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import jsonschema
from aiohttp import web

from tests.fakes.shared import vendor_spec
from tests.fakes.vendor import FakeVendor, Recorded

CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"
ACTIVITY_OPERATION = "Conversations_SendToConversation"
TOKEN_OPERATION = "OAuth 2.0 token (client credentials)"  # in outlook_graph.json: one Entra ID endpoint
DRAFT_06 = "http://json-schema.org/draft-06/schema#"


@cache
def adaptive_card_schema() -> dict[str, Any]:
    """AC 1.5 as published (draft-06, in AdaptiveCards' repo), for a top-level card (``version`` required)."""
    definitions = vendor_spec("microsoft_teams")["request_schema"]["definitions"]
    return {
        "$schema": DRAFT_06,
        "allOf": [{"$ref": "#/definitions/AdaptiveCard"}, {"required": ["type", "version"]}],
        "definitions": definitions,
    }


def card_errors(card: Any) -> list[str]:
    """Every validation error of ``card`` against the Adaptive Card 1.5 schema."""
    validator = jsonschema.Draft6Validator(
        adaptive_card_schema(), format_checker=jsonschema.Draft6Validator.FORMAT_CHECKER
    )
    return [
        f"{'/'.join(str(p) for p in error.absolute_path) or '<card>'}: {error.message}"
        for error in validator.iter_errors(card)
    ]


@dataclass
class ConnectorState:
    """What the fake channel shows: activities by id, and which conversation each belongs to."""

    activities: dict[str, dict[str, Any]] = field(default_factory=dict)
    conversation_of: dict[str, str] = field(default_factory=dict)
    ids: itertools.count = field(default_factory=lambda: itertools.count(1764149400001))
    # Production mode: why an Authorization header is refused (None: accepted); unset, none is asked for.
    bearer_problem: Callable[[str | None], str | None] | None = None


def _card_problems(body: Any) -> list[str]:
    problems = []
    for index, attachment in enumerate(body.get("attachments") or [] if isinstance(body, dict) else []):
        if attachment.get("contentType") == CARD_CONTENT_TYPE:
            problems += [f"attachments/{index}/content/{e}" for e in card_errors(attachment.get("content"))]
    return problems


def install(fake: FakeVendor, state: ConnectorState | None = None, prefix: str = "") -> ConnectorState:
    """Register the Bot Connector operations on ``fake`` (under ``prefix``, the serviceUrl's path)."""
    state = state or ConnectorState()

    def rejected(recorded: Recorded) -> web.Response | None:
        if state.bearer_problem is not None:
            why = state.bearer_problem(recorded.headers.get("Authorization"))
            if why is not None:
                fake.errors.append(f"{recorded.operation}: {why}")
                error = {"code": "Unauthorized", "message": "Authorization has been denied for this request."}
                return web.json_response({"error": error}, status=401)
        problems = _card_problems(recorded.body)
        if problems:
            fake.errors.extend(f"{recorded.operation}: {p}" for p in problems)
            return web.json_response({"error": {"code": "BadArgument", "message": problems[0]}}, status=400)
        return None

    def posted(recorded: Recorded) -> web.Response:
        answer = rejected(recorded)
        if answer:
            return answer
        activity_id = str(next(state.ids))
        state.activities[activity_id] = recorded.body
        state.conversation_of[activity_id] = recorded.match["conversationId"]
        return web.json_response({"id": activity_id})

    def updated(recorded: Recorded) -> web.Response:
        answer = rejected(recorded)
        if answer:
            return answer
        activity_id = recorded.match["activityId"]
        if state.conversation_of.get(activity_id) != recorded.match["conversationId"]:
            error = {"code": "ActivityNotFoundInConversation", "message": "Activity not found"}
            return web.json_response({"error": error}, status=404)
        state.activities[activity_id] = recorded.body
        return web.json_response({"id": activity_id})

    def token(recorded: Recorded) -> web.Response:
        return web.json_response({"token_type": "Bearer", "expires_in": 3599, "access_token": "fake-token"})

    base = f"{prefix}/v3/conversations"
    fake.describe_by("microsoft_teams", only=[ACTIVITY_OPERATION], prefix=prefix)
    fake.describe_path(
        "POST", f"{base}/{{conversationId}}/activities/{{replyToId}}", "microsoft_teams", ACTIVITY_OPERATION
    )
    fake.describe_path(
        "PUT", f"{base}/{{conversationId}}/activities/{{activityId}}", "microsoft_teams", ACTIVITY_OPERATION
    )
    fake.describe_by("outlook_graph", only=[TOKEN_OPERATION])
    fake.expect("POST", f"{base}/{{conversationId}}/activities", respond=posted, name="post")
    fake.expect("POST", f"{base}/{{conversationId}}/activities/{{replyToId}}", respond=posted, name="post")
    fake.expect("PUT", f"{base}/{{conversationId}}/activities/{{activityId}}", respond=updated, name="update")
    # Anonymous mode asks for no token; answer anyway so a test can assert it was never called.
    fake.expect("POST", "/{tenant}/oauth2/v2.0/token", respond=token, name="token")
    return state


class FakeBotConnector:
    """A stateful fake Bot Connector; ``service_url`` is what a stored conversation reference points at."""

    def __init__(self, prefix: str = "/amer") -> None:
        self.prefix = prefix  # real serviceUrls have a path (https://smba.trafficmanager.net/amer/)
        self.vendor = FakeVendor("bot_connector")
        self.state = install(self.vendor, prefix=prefix)

    async def start(self) -> str:
        await self.vendor.start()
        return self.service_url

    async def close(self) -> None:
        await self.vendor.close()

    @property
    def service_url(self) -> str:
        return f"{self.vendor.url}{self.prefix}/"

    @property
    def requests(self) -> list[Recorded]:
        return self.vendor.requests

    @property
    def errors(self) -> list[str]:
        return self.vendor.errors

    def calls(self, operation: str) -> list[Recorded]:
        return self.vendor.calls(operation)

    def require_bearer(self, problem: Callable[[str | None], str | None]) -> None:
        """Refuse (401) every post and update whose Authorization header ``problem`` finds fault with."""
        self.state.bearer_problem = problem

    def fail_next(
        self,
        status: int,
        body: str = "",
        headers: dict[str, str] | None = None,
        *,
        operation: str | None = None,
        delay: float = 0.0,
    ) -> None:
        """Answer the next request (to ``post``/``update``, if named) with this status instead."""
        self.vendor.fail_next(status, body, headers, operation=operation, delay=delay)

    def activity(self, activity_id: str) -> dict[str, Any]:
        return self.state.activities[activity_id]

    def card(self, activity_id: str) -> dict[str, Any]:
        """The Adaptive Card the activity shows now (after any updates)."""
        attachments = self.activity(activity_id)["attachments"]
        return next(a["content"] for a in attachments if a["contentType"] == CARD_CONTENT_TYPE)

    def activity_ids(self, conversation_id: str) -> list[str]:
        return [a for a, c in self.state.conversation_of.items() if c == conversation_id]

    def reference(self, conversation_id: str, *, scope: str = "channel") -> dict[str, Any]:
        return conversation_reference(self.service_url, conversation_id, scope=scope)


def conversation_reference(
    service_url: str, conversation_id: str, *, scope: str = "channel"
) -> dict[str, Any]:
    """A ConversationReference as the SDK serialises it (``model_dump(by_alias=True)``) in Teams."""
    return {
        "activityId": "1764149000000",
        "user": {
            "id": "29:1user-aad-id",
            "name": "Dana Rep",
            "aadObjectId": "00000000-0000-0000-0000-000000000001",
        },
        "bot": {"id": "28:00000000-0000-0000-0000-00000000b07", "name": "stockbot"},
        "conversation": {
            "id": conversation_id,
            "conversationType": scope,
            "isGroup": scope != "personal",
            "tenantId": "00000000-0000-0000-0000-0000000000aa",
        },
        "channelId": "msteams",
        "locale": "en-US",
        "serviceUrl": service_url,
    }
