"""A seeded fuzz over every way in: a few thousand hostile requests, none answered 5xx, and the server still
answering (and still storing a good event) afterwards.

Endpoints: the events API (both routes, signed and not), ``/slack/events`` (signed and not),
``/api/messages`` anonymous and with an app id, ``/healthz``, ``/livez``, ``/readyz``, ``/metrics`` and
``/openapi.json``, plus methods and paths that do not exist; then the browser's pages and forms (``/login``,
``/logout``, ``/reports``, ``/alerts``, an alert and its actions; with a real session, a forged one and none),
``/api/v1`` (a real token, a wrong one, none) and Slack's ``/slack/install`` and ``/slack/oauth_redirect``.
Requests go out 16 at a time to the real app
on 127.0.0.1, on SQLite and on PostgreSQL. A failure names the seed, the request and the answer.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import gzip
import hashlib
import hmac
import json
import random
from collections import Counter
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest
from cryptography.fernet import Fernet

from stockbot.adapters.signing import HEADER, sign
from stockbot.bot.access import WebAccess, api_token_hash
from stockbot.bot.permissions import Actor
from stockbot.bot.runtime import SECRET_KEY_VAR
from tests import test_teams_app
from tests.conftest import HarnessFactory
from tests.fakes import slack_api
from tests.fakes.bot_connector import FakeBotConnector
from tests.fakes.shared import vector
from tests.fakes.slack_api import FakeSlack
from tests.helpers import ERP_SECRET, StockbotHarness, event
from tests.test_slack_app import SECRET as SLACK_SECRET
from tests.test_slack_app import slack_overrides
from tests.test_teams_app import APP_ID, TENANT, mention

fake_slack = slack_api.fake_slack  # the fixtures
connector = test_teams_app.connector
SEED = 20261126
REQUESTS = 2100
IN_FLIGHT = 16

Request = tuple[str, str, bytes, dict[str, str]]  # method, path, body, headers

HOSTILE: list[Any] = [
    None, True, False, 0, -1, 1.0, 3.5, -0.0, 1e308, 2**31 - 1, 2**31, 2**63, -(2**63) - 1, 10**30,
    "", " ", "  x  ", "\x00", "a\x00b", "\ud800", "x\udfff", "\t\n", "\x7f\x85", "\u200b", "\ufeff",
    "𝔰𝔨𝔲-🦖", "ي" * 70, "x" * 65, "x" * 201, "y" * 5000, "2026-11-26T09:00:00Z", "2099-01-01T00:00:00Z",
    "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-23:59", "2026-11-26T09:00:00\x00Z", "NaN",
    [], [None], [1, [2, [3]]], {}, {"a": {"b": {"c": None}}}, {"source": "erp"}, {"$gt": ""},
]  # fmt: skip
EVENT_FIELDS = ["event_id", "source", "sku", "location", "on_hand", "status", "occurred_at", "note"]
FAILURE_FIELDS = ["order_id", "requested", "available", "rep", "sku", "occurred_at", "event_id"]


def nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


class Fuzzer:
    def __init__(self, seed: int, harness: StockbotHarness, connector: FakeBotConnector, slack: FakeSlack):
        self.rng = random.Random(seed)
        self.harness = harness
        self.connector = connector
        self.slack = slack
        self.count = 0

    def value(self) -> Any:
        return copy.deepcopy(self.rng.choice(HOSTILE))

    def pick(self, *makers: Callable[[], Request]) -> Request:
        return self.rng.choice(makers)()

    # --- bodies ---------------------------------------------------------------------------------------
    def garbage(self) -> bytes:
        return self.rng.choice(
            [
                b"",
                b"{",
                b"null",
                b"5",
                b'"x"',
                b"[]",
                b"NaN",
                b'{"on_hand": Infinity}',
                b"\xff\xfe\x00",
                b'{"a": 1' + b"9" * 5000 + b"}",
                nested(self.rng.choice([63, 64, 65, 900, 5000])),
                self.rng.randbytes(self.rng.randint(1, 300)),
                json.dumps({"events": [None] * self.rng.randint(0, 3)}).encode(),
                json.dumps({"events": {}}).encode(),
            ]
        )

    def event_body(self, path: str) -> Any:
        self.count += 1
        if path.endswith("failed"):
            body: dict[str, Any] = {
                "event_id": f"ff-{self.count}",
                "source": "erp",
                "order_id": "SO-1",
                "sku": "CAB-SF2-CE",
                "location": "Chicago DC",
                "requested": 2,
                "available": 0,
                "occurred_at": "2026-11-26T09:00:00Z",
            }
            fields = FAILURE_FIELDS
        else:
            body = event(
                self.rng.choice(["CAB-PACMAN-UP", "PIN-JP-PRO", "NO-SUCH"]), 1, event_id=f"e-{self.count}"
            )
            fields = EVENT_FIELDS
        for field in self.rng.sample(fields, self.rng.randint(0, 3)):
            if self.rng.random() < 0.15:
                body.pop(field, None)
            else:
                body[field] = self.value()
        return body

    # --- the events API --------------------------------------------------------------------------------
    def events_api(self) -> Request:
        path = self.rng.choice(["/events/inventory", "/events/fulfillment-failed"])
        roll = self.rng.random()
        headers = {"Content-Type": "application/json"}
        if roll < 0.15:
            return "POST", path, self.garbage(), headers
        if roll < 0.25:  # a claimed source nobody can store, unsigned
            return (
                "POST",
                path,
                json.dumps({**self.event_body(path), "source": self.value()}).encode(),
                headers,
            )
        if roll < 0.5:
            count = self.rng.choice([1, 2, 3, 50])
            payload: Any = {"events": [self.event_body(path) for _ in range(count)]}
        else:
            payload = self.event_body(path)
        body = json.dumps(payload).encode()
        now = int(self.harness.clock.now().timestamp())
        headers[HEADER] = sign(ERP_SECRET, body, now)
        if roll > 0.93:
            headers[HEADER] = self.rng.choice(
                ["", "t=", "t=9" * 400, f"t={now},v1=", f"v1=x,t={now}", "t=-1,v1=00", ",,,", "t=1e9,v1=a"]
            )
        elif roll > 0.9:  # compressed (the signature covers the decompressed body) or corrupt
            headers["Content-Encoding"] = "gzip"
            headers["Connection"] = "close"  # a body that does not decode ends the connection
            body = gzip.compress(body) if self.rng.random() < 0.5 else body
        return "POST", path, body, headers

    # --- Slack -----------------------------------------------------------------------------------------
    def slack_request(self) -> Request:
        roll = self.rng.random()
        if roll < 0.5:
            fields = dict(vector("slack_slash_command")["parsed"])
            fields.update(command=self.rng.choice(["/stock", "/oos", "/other"]), text="pacman")
            fields["response_url"] = self.slack.response_url()
            for key in self.rng.sample(sorted(fields), self.rng.randint(0, 2)):
                fields[key] = str(self.value())
            if self.rng.random() < 0.2:
                fields[self.rng.choice(["authorizations", "response_urls", "user", "team", "actions"])] = "x"
            # as bytes: a lone surrogate has no UTF-8 spelling, but a hostile sender can send the bytes
            body = urlencode({k: v.encode("utf-8", "surrogatepass") for k, v in fields.items()}).encode()
            content_type = "application/x-www-form-urlencoded"
        elif roll < 0.8:
            payload = copy.deepcopy(vector("slack_block_actions")["payload"])
            payload["response_url"] = self.slack.response_url()
            targets: list[tuple[dict[str, Any], str]] = [(payload, k) for k in payload]
            targets += [(payload["actions"][0], k) for k in ("action_id", "value", "block_id")]
            for target, key in self.rng.sample(targets, self.rng.randint(1, 3)):
                target[key] = self.value()
            body = urlencode({"payload": json.dumps(payload)}).encode()
            content_type = "application/x-www-form-urlencoded"
        else:
            body = self.rng.choice([self.garbage(), b"payload=%5B%5D", b"payload=%22x%22", b"payload=%7B"])
            content_type = self.rng.choice(
                ["application/json", "application/json; charset=latin-1", "application/x-www-form-urlencoded"]
            )
        if self.rng.random() < 0.8:  # Slack's scheme over the raw bytes, UTF-8 or not
            timestamp = str(int(self.harness.clock.now().timestamp()))
            digest = hmac.new(SLACK_SECRET.encode(), f"v0:{timestamp}:".encode() + body, hashlib.sha256)
            headers = {
                "X-Slack-Request-Timestamp": timestamp,
                "X-Slack-Signature": f"v0={digest.hexdigest()}",
            }
        else:
            headers = {
                "X-Slack-Request-Timestamp": self.rng.choice(["", "x", "9" * 5000, "-1", " 1", "1e9"]),
                "X-Slack-Signature": self.rng.choice(["", "v0=", "v0=" + "0" * 64]),
            }
        headers["Content-Type"] = content_type
        return "POST", "/slack/events", body, headers

    # --- Teams -----------------------------------------------------------------------------------------
    def activity(self) -> bytes:
        if self.rng.random() < 0.15:
            return self.garbage()
        text = self.rng.choice(["help", "stock pacman", "oos CAB-PACMAN-UP", "hi"])
        body = copy.deepcopy(mention(self.connector, text))  # its parts are shared with other tests
        if self.rng.random() < 0.2:
            body.update(
                type="invoke", name=self.rng.choice(["adaptiveCard/action", "task/fetch", 5]), value={}
            )
        targets: list[tuple[dict[str, Any], str]] = [(body, k) for k in body]
        targets += [(body["conversation"], k) for k in body["conversation"]]
        targets += [(body["from"], k) for k in body["from"]]
        for target, key in self.rng.sample(targets, self.rng.randint(0, 3)):
            target[key] = self.value()
        if self.rng.random() < 0.1:
            body["serviceUrl"] = self.rng.choice(["x", "ftp://x", "http://", "//x", "http://[::1"])
        if self.rng.random() < 0.05:  # a sub-channel its productInfo entity contradicts
            body.update(channelId="msteams:a", entities=[{"type": "ProductInfo", "id": "b"}])
        return json.dumps(body).encode()

    def teams_request(self) -> Request:
        return "POST", "/api/messages", self.activity(), {"Content-Type": "application/json"}

    def teams_with_app_id(self) -> Request:
        def part(value: Any) -> str:
            return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

        claims = {
            "aud": APP_ID,
            "iss": "https://api.botframework.com",
            "serviceurl": self.connector.service_url,
        }
        token = self.rng.choice(
            [
                f"{part({'alg': 'RS256', 'typ': 'JWT'})}.{part(claims)}.c2ln",  # no kid
                f"{part({'alg': 'none'})}.{part(claims)}.",
                f"{part({'alg': 'RS256', 'kid': None})}.{part(claims)}.c2ln",
                f"{part([1])}.{part(claims)}.c2ln",
                f"{part({'alg': 'RS256'})}.{part([1, 2])}.c2ln",
                "a.b.c",
                "x" * 3000,
                "",
            ]
        )
        authorization = self.rng.choice([f"Bearer {token}", f"bearer  {token}  ", token, "Basic Og=="])
        headers = {"Content-Type": "application/json", "Authorization": authorization}
        return "POST", "/api/messages", self.activity(), headers

    # --- the browser's pages, /api/v1 and Slack's install ----------------------------------------------
    def text(self) -> str:
        value = self.value()
        return value if isinstance(value, str) else json.dumps(value)

    def query(self, *names: str) -> str:
        picked = self.rng.sample([*names, "x"], self.rng.randint(0, min(3, len(names) + 1)))
        # as bytes: a lone surrogate has no UTF-8 spelling, but a hostile sender can send the bytes
        pairs = {name: self.text().encode("utf-8", "surrogatepass") for name in picked}
        return ("?" + urlencode(pairs)) if pairs else ""

    def alert_id(self) -> str:
        return self.rng.choice(["1", "2", "0", "999999999999999999", "1" * 19, "-1", "x", "%00", "1.5"])

    def web_request(self, cookie: str, csrf: str) -> Request:
        page = self.rng.choice(
            [
                *("/reports", "/alerts", "/alerts/{id}", "/alerts/{id}/acknowledge", "/alerts/{id}/resolve"),
                *("/login", "/logout"),
            ]
        ).format(id=self.alert_id())
        headers = {"Cookie": f"stockbot_session={self.rng.choice([cookie, cookie, '', 'x', cookie + 'x'])}"}
        if page.endswith(("acknowledge", "resolve", "logout")) or (
            page == "/login" and self.rng.random() < 0.5
        ):
            form = {
                "csrf": self.rng.choice([csrf, csrf, "", "x"]),
                "token": self.text(),
                "reason": self.text(),
            }
            for key in self.rng.sample(sorted(form), self.rng.randint(0, 2)):
                form[key] = self.text()
            body = urlencode({k: v.encode("utf-8", "surrogatepass") for k, v in form.items()}).encode()
            headers["Content-Type"] = self.rng.choice(["application/x-www-form-urlencoded", "text/plain"])
            headers["Origin"] = self.rng.choice([self.harness.url, "https://evil.example", ""])
            return "POST", page, self.rng.choice([body, body, self.garbage()]), headers
        names = ("period", "location", "category", "sku", "state", "severity", "page", "before", "token")
        return "GET", page + self.query(*names), b"", headers

    def api_request(self, token: str) -> Request:
        path = self.rng.choice(
            [
                *("/alerts", "/alerts/{id}", "/alerts/{id}/acknowledge", "/alerts/{id}/resolve"),
                *("/stock/{sku}", "/reports/summary"),
            ]
        ).format(id=self.alert_id(), sku=self.rng.choice(["CAB-PACMAN-UP", "NO-SUCH", "%00", "x" * 300]))
        authorization = self.rng.choice([f"Bearer {token}", f"Bearer {token}", "Bearer x", "", token])
        headers = {"Authorization": authorization}
        if path.endswith(("acknowledge", "resolve")):
            body = self.rng.choice([json.dumps({"reason": self.value()}).encode(), self.garbage(), b""])
            headers["Content-Type"] = "application/json"
            return "POST", "/api/v1" + path, body, headers
        names = ("state", "severity", "location", "sku", "since", "until", "cursor", "limit", "period")
        return "GET", "/api/v1" + path + self.query(*names), b"", headers

    def install_request(self) -> Request:
        path = self.rng.choice(["/slack/install", "/slack/oauth_redirect"])
        headers = {"Cookie": self.rng.choice(["", "slack-app-oauth-state=x", "slack-app-oauth-state=%00"])}
        return "GET", path + self.query("code", "state", "error", "team"), b"", headers

    # --- the rest --------------------------------------------------------------------------------------
    def other(self) -> Request:
        path = self.rng.choice(
            ["/healthz", "/livez", "/readyz", "/metrics", "/openapi.json", "/nope", "/events"]
        )
        query = self.rng.choice(["", "?x=1", "?%00", "?" + "a" * 2000])
        method = self.rng.choice(["GET", "GET", "GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS"])
        return method, path + query, b"", {}


async def send(session: aiohttp.ClientSession, base: str, request: Request) -> tuple[int, str]:
    method, path, body, headers = request
    # Redirects are answers, not followed: /slack/install sends the browser on to slack.com.
    request_options = {"data": body or None, "headers": headers, "allow_redirects": False}
    async with session.request(method, base + path, **request_options) as response:
        return response.status, (await response.text(errors="replace"))[:300]


async def run(fuzzer: Fuzzer, url: str, makers: list[Callable[[], Request]], total: int) -> Counter[int]:
    statuses: Counter[int] = Counter()
    failures: list[str] = []
    pool = aiohttp.TCPConnector(limit=IN_FLIGHT)
    async with aiohttp.ClientSession(connector=pool, auto_decompress=False) as session:
        requests = [fuzzer.rng.choice(makers)() for _ in range(total)]
        for start in range(0, total, IN_FLIGHT):
            chunk = requests[start : start + IN_FLIGHT]
            answers = await asyncio.gather(*(send(session, url, r) for r in chunk))
            for request, (status, text) in zip(chunk, answers, strict=True):
                statuses[status] += 1
                if status >= 500:
                    failures.append(f"{request[0]} {request[1][:80]} {request[2][:300]!r} → {status} {text}")
    assert not failures, f"seed {SEED}: {len(failures)} answers of 5xx:\n" + "\n".join(failures[:10])
    return statuses


async def test_thousands_of_hostile_requests_get_no_5xx(
    stockbot: HarnessFactory,
    fake_slack: FakeSlack,
    connector: FakeBotConnector,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(SECRET_KEY_VAR, Fernet.generate_key().decode())  # Slack distribution keeps tokens
    anonymous = await stockbot(**slack_overrides(fake_slack), teams={})
    guarded = await stockbot(
        teams={"app_id": APP_ID, "app_password": "client-secret-value", "tenant_id": TENANT}
    )
    for harness in (anonymous, guarded):
        assert harness.runtime is not None
        harness.runtime.dispatcher.start()  # so readiness is 200: a 503 from /readyz would be a real one
    fuzzer = Fuzzer(SEED, anonymous, connector, fake_slack)
    makers = (
        [fuzzer.events_api] * 4 + [fuzzer.slack_request] * 3 + [fuzzer.teams_request] * 2 + [fuzzer.other]
    )
    statuses = await run(fuzzer, anonymous.url, makers, REQUESTS * 5 // 6)
    statuses += await run(fuzzer, guarded.url, [fuzzer.teams_with_app_id, fuzzer.other], REQUESTS // 6)
    assert statuses[202] and statuses[400] and statuses[401], statuses  # every kind of answer was reached

    await the_browser_api_and_install_pages(stockbot, fake_slack, fuzzer)

    # Still answering, and still storing what is good.
    status, _ = await anonymous.post("/events/inventory", event("CAB-PACMAN-UP", 7, event_id="after-fuzz"))
    assert status == 202
    assert anonymous.http is not None
    async with anonymous.http.get(anonymous.url + "/livez") as response:
        assert response.status == 200


async def the_browser_api_and_install_pages(
    stockbot: HarnessFactory, fake_slack: FakeSlack, fuzzer: Fuzzer
) -> None:
    """A third of the requests again, at the pages, the API and Slack's install, on a harness where each
    works for real: a live session (opened through a real dashboard link), an API token, distribution."""
    token = "sbt_fuzz-token-0123456789abcdef0123"
    harness = await stockbot(
        server={"public_url": "http://stockbot.test"},
        slack={
            "client_id": fake_slack.client_id,
            "client_secret": fake_slack.client_secret,
            "signing_secret": SLACK_SECRET,
            "api_url": fake_slack.api_url,
        },
        roles={"manager": ["U0BOSS"]},
        api={"tokens": [{"name": "fuzz", "hash": api_token_hash(token), "roles": ["manager"]}]},
    )
    assert harness.runtime is not None and harness.http is not None
    harness.runtime.dispatcher.start()
    await harness.send(event("CAB-PACMAN-UP", 0, event_id="fuzz-alert"))  # an alert to look at and act on
    web = WebAccess(harness.config, harness.runtime.engine, harness.clock)
    link = await web.link_for(Actor("U0BOSS", "slack"))
    login = {"token": link.split("token=", 1)[1]}
    async with harness.http.post(harness.url + "/login", data=login, allow_redirects=False) as response:
        assert response.status == 303, await response.text()
        cookie = response.cookies["stockbot_session"].value
    async with harness.http.get(
        harness.url + "/alerts", headers={"Cookie": f"stockbot_session={cookie}"}
    ) as r:
        page = await r.text()
        assert r.status == 200, page
    csrf = page.split('name="csrf" value="', 1)[1].split('"', 1)[0]
    fuzzer.harness = harness
    makers = [lambda: fuzzer.web_request(cookie, csrf)] * 3 + [lambda: fuzzer.api_request(token)] * 2
    statuses = await run(fuzzer, harness.url, [*makers, fuzzer.install_request], REQUESTS // 3)
    assert statuses[200] and statuses[400] and statuses[401] and statuses[403], statuses
