"""The App Home view (adapters/render/slack_home.py): pure, held to Slack's limits for Home views."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta
from typing import Any

from stockbot.adapters.render.slack import (
    ACK_ACTION_ID,
    ESCALATE_ACTION_ID,
    RESOLVE_ACTION_ID,
    SNOOZE_ACTION_ID,
)
from stockbot.adapters.render.slack_home import MAX_HOME_ALERTS, home_view
from tests.fakes.messages import OPENED, sample_message
from tests.fakes.slack_api import view_problems

EVERYTHING = frozenset({"acknowledge", "snooze", "escalate", "resolve", "flag", "stock"})


def _actions(view: dict[str, Any]) -> list[list[str]]:
    return [[e["action_id"] for e in b["elements"]] for b in view["blocks"] if b["type"] == "actions"]


def test_a_full_home_stays_within_slack_limits() -> None:
    alerts = [replace(sample_message(), alert_id=i) for i in range(1, MAX_HOME_ALERTS + 1)]
    locations = [f"Store {i:03d}" for i in range(150)]  # more than a menu may hold
    view = home_view(alerts, may=EVERYTHING, locations=locations, more=True, notice="x" * 4000)
    assert view_problems(view) == []
    assert len(_actions(view)) == MAX_HOME_ALERTS
    assert "pick a location" in json.dumps(view)


def test_only_the_buttons_a_person_may_use() -> None:
    message = sample_message()
    rep = home_view([message], may=frozenset({"acknowledge", "snooze"}))
    assert _actions(rep) == [[ACK_ACTION_ID, SNOOZE_ACTION_ID]]
    manager = home_view([message], may=EVERYTHING)
    assert _actions(manager) == [[ACK_ACTION_ID, ESCALATE_ACTION_ID, SNOOZE_ACTION_ID, RESOLVE_ACTION_ID]]
    warehouse = home_view([message], may=frozenset({"flag", "clear", "stock"}))
    assert _actions(warehouse) == []  # they flag and clear; no card button is theirs
    nobody = home_view([], may=frozenset({"stock"}))
    assert "no stockbot role" in json.dumps(nobody)


def test_the_view_does_not_change_with_the_clock_only_with_the_alert() -> None:
    message = sample_message()
    first = home_view([message], may=EVERYTHING, timezone="America/Chicago")
    assert home_view([message], may=EVERYTHING, timezone="America/Chicago") == first
    assert f"<!date^{int(OPENED.timestamp())}^{{ago}}|2026-11-26" in json.dumps(first)
    later = replace(message, snoozed_until=OPENED + timedelta(hours=1))
    assert home_view([later], may=EVERYTHING, timezone="America/Chicago") != first


def test_the_chosen_location_is_shown_and_escaped() -> None:
    view = home_view([], may=EVERYTHING, locations=["A&B <Depot>"], location="A&B <Depot>")
    (menu,) = [b["accessory"] for b in view["blocks"] if "accessory" in b]
    assert menu["initial_option"]["value"] == "A&B <Depot>"
    assert "No open stock alerts at A&amp;B &lt;Depot&gt;" in json.dumps(view)
