"""The adapter contract, run over every adapter in the registry against a local fake of its vendor.

Success; 429 with Retry-After; 500; 400; timeout; connection refused; and no configured secret in any raised
error or log line.
"""

from __future__ import annotations

import logging
import socket

import aiohttp
import pytest

from stockbot.adapters import ADAPTERS, adapter_settings, build_adapter
from stockbot.adapters.base import PermanentError, Receipt, RetryableError, Target, register_secret
from tests.adapters.cases import AdapterCase, load_case
from tests.fakes.messages import sample_message
from tests.fakes.vendor import FakeVendor

NAMES = sorted(ADAPTERS)


async def _send(
    case: AdapterCase, base_url: str, http: aiohttp.ClientSession, timeout: float = 5.0
) -> Receipt:
    raw = dict(case.settings(base_url))
    raw.setdefault("timeout_seconds", timeout)
    settings = adapter_settings(case.name, raw)
    for value in case.secrets:
        register_secret(value)
    services = case.adapter_kwargs(base_url) if case.adapter_kwargs else {}
    adapter = build_adapter(case.name, settings, http, **services)
    address = case.address_for(base_url) if case.address_for else case.address
    target = Target(
        channel="test",
        address=address,
        idempotency_key="alert-42-test-1",
        secret=case.channel_secret,
    )
    return await adapter.send(sample_message(), target)


async def _fake_for(case: AdapterCase) -> FakeVendor:
    fake = FakeVendor(case.name)
    case.configure(fake)
    await fake.start()
    return fake


def _assert_no_secret(case: AdapterCase, text: str) -> None:
    for secret in case.secrets:
        assert secret not in text, f"{case.name} leaked a configured secret"


@pytest.mark.parametrize("name", NAMES)
def test_every_registered_adapter_has_a_case(name: str) -> None:
    assert load_case(name).name == name


@pytest.mark.parametrize("name", NAMES)
async def test_success_sends_a_valid_request(name: str, http: aiohttp.ClientSession) -> None:
    case = load_case(name)
    fake = await _fake_for(case)
    try:
        receipt = await _send(case, fake.url, http)
    finally:
        await fake.close()
    assert fake.errors == []
    if case.http:
        assert fake.calls(case.main_operation), f"{name} never called {case.main_operation}"
    if case.check_sent:
        case.check_sent(fake)
    if case.external_id is not None:
        assert receipt.external_id == case.external_id


FAILURES = [
    pytest.param(429, {"Retry-After": "7"}, RetryableError, 7.0, id="429-retry-after"),
    pytest.param(500, {}, RetryableError, None, id="500"),
    pytest.param(503, {"Retry-After": "2"}, RetryableError, 2.0, id="503"),
    pytest.param(400, {}, PermanentError, None, id="400"),
]


@pytest.mark.parametrize(("status", "headers", "error", "retry_after"), FAILURES)
@pytest.mark.parametrize("name", NAMES)
async def test_status_codes_are_classified(
    name: str,
    status: int,
    headers: dict[str, str],
    error: type,
    retry_after: float | None,
    http: aiohttp.ClientSession,
    caplog: pytest.LogCaptureFixture,
) -> None:
    case = load_case(name)
    if not case.http:
        pytest.skip(f"{name} makes no HTTP request")
    fake = await _fake_for(case)
    body = '{"error": "simulated", "message": "simulated failure"}'
    fake.fail_next(status, body, headers, operation=case.main_operation)
    caplog.set_level(logging.DEBUG)
    try:
        with pytest.raises(error) as raised:
            await _send(case, fake.url, http)
    finally:
        await fake.close()
    if retry_after is not None and not case.retry_after_hidden:
        assert raised.value.retry_after == pytest.approx(retry_after, abs=1)
    _assert_no_secret(case, str(raised.value) + repr(raised.value.args) + caplog.text)


@pytest.mark.parametrize("name", NAMES)
async def test_timeout_is_retryable(name: str, http: aiohttp.ClientSession) -> None:
    case = load_case(name)
    if not case.http:
        pytest.skip(f"{name} makes no HTTP request")
    fake = await _fake_for(case)
    fake.fail_next(200, "{}", operation=case.main_operation, delay=3.0)
    try:
        with pytest.raises(RetryableError) as raised:
            await _send(case, fake.url, http, timeout=0.5)
    finally:
        await fake.close()
    _assert_no_secret(case, str(raised.value))


@pytest.mark.parametrize("name", NAMES)
async def test_connection_refused_is_retryable(name: str, http: aiohttp.ClientSession) -> None:
    case = load_case(name)
    if not case.http:
        pytest.skip(f"{name} makes no HTTP request")
    with socket.socket() as sock:  # a port that was free a moment ago: nothing listens there
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(RetryableError) as raised:
        await _send(case, f"http://127.0.0.1:{port}", http)
    _assert_no_secret(case, str(raised.value))
