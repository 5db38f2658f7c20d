"""Amazon SNS Publish over the AWS Query protocol, checked against amazon_sns.json.

The vendor file's schema is the *logical* Publish input (what boto3 takes); on the wire the Query protocol
sends ``Action``/``Version`` and flattens the attribute map to ``MessageAttributes.entry.N.*``. The fake
folds the form back into the logical shape before validating it, and answers the documented XML.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any
from xml.sax.saxutils import escape

from aiohttp import web

from tests.adapters.cases import AdapterCase
from tests.fakes.shared import vendor_spec
from tests.fakes.vendor import FakeVendor, Recorded, operation_schema, schema_errors

ACCESS_KEY_ID = "AKIAIOSFODNN7EXAMPLE"
SECRET_ACCESS_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYsnsEXAMPLE"
TOPIC_ARN = "arn:aws:sns:us-east-1:123456789012:stock-alerts"
MESSAGE_ID = "95df01b4-ee98-5cb9-9903-4c221d41eb5e"
XMLNS = "http://sns.amazonaws.com/doc/2010-03-31/"
_ENTRY = re.compile(r"^MessageAttributes\.entry\.(\d+)\.(Name|Value\.(\w+))$")


def logical_input(form: dict[str, str]) -> dict[str, Any]:
    """The Query-protocol form folded back into Publish's input shape."""
    params: dict[str, Any] = {}
    entries: dict[str, dict[str, Any]] = {}
    for key, value in form.items():
        match = _ENTRY.match(key)
        if key in ("Action", "Version"):
            continue
        if not match:
            params[key] = value
            continue
        entry = entries.setdefault(match.group(1), {"value": {}})
        if match.group(2) == "Name":
            entry["name"] = value
        else:
            entry["value"][match.group(3)] = value
    if entries:
        params["MessageAttributes"] = {e.get("name", "?"): e["value"] for e in entries.values()}
    return params


def _xml(body: str, status: int = 200) -> web.Response:
    return web.Response(status=status, text=body, content_type="text/xml")


def make_publish(fake: FakeVendor) -> Callable[[Recorded], web.Response]:
    schema = operation_schema(vendor_spec("amazon_sns"))

    def publish(recorded: Recorded) -> web.Response:
        form = recorded.body if isinstance(recorded.body, dict) else {}
        problems = schema_errors(schema, logical_input(form))
        if form.get("Action") != "Publish" or form.get("Version") != "2010-03-31":
            problems.append("Action=Publish&Version=2010-03-31 expected")
        if problems:
            fake.errors.extend(f"publish: {p}" for p in problems)
            return _xml(
                f'<ErrorResponse xmlns="{XMLNS}"><Error><Type>Sender</Type><Code>InvalidParameter</Code>'
                f"<Message>{escape('; '.join(problems))}</Message></Error>"
                "<RequestId>b7f8e1a0-0000-0000-0000-000000000001</RequestId></ErrorResponse>",
                400,
            )
        return _xml(
            f'<PublishResponse xmlns="{XMLNS}"><PublishResult><MessageId>{MESSAGE_ID}</MessageId>'
            "</PublishResult><ResponseMetadata><RequestId>f187a3c1-0000-0000-0000-000000000002</RequestId>"
            "</ResponseMetadata></PublishResponse>"
        )

    return publish


def configure(fake: FakeVendor) -> None:
    # schema=None: validation happens in the responder, after folding the Query form.
    fake.expect("POST", "/", respond=make_publish(fake), name="publish")


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
    params = logical_input(call.body)
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
