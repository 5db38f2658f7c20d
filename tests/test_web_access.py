"""Access, never anonymous: dashboard links (signed, single use, 15 minutes), sessions, and API tokens.

Over HTTP against the real app on both databases; the middleware is exercised on a path no route serves, so
it is tested on its own (12a's /api/v1 routes are tested with it in their own module).
"""

from __future__ import annotations

import subprocess
import sys
import tomllib
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from stockbot.adapters.base import redact
from stockbot.bot.access import LinkRefused, WebAccess, api_actor, api_token_hash, check_link, sign_link
from stockbot.bot.config import ApiTokenConfig, parse_config
from stockbot.bot.permissions import Actor, PermissionDenied
from stockbot.handlers.access import MISSING_TOKEN
from stockbot.storage.tables import audit_events, web_links, web_sessions
from tests.conftest import HarnessFactory
from tests.helpers import T0, StockbotHarness

MANAGER = "U0BOSS"
REP = "U0REP"
TOKEN = "sbt_test-token-for-reporting-0123456789abcdef"
ROLES = {"manager": [MANAGER], "rep": [REP]}
API_TOKENS = {"tokens": [{"name": "bi-export", "hash": api_token_hash(TOKEN), "roles": ["rep"]}]}


def access(harness: StockbotHarness) -> WebAccess:
    assert harness.runtime is not None
    return WebAccess(harness.config, harness.runtime.engine, harness.clock)


async def audit(harness: StockbotHarness, kind: str) -> list[dict[str, Any]]:
    assert harness.runtime is not None
    query = select(audit_events).where(audit_events.c.kind == kind).order_by(audit_events.c.id)
    async with harness.runtime.engine.connect() as conn:
        return [dict(r) for r in (await conn.execute(query)).mappings().all()]


async def get(harness: StockbotHarness, path: str, **kwargs: Any) -> tuple[int, str, Any]:
    assert harness.http is not None
    async with harness.http.get(harness.url + path, allow_redirects=False, **kwargs) as response:
        return response.status, await response.text(), response


# --- links ---------------------------------------------------------------------------------------------


def test_a_link_token_is_refused_when_altered_forged_or_late() -> None:
    token = sign_link("key", "nonce123", T0 + timedelta(minutes=15))
    assert check_link("key", token, T0) == "nonce123"
    nonce, expires, signature = token.split(".")
    for bad in (
        f"other.{expires}.{signature}",
        f"{nonce}.{int(expires) + 3600}.{signature}",
        sign_link("another key", "nonce123", T0 + timedelta(minutes=15)),
        "garbage",
    ):
        with pytest.raises(LinkRefused):
            check_link("key", bad, T0)
    with pytest.raises(LinkRefused, match="expired"):
        check_link("key", token, T0 + timedelta(minutes=15))


async def test_a_link_opens_one_session_once_and_only_within_15_minutes(stockbot: HarnessFactory) -> None:
    harness = await stockbot(roles=ROLES, server={"public_url": "https://stock.example.com"})
    web = access(harness)
    boss = Actor(id=MANAGER, via="slack", name="Bo Boss")

    link = await web.link_for(boss)
    assert link.startswith("https://stock.example.com/login?token=")
    token = link.split("token=", 1)[1]
    cookie, session = await web.open_session(token, "127.0.0.1")
    assert session.actor.label == f"web:{MANAGER}" and session.actor.display == "Bo Boss"
    assert (await web.session(cookie)) is not None
    with pytest.raises(LinkRefused, match="already used"):
        await web.open_session(token, "127.0.0.1")

    late = (await web.link_for(boss)).split("token=", 1)[1]
    harness.later(minutes=15)
    with pytest.raises(LinkRefused, match="expired"):
        await web.open_session(late, "127.0.0.1")

    # The session lasts [web] session_lifetime (8 h by default), then the cookie opens nothing.
    harness.later(hours=8)
    assert await web.session(cookie) is None

    # Nothing usable is stored: hashes only.
    assert harness.runtime is not None
    async with harness.runtime.engine.connect() as conn:
        stored = [r.nonce_hash for r in (await conn.execute(select(web_links))).all()]
        sessions = [r.id_hash for r in (await conn.execute(select(web_sessions))).all()]
    assert stored and all(len(h) == 64 and h not in link for h in stored)
    assert all(h != cookie for h in sessions)
    assert [r["reason"] for r in [row["detail"] for row in await audit(harness, "request.refused")]] == [
        "this link was already used",
        "this link has expired",
    ]
    assert len(await audit(harness, "web.link_issued")) == 2
    assert len(await audit(harness, "web.session_opened")) == 1


