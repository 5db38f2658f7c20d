"""Teams Workflows webhook: the card envelope checked against the vendor file's webhook request schema."""

from __future__ import annotations

from aiohttp import web

from tests.adapters.cases import AdapterCase
from tests.fakes.bot_connector import card_errors
from tests.fakes.vendor import FakeVendor, Recorded

SIGNATURE = "q3Zt8X1cVb0Ww-5fK9sPrL2mN7aHdE4jUoYiT6gB"
PATH = "/workflows/4d9c1e2f7a8b4c3d9e0f1a2b3c4d5e6f/triggers/manual/paths/invoke"


def address_for(base_url: str) -> str:
    """A Workflows trigger URL as Teams issues it; the ``sig`` is what makes it a secret."""
    return f"{base_url}{PATH}?api-version=1&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig={SIGNATURE}"


def _accepted(recorded: Recorded) -> web.Response:
    if recorded.query.get("sig") != SIGNATURE:
        return web.json_response({"error": {"code": "DirectApiAuthorizationRequired"}}, status=401)
    return web.Response(status=202)


def _configure(fake: FakeVendor) -> None:
    # The file's path is "the webhook URL as issued": this one is the URL the test issues.
    fake.describe_path("POST", PATH, "microsoft_teams")
    fake.expect("POST", PATH, respond=_accepted, name="post")


def _check(fake: FakeVendor) -> None:
    (call,) = fake.calls("post")
    (attachment,) = call.body["attachments"]
    card = attachment["content"]
    assert card_errors(card) == []
    assert "PIN-GODZ-PRO" in card["fallbackText"]
    # No bot behind a webhook: the only button is a link.
    assert card["actions"] == [
        {"type": "Action.OpenUrl", "title": "Open in stockbot", "url": "https://stock.example.com/alerts/42"}
    ]


CASE = AdapterCase(
    name="teams_webhook",
    configure=_configure,
    settings=lambda base_url: {},
    address="",
    address_for=address_for,
    main_operation="post",
    secrets=[SIGNATURE],
    check_sent=_check,
)
