"""Jira closes the loop: later events comment on the issue; resolve runs the configured transition first."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from pydantic import ValidationError

from stockbot.adapters.base import PermanentError, Target
from stockbot.adapters.jira import JiraAdapter, JiraSettings, find_transition
from tests.adapters.cases import jira as case
from tests.fakes.messages import resolved_message, sample_message
from tests.fakes.vendor import FakeVendor


@pytest.fixture
async def fake() -> AsyncIterator[FakeVendor]:
    vendor = FakeVendor("jira")
    case.configure(vendor)
    await vendor.start()
    yield vendor
    await vendor.close()


def _adapter(fake: FakeVendor, http: aiohttp.ClientSession, **overrides: object) -> JiraAdapter:
    raw = {**case.settings(fake.url), **overrides}
    return JiraAdapter(JiraSettings.model_validate(raw), http)


def _target(external_id: str | None = case.ISSUE_KEY, address: str = "OPS") -> Target:
    return Target(channel="ops", address=address, idempotency_key="k", external_id=external_id)


async def test_resolve_transitions_then_comments(fake: FakeVendor, http: aiohttp.ClientSession) -> None:
    receipt = await _adapter(fake, http).send(resolved_message(), _target())
    assert fake.errors == []
    assert [r.operation for r in fake.requests] == ["transitions", "transition", "comment"]
    (transition,) = fake.calls("transition")
    assert transition.path == f"/rest/api/2/issue/{case.ISSUE_KEY}/transitions"
    assert transition.body == {"transition": {"id": "31"}}  # "Close issue", which leads to Done
    (comment,) = fake.calls("comment")
    assert comment.body["body"].startswith("Back in stock after 3 h 35 min (erp).")
    assert receipt.external_id == case.ISSUE_KEY
    assert "transitioned" in receipt.detail


async def test_resolve_only_comments_when_the_transition_is_gone(
    fake: FakeVendor, http: aiohttp.ClientSession
) -> None:
    receipt = await _adapter(fake, http, resolve_transition="Reopen").send(resolved_message(), _target())
    assert fake.calls("transition") == []
    assert len(fake.calls("comment")) == 1
    assert "not available" in receipt.detail


async def test_resolve_without_a_configured_transition_only_comments(
    fake: FakeVendor, http: aiohttp.ClientSession
) -> None:
    await _adapter(fake, http, resolve_transition=None).send(resolved_message(), _target())
    assert [r.operation for r in fake.requests] == ["comment"]


async def test_acknowledge_and_escalate_comment(fake: FakeVendor, http: aiohttp.ClientSession) -> None:
    adapter = _adapter(fake, http)
    await adapter.send(
        sample_message(event="acknowledged", acknowledged_by="dana", state="acknowledged"), _target()
    )
    message = sample_message(event="escalated", state="escalated", escalated_by="lee", escalation_level=2)
    await adapter.send(message, _target())
    ack, escalate = fake.calls("comment")
    assert ack.body["body"].startswith("Acknowledged by dana.")
    assert escalate.body["body"].startswith("Escalated to level 2 by lee.")
    assert fake.calls("transitions") == []


def test_transition_matches_id_name_or_target_status() -> None:
    assert find_transition(case.TRANSITIONS, "31") == "31"
    assert find_transition(case.TRANSITIONS, "close ISSUE") == "31"
    assert find_transition(case.TRANSITIONS, "done") == "31"
    assert find_transition(case.TRANSITIONS, "Reopen") is None


async def test_personal_access_token_and_no_priority(fake: FakeVendor, http: aiohttp.ClientSession) -> None:
    adapter = _adapter(fake, http, email=None, api_token=None, personal_access_token=case.PAT, priorities={})
    await adapter.send(sample_message(), _target(None))
    (call,) = fake.calls("create")
    assert call.headers["Authorization"] == f"Bearer {case.PAT}"
    assert "priority" not in call.body["fields"]


async def test_bad_project_key_is_permanent(fake: FakeVendor, http: aiohttp.ClientSession) -> None:
    with pytest.raises(PermanentError, match="project key"):
        await _adapter(fake, http).send(sample_message(), _target(None, address="ops"))
    assert fake.requests == []


def test_settings_need_one_kind_of_credentials_and_known_priorities() -> None:
    with pytest.raises(ValidationError, match="personal_access_token"):
        JiraSettings.model_validate({"base_url": "https://x.atlassian.net", "email": "a@b.c"})
    with pytest.raises(ValidationError, match="unknown"):
        JiraSettings.model_validate(
            {
                "base_url": "https://x.atlassian.net",
                "personal_access_token": "pat0",
                "priorities": {"low": "Low"},
            }
        )
