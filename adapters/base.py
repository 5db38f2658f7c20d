"""The adapter contract: one neutral alert message in, one vendor request out, a receipt back.

An adapter makes exactly one attempt. Retries, backoff, timeouts, fan-out, idempotency and audit live once,
in the dispatcher (``bot/relay.py``). An adapter only classifies what happened:

    DeliveryError                  base class; never raised directly
     ├── RetryableError            429, 5xx, timeouts, refused connections; ``retry_after`` in seconds if the
     │                             vendor said (``Retry-After``), else None and the dispatcher backs off;
     │                             ``rate_limited`` when the vendor said "too fast" (429, Slack
     │                             ``ratelimited``): the dispatcher then pauses the whole destination
     └── PermanentError            other 4xx, a bad address, bad credentials: retrying cannot help

Error messages must never contain a secret: build them from the status code and the vendor's error text only,
and pass them through :func:`redact` when in doubt.

An adapter module holds one class with:
- ``name``: the registry key, also the ``[adapters.NAME]`` config section and ``[channels.X] adapter = NAME``;
- ``Settings``: a pydantic model of its ``[adapters.NAME]`` section (``base_url`` overrides the vendor's API
  root, ``token_url`` where it fetches OAuth tokens), validated at start-up;
- ``__init__(settings, http)``: ``http`` is the shared ``aiohttp.ClientSession`` (the test seam);
- ``async send(message, target) -> Receipt``.
"""

from __future__ import annotations

import asyncio
import email.utils
import functools
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar, Protocol

import aiohttp
from pydantic import BaseModel, ConfigDict

from stockbot.adapters.message import AlertMessage, BlockedOrder

__all__ = ["AlertMessage", "BlockedOrder"]  # the contract's vocabulary, defined in adapters/message.py


class DeliveryError(Exception):
    """A delivery attempt failed. Subclasses say whether another attempt could succeed."""

    def __init__(self, message: str) -> None:
        super().__init__(redact(message))


class RetryableError(DeliveryError):
    def __init__(self, message: str, retry_after: float | None = None, *, rate_limited: bool = False) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.rate_limited = rate_limited


class PermanentError(DeliveryError):
    pass


@dataclass(frozen=True)
class Target:
    """Where one delivery goes.

    ``external_id`` is the receipt's id of this channel's earlier message for the same alert (None for the
    first): adapters that can edit or close what they created use it to update in place.
    """

    channel: str
    address: str
    idempotency_key: str
    external_id: str | None = None
    secret: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Receipt:
    external_id: str | None
    detail: str = ""


class AdapterSettings(BaseModel):
    """Base of every ``[adapters.NAME]`` section: unknown keys are config errors."""

    model_config = ConfigDict(extra="forbid")

    base_url: str | None = None
    timeout_seconds: float = 10.0


ALL_EVENTS = frozenset(
    {
        "opened",
        "updated",
        "worsened",
        "acknowledged",
        "snoozed",
        "escalated",
        "resolved",
        "reopened",
        "test",
        "digest",
    }
    | {"report"}  # a scheduled report (bot/report_requests.py): no alert, a card of its own
)
# What a one-way channel (SMS, e-mail) is worth interrupting someone for: a severity getting worse is news.
INTERRUPT_EVENTS = frozenset(
    {"opened", "reopened", "worsened", "escalated", "resolved", "test", "digest", "report"}
)


@dataclass(frozen=True)
class RateLimit:
    """A platform's published limit: at most ``count`` messages per ``seconds`` to one destination."""

    count: int
    seconds: float


class Adapter(Protocol):
    name: ClassVar[str]
    Settings: ClassVar[type[AdapterSettings]]
    # Which AlertMessage.event values this platform receives; the outbox writes no delivery for others.
    events: ClassVar[frozenset[str]]
    # Optional: the platform's rate limits, and whether they apply per address (a Slack channel, a Teams
    # conversation) or per account ("account": an SMS sender). The dispatcher keeps to them.
    # rate_limits: ClassVar[tuple[RateLimit, ...]]
    # rate_scope: ClassVar[str]
    # Optional, where the platform has no rate limit: requests in flight to one destination by default
    # (``[channels.X] concurrency`` overrides it). Without it, 1: one request at a time, in order. An
    # alert's updates wait for its post to be recorded whatever this is, so only unrelated alerts overlap.
    # concurrency: ClassVar[int]

    async def send(self, message: AlertMessage, target: Target) -> Receipt: ...


# --- helpers every HTTP adapter shares ------------------------------------------------------------------

_EMAIL = re.compile(r"^[^@\s,;<>\"]+@[^@\s,;<>\"]+\.[^@\s,;<>\"]+$")


