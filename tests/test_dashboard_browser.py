"""The dashboard as a person uses it: a real headless Chromium against the real app on 127.0.0.1.

A manager asks for ``/stock dashboard`` in Slack (a signed slash command, answered ephemerally through the
fake Slack Web API), opens the link, sees the report's charts drawn from seeded stock-outs, filters by
location, opens an alert's timeline and acknowledges it; without a session every page is refused. A
screenshot of each page goes to ``test-artifacts/`` (git-ignored).

Chromium is Debian's (``apt-get install chromium``), driven by Playwright's Python package; nothing is
downloaded. Without it these tests skip with the reason, except under CI (``CI=true``), where they fail.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select

from stockbot.storage.tables import alerts, audit_events
from tests.conftest import HarnessFactory
from tests.fakes import slack_api
from tests.fakes.slack_api import FakeSlack
from tests.helpers import StockbotHarness, event
from tests.test_slack_app import BOSS, MANAGER_GROUP, REP, SALES, deliver, send_command, slack_overrides

fake_slack = slack_api.fake_slack  # the fixture

CHROMIUM = os.environ.get("STOCKBOT_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"


def _browser_missing() -> str | None:
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        return "Playwright's Python package is not installed (pip install -e '.[test]')"
    if not shutil.which(CHROMIUM) and not Path(CHROMIUM).is_file():
        return f"no Chromium at {CHROMIUM} (apt-get install chromium chromium-driver)"
    return None


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    missing = _browser_missing()
    if missing:
        if os.environ.get("CI") == "true":
            pytest.fail(f"browser tests must run in CI: {missing}")
        pytest.skip(missing)
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield launched
        finally:
            await launched.close()


async def shot(page: Any, name: str, db: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"{name}-{db}.png"), full_page=True)


# --- seeded history ----------------------------------------------------------------------------------------

# (day, sku, location, level): the levels open stock-outs of a known severity on known days.
# CAB-PACMAN-UP is a key product (critical at 0); PIN-MET-PRO at its minimum of 1 is low; the rest are out.
SEEDED = [
    (0, "CAB-MK-LEGACY", "Chicago DC", 0),
    (0, "PIN-MET-PRO", "Chicago DC", 1),
    (0, "CAB-PACMAN-UP", "Chicago DC", 0),
    (1, "CAB-MK-LEGACY", "Chicago DC", 0),
    (1, "CAB-DK-JR", "Las Vegas Showroom", 0),
    (2, "CAB-MK-LEGACY", "Las Vegas Showroom", 1),
    (2, "PIN-FOO-PRO", "Chicago DC", 0),
]
# Per day and severity, what the chart must draw: one bar segment per (day, severity) with a count.
EXPECTED_BARS = {"all": (6, 7), "Chicago DC": (5, 5)}  # (segments, stock-outs)


async def seed(harness: StockbotHarness) -> None:
    """Three days of stock-outs; everything but day 2's is back in stock two hours after it ran out."""
    for day in range(3):
        opened = [(s, loc, lv) for d, s, loc, lv in SEEDED if d == day]
        for sku, location, level in opened:
            await harness.send(event(sku, level, location=location, at=harness.clock.now()))
            await deliver(harness)  # one at a time: together they would go out as one digest
            harness.later(seconds=5)
        if day < 2:
            harness.later(hours=2)
            for sku, location, _ in opened:
                await harness.send(event(sku, 10, location=location, at=harness.clock.now()))
            await deliver(harness)
        harness.later(hours=22)


async def alert_id_of(harness: StockbotHarness, sku: str) -> int:
    assert harness.runtime is not None
    query = select(alerts.c.id).where(alerts.c.sku == sku, alerts.c.state != "resolved")
    async with harness.runtime.engine.connect() as conn:
        return int((await conn.execute(query)).scalar_one())


async def bars(page: Any) -> tuple[int, int]:
    segments = page.locator("svg.stacked rect.bar")
    counts = [int(c) for c in await segments.evaluate_all("els => els.map(e => e.dataset.count)")]
    return len(counts), sum(counts)


# --- the walk-through -----------------------------------------------------------------------------------


