"""SAP Business One: Service Layer login (session cookies), then MessagesService_SendMessage at a fake."""

from __future__ import annotations

import itertools

from aiohttp import web

from tests.adapters.cases import AdapterCase
from tests.fakes.vendor import FakeVendor, Recorded

COMPANY_DB = "SBODEMOUS"
USERNAME = "stockbot"
PASSWORD = "b1-Passw0rd-7c2e"
USER_CODE = "manager"
ROUTE_ID = ".node1"


def sap_error(code: int, text: str, status: int) -> web.Response:
    return web.json_response(
        {"error": {"code": code, "message": {"lang": "en-us", "value": text}}}, status=status
    )


class ServiceLayer:
    """Sessions as the Service Layer keeps them: a login opens one, a 401 answers a request without it."""

    def __init__(self) -> None:
        self.sessions: set[str] = set()
        self._ids = (f"7f1c2e0a-0000-4000-8000-{n:012d}" for n in itertools.count(1))

    def login(self, recorded: Recorded) -> web.Response:
        body = recorded.body
        if (body["CompanyDB"], body["UserName"], body["Password"]) != (COMPANY_DB, USERNAME, PASSWORD):
            return sap_error(100000027, "Login failed", 401)
        session = next(self._ids)
        self.sessions.add(session)
        response = web.json_response(
            {"odata.metadata": "$metadata#B1Sessions/@Element", "SessionId": session, "SessionTimeout": 30}
        )
        response.set_cookie("B1SESSION", session, httponly=True)
        response.set_cookie("ROUTEID", ROUTE_ID, path="/b1s")
        return response

    def send_message(self, recorded: Recorded) -> web.Response:
        cookies = dict(
            part.strip().split("=", 1)
            for part in recorded.headers.get("Cookie", "").split(";")
            if "=" in part
        )
        if cookies.get("B1SESSION") not in self.sessions or cookies.get("ROUTEID") != ROUTE_ID:
            return sap_error(301, "Invalid session or session already timeout.", 401)
        return web.Response(status=204)


def configure(fake: FakeVendor, layer: ServiceLayer | None = None) -> ServiceLayer:
    layer = layer or ServiceLayer()
    fake.describe_by("sap_business_one")
    fake.expect("POST", "/b1s/v1/Login", respond=layer.login, name="login")
    fake.expect("POST", "/b1s/v1/MessagesService_SendMessage", respond=layer.send_message, name="send")
    return layer


def settings(base_url: str) -> dict[str, object]:
    return {"base_url": base_url, "company_db": COMPANY_DB, "username": USERNAME, "password": PASSWORD}


def _check(fake: FakeVendor) -> None:
    assert len(fake.calls("login")) == 1
    (call,) = fake.calls("send")
    message = call.body["Message"]
    assert message["RecipientCollection"] == [{"UserCode": USER_CODE, "SendInternal": "tYES"}]
    assert "PIN-GODZ-PRO" in message["Subject"]
    assert "SO-1001" in message["Text"]
    assert message["Priority"] == "pr_High"


CASE = AdapterCase(
    name="sap_b1",
    configure=configure,
    settings=settings,
    address=USER_CODE,
    main_operation="send",
    secrets=[PASSWORD],
    check_sent=_check,
    external_id="alert-42-test-1",  # 204 carries no id: the receipt keeps the idempotency key
)
