"""Teams Workflows / incoming webhook: one-way cards, the legacy connector's 200-with-error answers."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

from stockbot.adapters.base import PermanentError, RetryableError, Target
from stockbot.adapters.teams_webhook import TeamsWebhookAdapter, TeamsWebhookSettings
from tests.adapters.cases.teams_webhook import CASE, SIGNATURE, address_for
from tests.fakes.bot_connector import card_errors
from tests.fakes.messages import resolved_message, sample_message
from tests.fakes.vendor import FakeVendor


@pytest.fixture
async def fake() -> AsyncIterator[FakeVendor]:
    vendor = FakeVendor("teams_webhook")
    CASE.configure(vendor)
    vendor.describe_path("POST", "/webhookb2/{path:.*}", "microsoft_teams")  # a legacy connector URL
    vendor.expect(
        "POST", "/webhookb2/{path:.*}", respond=lambda r: web.Response(text=LEGACY[0]), name="legacy"
    )
    await vendor.start()
    yield vendor
    await vendor.close()


LEGACY = ["1"]


@pytest.fixture
async def adapter() -> AsyncIterator[TeamsWebhookAdapter]:
    async with aiohttp.ClientSession() as session:
        yield TeamsWebhookAdapter(TeamsWebhookSettings(timeout_seconds=5), session)


def _target(address: str) -> Target:
    return Target(channel="teams-hook", address=address, idempotency_key="alert-42-1")


async def test_resolved_card_has_no_buttons_and_is_a_new_post(
    fake: FakeVendor, adapter: TeamsWebhookAdapter
) -> None:
    first = await adapter.send(sample_message(), _target(address_for(fake.url)))
    second = await adapter.send(resolved_message(link=None), _target(address_for(fake.url)))
    assert fake.errors == []
    assert first.external_id is None and second.external_id is None
    posts = fake.calls("post")
    assert len(posts) == 2
    card = posts[1].body["attachments"][0]["content"]
    assert card_errors(card) == []
    assert "actions" not in card
    assert card["body"][0]["items"][0]["text"].startswith("Back in stock")


async def test_only_interrupting_events_are_delivered() -> None:
    assert "acknowledged" not in TeamsWebhookAdapter.events
    assert {"opened", "escalated", "resolved"} <= TeamsWebhookAdapter.events


@pytest.mark.parametrize("address", ["", "teams-channel", "ftp://example.com/hook"])
async def test_an_address_that_is_not_a_url_is_permanent(adapter: TeamsWebhookAdapter, address: str) -> None:
    with pytest.raises(PermanentError, match="https URL"):
        await adapter.send(sample_message(), _target(address))


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        ("1", None),
        (
            "Webhook message delivery failed with error: Microsoft Teams endpoint returned HTTP error 429",
            RetryableError,
        ),
        (
            "Webhook message delivery failed with error: Bad payload received by generic incoming webhook.",
            PermanentError,
        ),
    ],
)
async def test_legacy_connector_errors_inside_a_200(
    adapter: TeamsWebhookAdapter, answer: str, error: type[Exception] | None
) -> None:
    # The retiring O365 connector (https://<tenant>.webhook.office.com/webhookb2/…) answered 200 and put
    # delivery failures in the text body.
    legacy = FakeVendor("o365_connector")
    legacy.describe_path("POST", "/webhookb2/{path:.*}", "microsoft_teams")  # the URL as issued
    legacy.expect("POST", "/webhookb2/{path:.*}", respond=lambda _: web.Response(text=answer), name="post")
    await legacy.start()
    address = f"{legacy.url}/webhookb2/1a2b@3c4d/IncomingWebhook/{SIGNATURE}/5e6f"
    try:
        if error is None:
            assert (await adapter.send(sample_message(), _target(address))).detail == "HTTP 200"
            return
        with pytest.raises(error) as raised:
            await adapter.send(sample_message(), _target(address))
        assert SIGNATURE not in str(raised.value)
    finally:
        await legacy.close()
