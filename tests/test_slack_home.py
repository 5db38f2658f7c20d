"""The App Home tab over HTTP on 127.0.0.1, on both databases, against FakeSlack (which holds every
``views.publish`` to the vendor spec and to Slack's limits for Home views).

Events and clicks are signed like Slack signs them and go through the real app; the Home is read back from
what the fake was last sent for that person.
"""

from __future__ import annotations

import asyncio
import copy
import json
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

from stockbot.adapters.render.slack import (
    ACK_ACTION_ID,
    ESCALATE_ACTION_ID,
    RESOLVE_ACTION_ID,
    SNOOZE_ACTION_ID,
)
from stockbot.adapters.render.slack_home import HOME_LOCATION_ACTION
from stockbot.handlers.slack_home import HomeTab
from tests.conftest import HarnessFactory
from tests.fakes import slack_api
from tests.fakes.shared import vector
from tests.fakes.slack_api import TEAM_ID, FakeSlack
from tests.helpers import T0, StockbotHarness, event
from tests.test_slack_app import (
    BOSS,
    REP,
    SKU,
    STRANGER,
    WAREHOUSE,
    alert_row,
    audit,
    deliver,
    front,
    post,
    signed,
    slack_overrides,
)

fake_slack = slack_api.fake_slack  # the fixture

LAS_VEGAS = "Las Vegas Showroom"


def home(harness: StockbotHarness) -> HomeTab:
    return front(harness).home


def home_opened(user: str, team: str = TEAM_ID) -> bytes:
    """The Events API envelope Slack sends when ``user`` opens the app's Home tab."""
    return json.dumps(
        {
            "token": "unused-verification-token",
            "team_id": team,
            "api_app_id": "A0STOCKBOT",
            "type": "event_callback",
            "event_id": "Ev0HOME0001",
            "event_time": int(T0.timestamp()),
            "event": {
                "type": "app_home_opened",
                "user": user,
                "channel": "D0HOME",
                "tab": "home",
                "event_ts": "1764148000.000100",
            },
        }
    ).encode()


def json_signed(harness: StockbotHarness, body: bytes) -> dict[str, str]:
    return {**signed(harness, body), "Content-Type": "application/json"}


async def open_home(
    harness: StockbotHarness, fake: FakeSlack, user: str, team: str = TEAM_ID
) -> dict[str, Any]:
    raw = home_opened(user, team)
    status, body, _ = await post(harness, raw, json_signed(harness, raw))
    assert status == 200, body
    await front(harness).settle(5)
    return fake.home(user, team)


def home_click(action: dict[str, Any], *, user: str, team: str = TEAM_ID) -> bytes:
    """The block_actions vector as Slack sends it for a click on the Home tab: a view, no channel, no
    message and no response_url."""
    payload = copy.deepcopy(vector("slack_block_actions")["payload"])
    payload["user"].update(id=user, team_id=team)
    payload["team"]["id"] = team
    for key in ("channel", "message", "response_url"):
        del payload[key]
    payload["container"] = {"type": "view", "view_id": "V0HOME"}
    payload["view"] = {"id": "V0HOME", "type": "home", "team_id": team, "blocks": [], "hash": "1.2"}
    payload["actions"] = [{**action, "action_ts": "1764148000.000200"}]
    return urlencode({"payload": json.dumps(payload)}).encode()


async def click_home(
    harness: StockbotHarness, fake: FakeSlack, action: dict[str, Any], user: str, team: str = TEAM_ID
) -> dict[str, Any]:
    raw = home_click(action, user=user, team=team)
    status, body, _ = await post(harness, raw, signed(harness, raw))
    assert status == 200, body
    await front(harness).settle(5)
    return fake.home(user, team)


def alert_sections(view: dict[str, Any]) -> list[str]:
    return [
        b["text"]["text"] for b in view["blocks"] if b["type"] == "section" and "on hand" in b["text"]["text"]
    ]


def action_ids(view: dict[str, Any]) -> list[str]:
    return [e["action_id"] for b in view["blocks"] if b["type"] == "actions" for e in b["elements"]]


