"""The SNS adapter against moto's SNS emulator (a real Query-protocol server) and against the FakeVendor for
what moto cannot show: one attempt only, throttling in XML, FIFO and SMS request fields."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer
from moto.sns.models import sns_backends

from stockbot.adapters.base import PermanentError, RetryableError, Target
from stockbot.adapters.render.text import sms
from stockbot.adapters.sns import SnsAdapter, SnsSettings
from tests.adapters.cases.sns import TOPIC_ARN, configure
from tests.fakes.described import aws_query_input
from tests.fakes.messages import resolved_message, sample_message
from tests.fakes.vendor import FakeVendor

ACCOUNT = "123456789012"  # moto's default account
CREDENTIALS = {"region": "us-east-1", "access_key_id": "testing", "secret_access_key": "testing"}


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def _aws(service: str, url: str) -> Any:
    return boto3.client(
        service,
        region_name="us-east-1",
        endpoint_url=url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def _adapter(base_url: str, timeout: float = 5.0) -> SnsAdapter:
    return SnsAdapter(SnsSettings(base_url=base_url, timeout_seconds=timeout, **CREDENTIALS))


def _target(address: str) -> Target:
    return Target(channel="ops-sns", address=address, idempotency_key="alert-42-opened-1")


@pytest.fixture
async def fake() -> AsyncIterator[FakeVendor]:
    vendor = FakeVendor("sns")
    configure(vendor)
    await vendor.start()
    yield vendor
    await vendor.close()


async def test_topic_message_reaches_a_subscribed_queue_in_moto(moto_url: str) -> None:
    sns, sqs = _aws("sns", moto_url), _aws("sqs", moto_url)
    topic = sns.create_topic(Name="stock-alerts")["TopicArn"]
    queue_url = sqs.create_queue(QueueName="stock-alerts-inbox")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn["QueueArn"])

    receipt = await _adapter(moto_url).send(resolved_message(), _target(topic))

    (delivered,) = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)["Messages"]
    notification = json.loads(delivered["Body"])
    assert notification["MessageId"] == receipt.external_id
    assert notification["Subject"].startswith("[stockbot] Back in stock: Godzilla Pro pinball table")
    assert "PIN-GODZ-PRO" in notification["Message"]
    assert notification["MessageAttributes"]["event"] == {"Type": "String", "Value": "resolved"}


async def test_sms_to_a_phone_number_in_moto(moto_url: str) -> None:
    message = sample_message()
    receipt = await _adapter(moto_url).send(message, _target("+15551234567"))
    assert sns_backends[ACCOUNT]["us-east-1"].sms_messages[receipt.external_id] == (
        "+15551234567",
        sms(message),
    )


async def test_unknown_topic_is_permanent_in_moto(moto_url: str) -> None:
    missing = f"arn:aws:sns:us-east-1:{ACCOUNT}:no-such-topic"
    with pytest.raises(PermanentError, match="NotFound"):
        await _adapter(moto_url).send(sample_message(), _target(missing))


async def test_exactly_one_attempt_on_a_server_error(fake: FakeVendor) -> None:
    fake.fail_next(500, "", operation="publish")
    with pytest.raises(RetryableError):
        await _adapter(fake.url).send(sample_message(), _target(TOPIC_ARN))
    assert len(fake.calls("publish")) == 1  # botocore made no retry of its own


async def test_throttling_in_xml_is_retryable(fake: FakeVendor) -> None:
    throttled = (
        '<ErrorResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><Error><Type>Sender</Type>'
        "<Code>Throttling</Code><Message>Rate exceeded</Message></Error><RequestId>r-1</RequestId>"
        "</ErrorResponse>"
    )
    fake.fail_next(400, throttled, {"Content-Type": "text/xml", "Retry-After": "3"}, operation="publish")
    with pytest.raises(RetryableError, match="Throttling") as raised:
        await _adapter(fake.url).send(sample_message(), _target(TOPIC_ARN))
    assert raised.value.retry_after == pytest.approx(3, abs=1)


async def test_sms_request_fields(fake: FakeVendor) -> None:
    await _adapter(fake.url).send(sample_message(), _target("+1 555-123-4567"))
    assert fake.errors == []
    params = aws_query_input(fake.calls("publish")[0].body)
    assert params["PhoneNumber"] == "+15551234567" and "Subject" not in params
    assert params["MessageAttributes"]["AWS.SNS.SMS.SMSType"]["StringValue"] == "Transactional"


async def test_fifo_topic_gets_group_and_deduplication_id(fake: FakeVendor) -> None:
    await _adapter(fake.url).send(sample_message(), _target(TOPIC_ARN + ".fifo"))
    assert fake.errors == []
    params = aws_query_input(fake.calls("publish")[0].body)
    assert params["MessageGroupId"] == "alert-42"
    assert params["MessageDeduplicationId"] == "alert-42-opened-1"


async def test_subject_is_ascii_and_short(fake: FakeVendor) -> None:
    message = sample_message(product_name="Crème brûlée torch — professional edition " * 3)
    await _adapter(fake.url).send(message, _target(TOPIC_ARN))
    subject = aws_query_input(fake.calls("publish")[0].body)["Subject"]
    assert subject.isascii() and len(subject) < 100
    assert subject.startswith("[stockbot] CRITICAL shortage: Creme brulee torch")


@pytest.mark.parametrize("address", ["stock-alerts", "arn:aws:sqs:us-east-1:123456789012:q", "5551234567"])
async def test_bad_address_is_permanent_and_sends_nothing(fake: FakeVendor, address: str) -> None:
    with pytest.raises(PermanentError, match="topic ARN"):
        await _adapter(fake.url).send(sample_message(), _target(address))
    assert fake.requests == []


def test_access_keys_come_in_pairs() -> None:
    with pytest.raises(ValueError, match="secret_access_key"):
        SnsSettings(region="us-east-1", access_key_id="AKIDEXAMPLE")