async def test_no_link_without_a_role_and_no_session_after_the_role_is_gone(stockbot: HarnessFactory) -> None:
    harness = await stockbot(roles=ROLES)
    web = access(harness)
    with pytest.raises(PermissionDenied, match="only manager or rep or warehouse roles may see reports"):
        await web.link_for(Actor(id="U0STRANGER", via="slack"))
    (refused,) = await audit(harness, "action.refused")
    assert refused["actor"] == "slack:U0STRANGER" and refused["detail"]["action"] == "dashboard"

    cookie, _ = await web.open_session(
        (await web.link_for(Actor(id=REP, via="slack"))).split("token=")[1], None
    )
    harness.config.roles.rep.remove(REP)  # an admin takes the role away (and restarts stockbot)
    assert await web.session(cookie) is None


# --- API tokens ------------------------------------------------------------------------------------------


def test_api_tokens_match_by_hash_only() -> None:
    tokens = [ApiTokenConfig(name="bi", hash=api_token_hash(TOKEN), roles=["manager"])]
    actor = api_actor(tokens, TOKEN)
    assert actor is not None and actor.label == "api:bi" and actor.roles == frozenset({"manager"})
    assert api_actor(tokens, TOKEN + "x") is None
    with pytest.raises(Exception, match=r"api\.tokens\[0\]\.hash"):
        parse_config({"api": {"tokens": [{"name": "bi", "hash": TOKEN, "roles": ["rep"]}]}}, env={})


async def test_api_v1_needs_a_bearer_token_and_audits_refusals(stockbot: HarnessFactory) -> None:
    harness = await stockbot(api=API_TOKENS)

    status, body, response = await get(harness, "/api/v1/not-a-route")
    assert status == 401 and response.content_type == "application/problem+json"
    assert MISSING_TOKEN in body and response.headers["WWW-Authenticate"].startswith("Bearer")
    assert redact(MISSING_TOKEN) == MISSING_TOKEN  # the log line keeps its advice

    status, body, _ = await get(harness, "/api/v1/not-a-route", headers={"Authorization": f"Bearer {TOKEN}x"})
    assert status == 401 and "wrong or revoked API token" in body

    # A good token passes the middleware: the router answers (no such route here, so 404).
    status, _, _ = await get(harness, "/api/v1/not-a-route", headers={"Authorization": f"Bearer {TOKEN}"})
    assert status == 404

    refused = await audit(harness, "request.refused")
    assert [(r["actor"], r["subject"]) for r in refused] == [("api:?", "/api/v1/not-a-route")] * 2
    # Other paths are not the middleware's business.
    assert (await get(harness, "/healthz"))[0] in (200, 503)


def test_tokens_create_prints_the_token_once_and_config_with_only_its_hash(tmp_path: Path) -> None:
    stockbot = str(Path(sys.executable).with_name("stockbot"))
    result = subprocess.run(
        [stockbot, "tokens", "create", "bi-export", "--role", "manager"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    token = next(w for w in result.stderr.split() if w.startswith("sbt_"))
    assert token not in result.stdout
    (entry,) = tomllib.loads(result.stdout)["api"]["tokens"]
    assert entry == {"name": "bi-export", "hash": api_token_hash(token), "roles": ["manager"]}
    config = parse_config({"api": {"tokens": [entry]}}, env={})
    actor = api_actor(config.api.tokens, token)
    assert actor is not None and actor.roles == frozenset({"manager"})

    bad = subprocess.run(
        [stockbot, "tokens", "create", "bi", "--role", "boss"], capture_output=True, text=True
    )
    assert bad.returncode != 0 and "roles are rep, warehouse, manager" in bad.stderr
