"""Slack: chat.postMessage through slack_sdk, checked by FakeSlack against slack.json (JSON bodies brought to
the form shape the spec describes, plus the Bearer token and Block Kit limits)."""

from __future__ import annotations

import json

from tests.adapters.cases import AdapterCase
from tests.fakes.slack_api import FakeSlack
from tests.fakes.vendor import FakeVendor

BOT_TOKEN = "xoxb-test-1234567890-abcdefABCDEF"
SIGNING_SECRET = "slack-signing-secret-3c9e1f77"
CHANNEL = "C0STOCK42"


def _configure(fake: FakeVendor) -> None:
    FakeSlack(fake)  # installs the Slack Web API methods into the contract test's FakeVendor


def _check(fake: FakeVendor) -> None:
    (call,) = fake.calls("chat.postMessage")
    assert call.headers["Authorization"] == f"Bearer {BOT_TOKEN}"
    assert call.body["channel"] == CHANNEL
    assert "PIN-GODZ-PRO" in call.body["text"]
    assert "PIN-GODZ-PRO" in json.dumps(call.body["blocks"])


CASE = AdapterCase(
    name="slack",
    configure=_configure,
    settings=lambda base_url: {
        "bot_token": BOT_TOKEN,
        "signing_secret": SIGNING_SECRET,
        "api_url": base_url + "/api/",
        "min_seconds_between_posts": 0,
    },
    address=CHANNEL,
    main_operation="chat.postMessage",
    secrets=[BOT_TOKEN, SIGNING_SECRET],
    check_sent=_check,
)
