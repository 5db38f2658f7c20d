"""Teams (Agents SDK, anonymous mode): a proactive card posted to a fake Bot Connector at the contract's fake.

The adapter needs a conversation store; the contract test passes ``adapter_kwargs(base_url)`` to the
constructor, here a lookup that knows one channel whose serviceUrl is the fake.
"""

from __future__ import annotations

from typing import Any

from tests.adapters.cases import AdapterCase
from tests.fakes.bot_connector import CARD_CONTENT_TYPE, conversation_reference, install
from tests.fakes.vendor import FakeVendor

CONVERSATION = "19:stock-alerts@thread.tacv2"
FIRST_ACTIVITY_ID = "1764149400001"


def _conversations(base_url: str) -> dict[str, Any]:
    references = {CONVERSATION: conversation_reference(f"{base_url}/", CONVERSATION)}

    async def lookup(conversation_id: str) -> dict[str, Any] | None:
        return references.get(conversation_id)

    return {"conversations": lookup}


def _configure(fake: FakeVendor) -> None:
    install(fake)


def _check(fake: FakeVendor) -> None:
    (call,) = fake.calls("post")
    assert call.match["conversationId"] == CONVERSATION
    assert call.body["type"] == "message"
    (attachment,) = call.body["attachments"]
    assert attachment["contentType"] == CARD_CONTENT_TYPE
    assert "PIN-GODZ-PRO" in attachment["content"]["fallbackText"]
    assert not fake.calls("token"), "anonymous mode must not ask for a token"


CASE = AdapterCase(
    name="teams",
    configure=_configure,
    settings=lambda base_url: {},
    address=CONVERSATION,
    main_operation="post",
    check_sent=_check,
    external_id=FIRST_ACTIVITY_ID,
    adapter_kwargs=_conversations,
)
