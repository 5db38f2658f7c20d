"""Zendesk: Basic API-token auth, create then update tickets at a fake ``{subdomain}.zendesk.com``."""

import base64

from aiohttp import web

from tests.adapters.cases import AdapterCase
from tests.fakes.vendor import FakeVendor, Recorded

EMAIL = "stockbot@example.com"
API_TOKEN = "zd-token-5c1e8a77b2"
OAUTH_TOKEN = "zd-oauth-0b7d44e1c9"
TICKET_ID = 35436


def _authorised(recorded: Recorded) -> bool:
    expected = base64.b64encode(f"{EMAIL}/token:{API_TOKEN}".encode()).decode()
    return recorded.headers.get("Authorization") in (f"Basic {expected}", f"Bearer {OAUTH_TOKEN}")


def _created(recorded: Recorded) -> web.Response:
    if not _authorised(recorded):
        return web.json_response({"error": "Couldn't authenticate you"}, status=401)
    ticket = {"id": TICKET_ID, "status": "new", **recorded.body["ticket"]}
    return web.json_response(
        {"ticket": ticket, "audit": {"id": 1, "ticket_id": TICKET_ID}},
        status=201,
        headers={"Location": f"/api/v2/tickets/{TICKET_ID}.json"},
    )


def _updated(recorded: Recorded) -> web.Response:
    if not _authorised(recorded):
        return web.json_response({"error": "Couldn't authenticate you"}, status=401)
    ticket_id = int(recorded.match["id"])
    return web.json_response({"ticket": {"id": ticket_id, **recorded.body["ticket"]}, "audit": {"id": 2}})


def configure(fake: FakeVendor) -> None:
    fake.describe_by("zendesk")
    fake.expect("POST", "/api/v2/tickets", respond=_created, name="create")
    fake.expect("PUT", "/api/v2/tickets/{id}", respond=_updated, name="update")


def settings(base_url: str) -> dict[str, object]:
    return {"base_url": base_url, "email": EMAIL, "api_token": API_TOKEN}


def _check(fake: FakeVendor) -> None:
    (call,) = fake.calls("create")
    ticket = call.body["ticket"]
    assert ticket["type"] == "problem"
    assert ticket["priority"] == "urgent"  # critical severity
    assert "PIN-GODZ-PRO" in ticket["subject"]
    assert ticket["group_id"] == 360001234567
    assert "pin-godz-pro" in ticket["tags"]


CASE = AdapterCase(
    name="zendesk",
    configure=configure,
    settings=settings,
    address="360001234567",
    main_operation="create",
    secrets=[API_TOKEN],
    check_sent=_check,
    external_id=str(TICKET_ID),
)