def email_addresses(vendor: str, address: str) -> list[str]:
    """The addresses in a comma-separated channel address, or PermanentError naming the expected format."""
    emails = [part.strip() for part in address.split(",") if part.strip()]
    if not emails or not all(_EMAIL.match(email) for email in emails):
        raise PermanentError(
            f"{vendor} address must be e-mail addresses separated by commas, got {address[:80]!r}"
        )
    return emails


def json_object(text: str) -> dict[str, Any]:
    """A vendor's JSON object answer, or {} for anything else (an empty body, HTML from a proxy)."""
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


_SECRET_PATTERNS = [
    re.compile(
        r"(?i)(authorization|api[_-]?key|token|secret|password|passwd|signature|sig)"
        r"([\"']?\s*[:=]\s*[\"']?)([^\s\"',&;}]+)"
    ),
    re.compile(r"(?i)\b(bearer|basic|zoho-oauthtoken)\s+[A-Za-z0-9._~+/=-]+"),
    re.compile(r"\bxox[abposr]-[A-Za-z0-9-]+"),
    re.compile(r"\bxapp-[A-Za-z0-9-]+"),
    re.compile(r"\bSG\.[A-Za-z0-9_.-]+"),
    re.compile(r"\bAKIA[0-9A-Z]{16}\b"),
    re.compile(r"(https?://)[^/\s:@]+:[^/\s@]+@"),
]
_known_secrets: set[str] = set()


def register_secret(value: str | None) -> None:
    """Remember a configured secret so :func:`redact` removes it wherever it appears.

    Values under 8 characters are not remembered: they are not credentials, and replacing them everywhere
    would mask ordinary words ("stamp" inside "timestamp"). Only values of secret fields are registered
    (see bot/config.py), never every environment variable the config names.
    """
    if value and len(value) >= 8:
        _known_secrets.add(value)


def redact(text: str) -> str:
    """Remove every configured secret and anything shaped like a credential from ``text``."""
    for secret in sorted(_known_secrets, key=len, reverse=True):
        text = text.replace(secret, "[redacted]")
    text = _SECRET_PATTERNS[0].sub(lambda m: f"{m.group(1)}{m.group(2)}[redacted]", text)
    text = _SECRET_PATTERNS[1].sub(lambda m: f"{m.group(1)} [redacted]", text)
    for pattern in _SECRET_PATTERNS[2:6]:
        text = pattern.sub("[redacted]", text)
    return _SECRET_PATTERNS[6].sub(lambda m: f"{m.group(1)}[redacted]@", text)


def parse_retry_after(value: str | None) -> float | None:
    """``Retry-After`` is either delay-seconds or an HTTP date (RFC 9110 §10.2.3)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - datetime.now(UTC)).total_seconds(), 0.0)


def classify_status(vendor: str, status: int, headers: Mapping[str, str], body: str) -> None:
    """Raise the right error for a non-2xx answer; return quietly for 2xx."""
    if 200 <= status < 300:
        return
    snippet = redact(body.strip().replace("\n", " ")[:300])
    message = f"{vendor} answered HTTP {status}: {snippet}" if snippet else f"{vendor} answered HTTP {status}"
    if status == 429 or status >= 500 or status == 408:
        retry_after = parse_retry_after(headers.get("Retry-After"))
        raise RetryableError(message, retry_after, rate_limited=status == 429)
    raise PermanentError(message)


@dataclass(frozen=True)
class HttpResult:
    status: int
    headers: Mapping[str, str]
    text: str

    def json(self) -> Any:
        import json

        return json.loads(self.text) if self.text else None


@functools.cache
def _timeout(seconds: float) -> aiohttp.ClientTimeout:
    """One (immutable) timeout object per length, not a new one per request."""
    return aiohttp.ClientTimeout(total=seconds)


async def http_request(
    http: aiohttp.ClientSession,
    vendor: str,
    method: str,
    url: str,
    *,
    timeout: float = 10.0,
    check: bool = True,
    **kwargs: Any,
) -> HttpResult:
    """One HTTP attempt; connection problems and timeouts become :class:`RetryableError`.

    With ``check`` (the default) a non-2xx status raises through :func:`classify_status`.
    The URL is not put in error messages: some vendors carry keys in the query string.
    """
    try:
        async with http.request(method, url, timeout=_timeout(timeout), **kwargs) as response:
            # An empty answer (a webhook's 204) has nothing to read or decode.
            text = "" if response.content_length == 0 else await response.text()
            # The headers as they came (case-insensitive, each value kept): no copy per request.
            result = HttpResult(response.status, response.headers, text)
    except TimeoutError as exc:
        raise RetryableError(f"{vendor}: no answer within {timeout:g}s") from exc
    except asyncio.CancelledError:
        raise
    except aiohttp.ClientError as exc:
        raise RetryableError(f"{vendor}: connection failed ({type(exc).__name__})") from exc
    if check:
        classify_status(vendor, result.status, result.headers, result.text)
    return result
