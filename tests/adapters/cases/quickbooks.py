"""QuickBooks Online: OAuth 2.0 refresh-token grant, then a note-only Attachable linked to an Item."""

from __future__ import annotations

import base64
import itertools

from aiohttp import web

from tests.adapters.cases import AdapterCase
from tests.fakes.vendor import FakeVendor, Recorded

CLIENT_ID = "ABcdEFghIJklMNopQRstUVwxYZ0123456789abcdefGHIJKL"
CLIENT_SECRET = "qbo-client-secret-5e1d9c3b7a2f4e60"
REFRESH_TOKEN = "AB11800000000qbo-refresh-token-first"
REALM_ID = "9130350000000000"
ITEM_ID = "19"
NOTE_ID = "5000000000000012345"


class Intuit:
    """Tokens as Intuit hands them out: every refresh may rotate the refresh token, retiring the old one."""

    def __init__(self, expires_in: int = 3600) -> None:
        self.expires_in = expires_in
        self.refresh_token = REFRESH_TOKEN
        self.access_tokens: set[str] = set()
        self._serial = itertools.count(1)

    def token(self, recorded: Recorded) -> web.Response:
        basic = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
        if recorded.headers.get("Authorization") != f"Basic {basic}":
            return web.json_response({"error": "invalid_client"}, status=401)
        if recorded.body["refresh_token"] != self.refresh_token:
            return web.json_response({"error": "invalid_grant"}, status=400)
        serial = next(self._serial)
        access = f"eyJlbmMiOiJBMTI4Q0JDLUhTMjU2IiwiYWxnIjoiZGlyIn0.qbo-access-{serial}"
        self.access_tokens.add(access)
        self.refresh_token = f"AB11800000000qbo-refresh-token-{serial + 1}"
        return web.json_response(
            {
                "token_type": "bearer",
                "access_token": access,
                "expires_in": self.expires_in,
                "refresh_token": self.refresh_token,
                "x_refresh_token_expires_in": 8726400,
            }
        )

    def attachable(self, recorded: Recorded) -> web.Response:
        bearer = recorded.headers.get("Authorization", "").removeprefix("Bearer ")
        if bearer not in self.access_tokens:
            fault = {
                "Error": [{"Message": "message=AuthenticationFailed", "code": "3200"}],
                "type": "AUTHENTICATION",
            }
            return web.json_response({"Fault": fault}, status=401)
        if recorded.query.get("minorversion") != "75" or recorded.match["realm"] != REALM_ID:
            return web.json_response(
                {"Fault": {"Error": [{"Message": "bad request"}], "type": "ValidationFault"}}, status=400
            )
        note = {"Id": NOTE_ID, "SyncToken": "0", "domain": "QBO", **recorded.body}
        return web.json_response({"Attachable": note, "time": "2026-11-26T09:30:00.000-08:00"})


def configure(fake: FakeVendor, intuit: Intuit | None = None) -> Intuit:
    intuit = intuit or Intuit()
    fake.describe_by("quickbooks_online")
    fake.expect("POST", "/oauth2/v1/tokens/bearer", respond=intuit.token, name="token")
    fake.expect("POST", "/v3/company/{realm}/attachable", respond=intuit.attachable, name="attachable")
    return intuit


def settings(base_url: str) -> dict[str, object]:
    return {
        "base_url": base_url,
        "token_url": f"{base_url}/oauth2/v1/tokens/bearer",
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "refresh_token": REFRESH_TOKEN,
        "realm_id": REALM_ID,
    }


def _check(fake: FakeVendor) -> None:
    (call,) = fake.calls("attachable")
    assert call.body["AttachableRef"] == [{"EntityRef": {"type": "Item", "value": ITEM_ID}}]
    assert call.body["Note"].startswith("CRITICAL shortage: Godzilla Pro pinball table (PIN-GODZ-PRO)")
    assert len(fake.calls("token")) == 1


CASE = AdapterCase(
    name="quickbooks",
    configure=configure,
    settings=settings,
    address=ITEM_ID,
    main_operation="attachable",
    secrets=[CLIENT_SECRET, REFRESH_TOKEN],
    check_sent=_check,
    external_id=NOTE_ID,
)
