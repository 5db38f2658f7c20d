"""Publishes each alert event to an Amazon SNS topic, or as an SMS to a phone number, through SNS Publish.

API: https://docs.aws.amazon.com/sns/latest/api/API_Publish.html (AWS Query protocol: a form body
``Action=Publish&…`` signed with SigV4, XML answer ``PublishResponse/PublishResult/MessageId``).

Address: a topic ARN (``arn:aws:sns:us-east-1:123456789012:stock-alerts``; FIFO topics end in ``.fifo``)
or an E.164 phone number (``+15551234567``; spaces, dashes, dots and brackets are ignored) for a direct
SMS. SNS is one-way: opened, escalated, resolved, reopened and test events each publish a new message.
To a topic: the e-mail subject and the plain-text rendering, with the alert id, SKU, severity and event
as message attributes (for subscription filter policies); a FIFO topic also gets ``MessageGroupId``
``alert-<id>`` and the idempotency key as ``MessageDeduplicationId``. To a phone: the short SMS text,
marked Transactional. The receipt carries the MessageId.

Why boto3 and not a hand-made request: it is AWS's maintained SDK (the optional ``sns`` extra), does
SigV4 signing and the credential chain for us, and moto emulates it for tests. boto3 is synchronous, so
the one call runs in a worker thread via :meth:`SnsAdapter._publish_in_thread`; botocore's own retries are
off (``total_max_attempts=1``) so each send is exactly one attempt and the dispatcher owns retrying.
Leave ``access_key_id``/``secret_access_key`` unset to use the default AWS credential chain (instance or
task role, environment, profile).
"""

from __future__ import annotations

import asyncio
import re
import threading
import unicodedata
from typing import Any, ClassVar

import aiohttp
import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    HTTPClientError,
    NoCredentialsError,
)
from botocore.exceptions import (
    ConnectionError as BotoConnectionError,
)
from botocore.parsers import ResponseParserError
from pydantic import SecretStr, model_validator

from stockbot.adapters.base import (
    INTERRUPT_EVENTS,
    AdapterSettings,
    AlertMessage,
    PermanentError,
    Receipt,
    RetryableError,
    Target,
    classify_status,
    parse_retry_after,
)
from stockbot.adapters.render.text import email_subject, plain_text, sms

TOPIC_ARN = re.compile(r"^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}(\.fifo)?$")
E164 = re.compile(r"^\+[1-9]\d{6,14}$")
_PHONE_PUNCTUATION = re.compile(r"[\s().-]")
# Error codes worth another attempt; every other ClientError code is permanent (bad ARN, no permission…).
# SNS's own: Throttled (429), KMSThrottling (400!), InternalError (500); the rest are AWS-wide codes.
RETRYABLE_CODES = frozenset(
    {
        "Throttled",
        "KMSThrottling",
        "InternalError",
        "Throttling",
        "ThrottlingException",
        "ServiceUnavailable",
        "RequestTimeout",
    }
)


class SnsSettings(AdapterSettings):
    base_url: str | None = None  # None: the regional AWS endpoint https://sns.{region}.amazonaws.com
    region: str
    access_key_id: str | None = None
    secret_access_key: SecretStr | None = None
    session_token: SecretStr | None = None

    @model_validator(mode="after")
    def _keys_in_pairs(self) -> SnsSettings:
        if (self.access_key_id is None) != (self.secret_access_key is None):
            raise ValueError("set both access_key_id and secret_access_key, or neither (default AWS chain)")
        return self


def publish_params(message: AlertMessage, target: Target) -> dict[str, Any]:
    """The boto3 ``publish`` arguments for a topic ARN or a phone number."""
    address = target.address.strip()
    phone = _PHONE_PUNCTUATION.sub("", address)
    if E164.match(phone):
        return {
            "PhoneNumber": phone,
            "Message": sms(message),
            "MessageAttributes": {"AWS.SNS.SMS.SMSType": _string("Transactional")},
        }
    if not TOPIC_ARN.match(address):
        raise PermanentError(
            "sns address must be a topic ARN (arn:aws:sns:REGION:ACCOUNT:NAME) or an E.164 phone number, "
            f"got {address[:80]!r}"
        )
    params: dict[str, Any] = {
        "TopicArn": address,
        "Subject": sns_subject(message),
        "Message": plain_text(message),
        "MessageAttributes": {
            "alert_id": {"DataType": "Number", "StringValue": str(message.alert_id)},
            "sku": _string(message.sku),
            "severity": _string(message.severity),
            "event": _string(message.event),
        },
    }
    if address.endswith(".fifo"):
        # FIFO topics need a group; the idempotency key makes SNS drop a retried duplicate.
        params["MessageGroupId"] = f"alert-{message.alert_id}"
        params["MessageDeduplicationId"] = target.idempotency_key[:128]
    return params


