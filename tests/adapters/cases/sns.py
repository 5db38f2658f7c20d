"""Amazon SNS Publish over the AWS Query protocol, checked against amazon_sns.json.

The vendor file's schema is the *logical* Publish input (what boto3 takes); on the wire the Query protocol
sends ``Action``/``Version`` and flattens the attribute map to ``MessageAttributes.entry.N.*``. The fake
folds the form back into the logical shape before validating it (the file names the protocol), and answers
refusals with the documented XML error.
"""

from __future__ import annotations

from xml.sax.saxutils import escape

from aiohttp import web

from tests.adapters.cases import AdapterCase
from tests.fakes.described import aws_query_input
from tests.fakes.vendor import FakeVendor, Recorded

ACCESS_KEY_ID = "AKIAIOSFODNN7EXAMPLE"
SECRET_ACCESS_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYsnsEXAMPLE"
TOPIC_ARN = "arn:aws:sns:us-east-1:123456789012:stock-alerts"
MESSAGE_ID = "95df01b4-ee98-5cb9-9903-4c221d41eb5e"
XMLNS = "http://sns.amazonaws.com/doc/2010-03-31/"


def _xml(body: str, status: int = 200) -> web.Response:
    return web.Response(status=status, text=body, content_type="text/xml")


def invalid_parameter(problems: list[str]) -> web.Response:
    return _xml(
        f'<ErrorResponse xmlns="{XMLNS}"><Error><Type>Sender</Type><Code>InvalidParameter</Code>'
        f"<Message>{escape('; '.join(problems))}</Message></Error>"
        "<RequestId>b7f8e1a0-0000-0000-0000-000000000001</RequestId></ErrorResponse>",
        400,
    )


def publish(recorded: Recorded) -> web.Response:
    if recorded.body.get("Version") != "2010-03-31":
        return invalid_parameter(["Version=2010-03-31 expected"])
    return _xml(
        f'<PublishResponse xmlns="{XMLNS}"><PublishResult><MessageId>{MESSAGE_ID}</MessageId>'
        "</PublishResult><ResponseMetadata><RequestId>f187a3c1-0000-0000-0000-000000000002</RequestId>"
        "</ResponseMetadata></PublishResponse>"
    )


def configure(fake: FakeVendor) -> None:
    fake.describe_by("amazon_sns", refuse=invalid_parameter)
    fake.expect("POST", "/", respond=publish, name="publish")


def settings(base_url: str) -> dict[str, object]:
    return {
        "base_url": base_url,
        "region": "us-east-1",
        "access_key_id": ACCESS_KEY_ID,
        "secret_access_key": SECRET_ACCESS_KEY,
    }


def _check(fake: FakeVendor) -> None:
    (call,) = fake.calls("publish")
    assert (
        call.headers["Authorization"].startswith(f"AWS4-HMAC-SHA256 Credential={ACCESS_KEY_ID}/")
        and "/us-east-1/sns/aws4_request" in call.headers["Authorization"]
    )
    params = aws_query_input(call.body)
    assert params["TopicArn"] == TOPIC_ARN
    assert "PIN-GODZ-PRO" in params["Subject"] and "Chicago DC" in params["Message"]
    assert params["MessageAttributes"]["sku"] == {"DataType": "String", "StringValue": "PIN-GODZ-PRO"}


CASE = AdapterCase(
    name="sns",
    configure=configure,
    settings=settings,
    address=TOPIC_ARN,
    main_operation="publish",
    secrets=[SECRET_ACCESS_KEY],
    check_sent=_check,
    external_id=MESSAGE_ID,
)