def element(view: dict[str, Any], action_id: str, option: str | None = None) -> dict[str, Any]:
    """What Slack reports in ``actions`` when the person uses this element of their Home."""
    found = next(
        e
        for b in view["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
        if e["action_id"] == action_id
    )
    if found["type"] == "static_select":
        chosen = next(o for o in found["options"] if o["value"].endswith(f":{option}"))
        return {"type": "static_select", "action_id": action_id, "selected_option": chosen}
    return {k: found[k] for k in ("type", "action_id", "text", "value")}


def location_choice(view: dict[str, Any], location: str) -> dict[str, Any]:
    (menu,) = [b["accessory"] for b in view["blocks"] if "accessory" in b]
    assert menu["action_id"] == HOME_LOCATION_ACTION
    chosen = next(o for o in menu["options"] if o["text"]["text"] == location)
    return {"type": "static_select", "action_id": HOME_LOCATION_ACTION, "selected_option": chosen}


def text_of(view: dict[str, Any]) -> str:
    return json.dumps(view["blocks"])


async def test_home_lists_open_alerts_with_only_the_buttons_each_person_may_use(
    stockbot: HarnessFactory, fake_slack: FakeSlack
) -> None:
    fake_slack.usergroups["S0MANAGERS"] = [BOSS]
    harness = await stockbot(**slack_overrides(fake_slack))
    await harness.send(event(SKU, 0))
    await deliver(harness)

    view = await open_home(harness, fake_slack, REP)
    (section,) = alert_sections(view)
    assert "Mortal Kombat Legacy Kit cabinet" in section and f"`{SKU}` at *Chicago DC*" in section
    assert "0 on hand / minimum 1 · Open" in section
    assert f"<!date^{int(T0.timestamp())}^{{ago}}|" in text_of(view)  # the age, as each reader's Slack says
    assert action_ids(view) == [ACK_ACTION_ID, SNOOZE_ACTION_ID]  # a rep may not escalate

    boss = await open_home(harness, fake_slack, BOSS)
    assert action_ids(boss) == [ACK_ACTION_ID, ESCALATE_ACTION_ID, SNOOZE_ACTION_ID, RESOLVE_ACTION_ID]

    stranger = await open_home(harness, fake_slack, STRANGER)
    assert alert_sections(stranger) == [] and "no stockbot role" in text_of(stranger)

    await open_home(harness, fake_slack, REP)  # again: published again, audited once
    assert len(fake_slack.calls("views.publish")) == 4
    opened = await audit(harness, "slack.home_opened")
    assert [row["actor"] for row in opened] == [f"slack:{u}" for u in (REP, BOSS, STRANGER)]
    assert {row["subject"] for row in opened} == {f"slack:{TEAM_ID}"}
    assert fake_slack.errors == []


async def test_a_click_on_home_acts_and_republishes_that_home(
    stockbot: HarnessFactory, fake_slack: FakeSlack
) -> None:
    harness = await stockbot(**slack_overrides(fake_slack))
    await harness.send(event(SKU, 0))
    view = await open_home(harness, fake_slack, REP)

    acked = await click_home(harness, fake_slack, element(view, ACK_ACTION_ID), REP)
    assert (await alert_row(harness))["state"] == "acknowledged"
    assert "You acknowledged alert #1" in text_of(acked)  # the answer, on the Home itself
    assert action_ids(acked) == [SNOOZE_ACTION_ID]  # acknowledged: no Acknowledge button any more
    assert "Acknowledged by" in text_of(acked)
    assert fake_slack.ephemeral == [] and fake_slack.responses == []  # nowhere else to answer

    snoozed = await click_home(harness, fake_slack, element(acked, SNOOZE_ACTION_ID, "1h"), REP)
    assert "You snoozed alert #1" in text_of(snoozed) and "Acknowledged, snoozed" in text_of(snoozed)

    refused = await click_home(harness, fake_slack, {**element(view, ACK_ACTION_ID), "value": "1"}, WAREHOUSE)
    assert "only manager or rep roles may acknowledge" in text_of(refused)
    assert fake_slack.errors == []


async def test_home_is_in_the_persons_slack_language(stockbot: HarnessFactory, fake_slack: FakeSlack) -> None:
    fake_slack.add_user(REP, "Rita Rep", locale="es-LA")
    harness = await stockbot(**slack_overrides(fake_slack))
    await harness.send(event(SKU, 0))
    view = await open_home(harness, fake_slack, REP)
    assert view["blocks"][0]["text"]["text"] == "Sus alertas de existencias"
    assert "0 en existencia / mínimo 1 · Abierta" in json.dumps(view["blocks"], ensure_ascii=False)

    acked = await click_home(harness, fake_slack, element(view, ACK_ACTION_ID), REP)
    shown = json.dumps(acked["blocks"], ensure_ascii=False)
    assert "Ha confirmado la alerta n.º 1" in shown and "Confirmada por Rita Rep" in shown
    assert "Acknowledged" not in shown and "Snooze" not in shown
    # The language comes with the name from one users.info call, cached: no call per publish.
    assert [c.query.get("include_locale") for c in fake_slack.calls("users.info")] == ["1"]
    assert fake_slack.errors == []


async def test_the_location_menu_filters_and_is_kept(stockbot: HarnessFactory, fake_slack: FakeSlack) -> None:
    harness = await stockbot(**slack_overrides(fake_slack))
    await harness.send(event(SKU, 0), event("CAB-DK-JR", 0, location=LAS_VEGAS, event_id="vegas-1"))
    view = await open_home(harness, fake_slack, REP)
    assert len(alert_sections(view)) == 2

    vegas = await click_home(harness, fake_slack, location_choice(view, LAS_VEGAS), REP)
    (only,) = alert_sections(vegas)
    assert "CAB-DK-JR" in only and LAS_VEGAS in only
    assert f"at {LAS_VEGAS}" in text_of(vegas)

    again = await open_home(harness, fake_slack, REP)  # the filter is the person's until they change it
    assert len(alert_sections(again)) == 1

    everywhere = await click_home(harness, fake_slack, location_choice(again, "All locations"), REP)
    assert len(alert_sections(everywhere)) == 2
    assert fake_slack.errors == []


async def test_home_follows_alert_changes_coalesced_and_at_most_once_per_interval(
    stockbot: HarnessFactory, fake_slack: FakeSlack
) -> None:
    harness = await stockbot(**slack_overrides(fake_slack, home_refresh_seconds=2))
    await open_home(harness, fake_slack, REP)
    await open_home(harness, fake_slack, STRANGER)
    published = len(fake_slack.calls("views.publish"))
    await asyncio.sleep(2.1)  # the Homes were just published: the next may go out two seconds later

    await harness.send(event(SKU, 0))  # an alert opens: the rep's Home changes, the stranger's does not
    await home(harness).settle(5)
    assert len(fake_slack.calls("views.publish")) == published + 1
    (section,) = alert_sections(fake_slack.home(REP))
    assert "0 on hand" in section

    # Two more changes straight away: within the interval, so they wait for the rep's next slot and go out
    # as one publish showing the newest state.
    await harness.send(event(SKU, 1, at=T0 + timedelta(minutes=1), event_id="later-1"))
    await harness.send(event("CAB-DK-JR", 0, event_id="dk-0"))
    await home(harness).settle(5)
    assert len(fake_slack.calls("views.publish")) == published + 1
    await asyncio.sleep(2.1)
    await home(harness).settle(5)
    assert len(fake_slack.calls("views.publish")) == published + 2
    sections = alert_sections(fake_slack.home(REP))
    assert len(sections) == 2 and any("1 on hand" in s for s in sections)
    assert fake_slack.errors == []


async def test_a_rate_limited_publish_waits_for_retry_after_then_goes_out(
    stockbot: HarnessFactory, fake_slack: FakeSlack
) -> None:
    harness = await stockbot(**slack_overrides(fake_slack))
    await harness.send(event(SKU, 0))
    fake_slack.fail_next("views.publish", retry_after=0.3)  # Slack: 429 ratelimited, Retry-After
    raw = home_opened(REP)
    status, _, _ = await post(harness, raw, json_signed(harness, raw))
    assert status == 200
    await front(harness).settle(5)
    assert len(fake_slack.calls("views.publish")) == 1 and (TEAM_ID, REP) not in fake_slack.homes
    await asyncio.sleep(0.35)
    await home(harness).settle(5)
    assert len(fake_slack.calls("views.publish")) == 2
    (section,) = alert_sections(fake_slack.home(REP))
    assert "0 on hand" in section


async def test_the_events_request_url_answers_slacks_challenge(
    stockbot: HarnessFactory, fake_slack: FakeSlack
) -> None:
    """Slack checks the Events API request URL (the manifest subscribes to events) with a signed challenge."""
    harness = await stockbot(**slack_overrides(fake_slack))
    raw = json.dumps(
        {
            "token": "unused",
            "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P",
            "type": "url_verification",
        }
    ).encode()
    status, body, _ = await post(harness, raw, json_signed(harness, raw))
    assert status == 200 and "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P" in body
    assert fake_slack.requests == []