def sns_subject(message: AlertMessage) -> str:
    """SNS rejects a Subject that is not ASCII or is 100 characters or more: fold accents, cut."""
    folded = unicodedata.normalize("NFKD", email_subject(message)).encode("ascii", "ignore").decode()
    return " ".join(folded.split())[:99]


def _string(value: str) -> dict[str, str]:
    return {"DataType": "String", "StringValue": value}


def raise_for_non_xml_error(response_dict: dict[str, Any], **_: Any) -> None:
    """botocore ``before-parse`` hook: classify an error answer that is not SNS's XML by its HTTP status.

    A proxy or load balancer may answer 429/503 with text or JSON; botocore cannot parse that and raises
    an error without the status or ``Retry-After``. SNS's own XML errors go on to :func:`_classify`.
    """
    status, body = response_dict["status_code"], response_dict.get("body") or b""
    if status >= 300 and not body.lstrip().startswith(b"<"):
        classify_status("sns", status, response_dict["headers"], body.decode("utf-8", "replace"))


def _classify(exc: ClientError) -> RetryableError | PermanentError:
    error = exc.response.get("Error", {})
    meta = exc.response.get("ResponseMetadata", {})
    code, status = str(error.get("Code", "")), int(meta.get("HTTPStatusCode") or 0)
    text = f"sns {code or 'error'} (HTTP {status}): {error.get('Message', '')}".rstrip(": ")
    if code in RETRYABLE_CODES or status in (408, 429) or status >= 500:
        retry_after = parse_retry_after(meta.get("HTTPHeaders", {}).get("retry-after"))
        return RetryableError(text, retry_after)
    return PermanentError(text)


class SnsAdapter:
    name: ClassVar[str] = "sns"
    events: ClassVar[frozenset[str]] = INTERRUPT_EVENTS
    Settings: ClassVar[type[AdapterSettings]] = SnsSettings

    def __init__(self, settings: SnsSettings, http: aiohttp.ClientSession | None = None) -> None:
        # ``http`` is unused: botocore signs and sends on its own urllib3 pool.
        self.settings = settings
        self._client: Any = None  # built on first use, in the worker thread (see _publish_blocking)
        self._client_lock = threading.Lock()

    def _make_client(self) -> Any:
        settings = self.settings
        secret = settings.secret_access_key.get_secret_value() if settings.secret_access_key else None
        token = settings.session_token.get_secret_value() if settings.session_token else None
        session = boto3.session.Session(
            aws_access_key_id=settings.access_key_id,
            aws_secret_access_key=secret,
            aws_session_token=token,
            region_name=settings.region,
        )
        config = Config(
            connect_timeout=settings.timeout_seconds,
            read_timeout=settings.timeout_seconds,
            retries={"total_max_attempts": 1, "mode": "standard"},  # one attempt: the dispatcher retries
        )
        client = session.client("sns", endpoint_url=settings.base_url, config=config)
        client.meta.events.register("before-parse.sns.Publish", raise_for_non_xml_error)
        return client

    def _publish_blocking(self, params: dict[str, Any]) -> dict[str, Any]:
        # Building a client takes ~0.1 s of CPU, so it happens here, off the event loop, once; a built
        # client is thread-safe.
        with self._client_lock:
            if self._client is None:
                self._client = self._make_client()
        return self._client.publish(**params)

    async def _publish_in_thread(self, params: dict[str, Any]) -> dict[str, Any]:
        """The only place boto3 runs: client creation and the blocking call go to a worker thread."""
        return await asyncio.to_thread(self._publish_blocking, params)

    async def send(self, message: AlertMessage, target: Target) -> Receipt:
        params = publish_params(message, target)
        try:
            answer = await self._publish_in_thread(params)
        except ClientError as exc:
            raise _classify(exc) from exc
        except (BotoConnectionError, HTTPClientError) as exc:  # refused, DNS, TLS, connect/read timeouts
            raise RetryableError(f"sns: connection failed ({type(exc).__name__})") from exc
        except ResponseParserError as exc:  # a garbled answer, e.g. from a proxy: worth another go
            raise RetryableError("sns: could not parse the answer") from exc
        except NoCredentialsError as exc:
            raise PermanentError("sns: no AWS credentials configured or found in the default chain") from exc
        except BotoCoreError as exc:  # bad parameters, no region…: configuration, not luck
            raise PermanentError(f"sns: {type(exc).__name__}: {exc}") from exc
        return Receipt(
            external_id=answer["MessageId"], detail=f"request {answer['ResponseMetadata'].get('RequestId')}"
        )