async def test_a_manager_opens_the_dashboard_from_slack_and_acknowledges_an_alert(
    stockbot: HarnessFactory, fake_slack: FakeSlack, browser: Any, db_url: str
) -> None:
    fake_slack.usergroups[MANAGER_GROUP] = [BOSS]
    harness = await stockbot(**slack_overrides(fake_slack))
    harness.config.server.public_url = harness.url  # links point at this test server
    db = "postgres" if db_url.startswith("postgresql") else "sqlite"
    await seed(harness)
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    page = await context.new_page()

    # Refused without a session: every page says how to get in, and nothing is shown.
    response = await page.goto(harness.url + "/reports")
    assert response is not None and response.status == 401
    assert "Sign in from chat" in await page.inner_text("h1")
    assert await page.locator("svg").count() == 0
    await shot(page, "refused", db)

    # /stock dashboard in Slack: the link comes back to the asker only (chat.postEphemeral).
    answer = await send_command(harness, fake_slack, "/stock", "dashboard", BOSS)
    assert answer["user"] == BOSS
    (button,) = [e for b in answer["blocks"] if b["type"] == "actions" for e in b["elements"]]
    link = button["url"]
    assert link.startswith(harness.url + "/login?token=")

    # Opening it: one button, then the report.
    await page.goto(link)
    await page.click("text=Open dashboard")
    await page.wait_for_url("**/reports")
    cookie = next(c for c in await context.cookies() if c["name"] == "stockbot_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax" and not cookie["secure"]

    assert await bars(page) == EXPECTED_BARS["all"]
    stockouts = page.locator('[data-figure="Stock-outs"] .value')
    assert await stockouts.inner_text() == "7"
    assert await page.locator("svg.histogram rect.bucket").count() > 0
    assert await page.locator("svg.hbars rect.hbar").count() > 0
    assert "Mortal Kombat Legacy Kit cabinet" in await page.inner_text("body")  # the repeat offender
    await shot(page, "reports", db)

    # Filter by location: the charts are drawn again for Chicago DC only.
    await page.select_option("select[name=location]", "Chicago DC")
    await page.click("form.filters button")
    await page.wait_for_url("**/reports?*location=Chicago*")
    assert await bars(page) == EXPECTED_BARS["Chicago DC"]
    assert "Las Vegas Showroom" not in await page.inner_text("table")
    await shot(page, "reports-chicago", db)

    # The alert list, then one alert's timeline.
    await page.click("header.top >> text=Alerts")
    await page.wait_for_url("**/alerts")
    rows = page.locator("main table tbody tr")
    assert await rows.count() == 2  # the two still open
    await shot(page, "alerts", db)
    foo = await alert_id_of(harness, "PIN-FOO-PRO")
    await page.click(f"a[href='/alerts/{foo}']")
    await page.wait_for_url(f"**/alerts/{foo}")
    kinds = await page.locator("ol.timeline li").evaluate_all("els => els.map(e => e.dataset.kind)")
    assert "alert.opened" in kinds and "delivery.sent" in kinds
    await shot(page, "alert", db)

    # Acknowledge it there: the desk records it (audited as web:<id>), and the Slack card follows.
    await page.click("button:has-text('Acknowledge')")
    await page.wait_for_url(f"**/alerts/{foo}?done=acknowledged")
    assert "You acknowledged this alert" in await page.inner_text(".notice")
    kinds = await page.locator("ol.timeline li").evaluate_all("els => els.map(e => e.dataset.kind)")
    assert "alert.acknowledged" in kinds
    assert await page.locator("button:has-text('Acknowledge')").count() == 0
    await shot(page, "alert-acknowledged", db)
    assert harness.runtime is not None
    async with harness.runtime.engine.connect() as conn:
        row = (await conn.execute(select(alerts).where(alerts.c.id == foo))).mappings().one()
        acked = (
            (
                await conn.execute(
                    select(audit_events).where(
                        audit_events.c.kind == "alert.acknowledged", audit_events.c.alert_id == foo
                    )
                )
            )
            .mappings()
            .one()
        )
    assert row["state"] == "acknowledged" and acked["actor"] == f"web:{BOSS}"
    await deliver(harness)
    card = next(m for m in fake_slack.posts(SALES) if "Foo Fighters" in m["text"])
    assert "Acknowledged by" in str(card["blocks"]) and fake_slack.errors == []

    # The link was good once: a second browser that follows it is refused.
    stranger = await (await browser.new_context()).new_page()
    await stranger.goto(link)
    await stranger.click("text=Open dashboard")
    assert "already used" in await stranger.inner_text("body")
    assert (await stranger.goto(harness.url + f"/alerts/{foo}")).status == 401
    await context.close()


async def test_forms_need_the_sessions_csrf_token_and_a_rep_cannot_resolve(
    stockbot: HarnessFactory, fake_slack: FakeSlack
) -> None:
    """Without the browser: a POST with the cookie but not the session's token is refused (403), and a
    rep's Resolve is refused by the desk (403, audited)."""
    harness = await stockbot(**slack_overrides(fake_slack))
    harness.config.server.public_url = harness.url
    await harness.send(event("CAB-MK-LEGACY", 0))
    alert = await alert_id_of(harness, "CAB-MK-LEGACY")
    answer = await send_command(harness, fake_slack, "/stock", "dashboard", REP)
    link = next(e for b in answer["blocks"] if b["type"] == "actions" for e in b["elements"])["url"]
    # A cookie jar that keeps cookies from an IP address (aiohttp's default one refuses them).
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        await _refusals(harness, http, link, alert)


async def _refusals(harness: StockbotHarness, http: aiohttp.ClientSession, link: str, alert: int) -> None:
    token = link.split("token=")[1]
    async with http.post(harness.url + "/login", data={"token": token}, allow_redirects=False) as r:
        assert r.status == 303
    csrf = await _csrf(harness, http, alert)

    async with http.post(harness.url + f"/alerts/{alert}/acknowledge", data={"csrf": "forged"}) as r:
        assert r.status == 403 and "security token" in await r.text()
    async with http.post(
        harness.url + f"/alerts/{alert}/acknowledge",
        data={"csrf": csrf},
        headers={"Origin": "https://evil.example"},
    ) as r:
        assert r.status == 403 and "another site" in await r.text()
    async with http.post(harness.url + f"/alerts/{alert}/resolve", data={"csrf": csrf}) as r:
        assert r.status == 403 and "only manager roles may resolve" in await r.text()
    async with http.get(harness.url + "/alerts?page=zero") as r:
        assert r.status == 400
    async with http.get(harness.url + "/reports?period=1y") as r:
        assert r.status == 400
    async with http.get(harness.url + "/alerts/999999") as r:
        assert r.status == 404
    async with http.post(harness.url + f"/alerts/{alert}/acknowledge", data={"csrf": csrf}) as r:
        assert r.status == 200 and "You acknowledged this alert" in await r.text()
    harness.later(hours=9)  # past the 8 h session
    async with http.get(harness.url + "/alerts", allow_redirects=False) as r:
        assert r.status == 401


async def _csrf(harness: StockbotHarness, http: aiohttp.ClientSession, alert: int) -> str:
    async with http.get(harness.url + f"/alerts/{alert}") as r:
        assert r.status == 200
        found = re.search(r'name="csrf" value="([^"]+)"', await r.text())
    assert found is not None
    return found.group(1)
