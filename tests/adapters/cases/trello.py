"""Trello: key and token in the Authorization header, a card created on a list at a fake Trello API."""

from aiohttp import web

from tests.adapters.cases import AdapterCase
from tests.fakes.vendor import FakeVendor, Recorded

API_KEY = "trello-key-0f9e8d7c6b5a4f3e"
TOKEN = "ATTAtrello-token-1a2b3c4d5e6f7a8b9c0d"
LIST_ID = "5abbe4b7ddc1b351ef961414"
DONE_LIST_ID = "5abbe4b7ddc1b351ef96dead"
CARD_ID = "65f1c0ffee0ddba11c0ffee1"


def authorised(recorded: Recorded) -> bool:
    # Trello's documented header form of the key/token pair; never both header and query.
    expected = f'OAuth oauth_consumer_key="{API_KEY}", oauth_token="{TOKEN}"'
    return recorded.headers.get("Authorization") == expected and not {"key", "token"} & set(recorded.query)


def _created(recorded: Recorded) -> web.Response:
    if not authorised(recorded):
        return web.Response(status=401, text="invalid key")
    card = {
        "id": CARD_ID,
        "idList": recorded.query["idList"],
        "name": recorded.query.get("name", ""),
        "desc": recorded.query.get("desc", ""),
        "closed": False,
        "shortUrl": "https://trello.com/c/AbCdEf12",
    }
    return web.json_response(card)  # Trello answers 200, not 201, on create


def configure(fake: FakeVendor) -> None:
    fake.describe_by("trello")  # the file documents query parameters: the fake checks the query string
    fake.expect("POST", "/1/cards", respond=_created, name="create")


def settings(base_url: str) -> dict[str, object]:
    return {"base_url": base_url, "api_key": API_KEY, "token": TOKEN}


def _check(fake: FakeVendor) -> None:
    (call,) = fake.calls("create")
    assert call.query["idList"] == LIST_ID
    assert "PIN-GODZ-PRO" in call.query["name"]
    assert "SO-1001" in call.query["desc"]
    assert call.query["pos"] == "top"  # critical severity
    assert call.raw == b""  # the card fields travel in the query string, as documented


CASE = AdapterCase(
    name="trello",
    configure=configure,
    settings=settings,
    address=LIST_ID,
    main_operation="create",
    secrets=[API_KEY, TOKEN],
    check_sent=_check,
    external_id=CARD_ID,
)
