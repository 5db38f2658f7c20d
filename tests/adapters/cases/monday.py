"""monday.com: the GraphQL ``create_item`` mutation on a fake ``api.monday.com/v2``."""

from aiohttp import web

from tests.adapters.cases import AdapterCase
from tests.fakes.vendor import FakeVendor, Recorded

API_TOKEN = "eyJhbGciOiJIUzI1NiJ9.monday-test-token.c2lnbmF0dXJl"
BOARD_ID = "1234567890"
GROUP_ID = "topics"
ITEM_ID = "9876543210"


def authorised(recorded: Recorded) -> bool:
    # monday takes the bare token (no "Bearer"); API-Version pins the schema version.
    return recorded.headers.get("Authorization") == API_TOKEN and bool(recorded.headers.get("API-Version"))


def unauthorised() -> web.Response:
    return web.json_response({"errors": [{"message": "Not Authenticated"}], "status_code": 401}, status=401)


def created(recorded: Recorded) -> web.Response:
    if not authorised(recorded):
        return unauthorised()
    return web.json_response({"data": {"create_item": {"id": ITEM_ID}}, "account_id": 123456})


def configure(fake: FakeVendor) -> None:
    fake.describe_by("monday")  # one POST /v2 for every mutation: the fake tells them apart by field
    fake.expect("POST", "/v2", respond=created, name="create_item")


def settings(base_url: str) -> dict[str, object]:
    return {"base_url": base_url, "api_token": API_TOKEN}


def _check(fake: FakeVendor) -> None:
    (call,) = fake.calls("create_item")
    assert call.body["query"].lstrip().startswith("mutation")
    assert call.body["variables"]["board_id"] == BOARD_ID
    assert call.body["variables"]["group_id"] == GROUP_ID
    assert "PIN-GODZ-PRO" in call.body["variables"]["item_name"]


CASE = AdapterCase(
    name="monday",
    configure=configure,
    settings=settings,
    address=f"{BOARD_ID}/{GROUP_ID}",
    main_operation="create_item",
    secrets=[API_TOKEN],
    check_sent=_check,
    external_id=ITEM_ID,
)
