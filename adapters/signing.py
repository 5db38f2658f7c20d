"""The ``X-Stockbot-Signature`` scheme: ``t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">``.

Inbound sources sign with their ``[sources.NAME] secret``; the ``webhook`` adapter signs what it sends with
the channel's secret, so receivers verify both directions the same way.
"""

from __future__ import annotations

import hashlib
import hmac
import time

HEADER = "X-Stockbot-Signature"
TOLERANCE_SECONDS = 300


class SignatureError(ValueError):
    """Why a signature was refused; the text is safe to show the sender (it holds no secret)."""


def sign(secret: str, body: bytes, timestamp: int | None = None) -> str:
    t = int(time.time()) if timestamp is None else timestamp
    return f"t={t},v1={_digest(secret, t, body)}"


def _digest(secret: str, timestamp: int, body: bytes) -> str:
    # hmac.new, not the one-shot hmac.digest: the one-shot releases the GIL around OpenSSL's HMAC whatever
    # the body's size, and under load the writer's thread takes it then, a thread switch per request
    # (hmac.new's update keeps it for bodies under 2 KiB, which nearly every event is).
    return hmac.new(secret.encode(), b"%d." % timestamp + body, hashlib.sha256).hexdigest()


def parse(header: str | None) -> tuple[int, list[str]]:
    if not header:
        raise SignatureError(f"missing {HEADER} header")
    timestamp: int | None = None
    digests: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t":
            try:
                timestamp = int(value)
            except ValueError:
                raise SignatureError(f"malformed {HEADER}: t is not a unix time") from None
        elif key == "v1" and value:
            digests.append(value)
    if timestamp is None or not digests:
        raise SignatureError(f"malformed {HEADER}: expected t=<unix seconds>,v1=<hex hmac>")
    return timestamp, digests


def verify(secret: str, body: bytes, header: str | None, now: float | None = None) -> None:
    """Raise :class:`SignatureError` unless ``header`` signs ``body`` with ``secret`` within 5 minutes."""
    timestamp, digests = parse(header)
    now = time.time() if now is None else now
    if abs(now - timestamp) > TOLERANCE_SECONDS:
        raise SignatureError("stale signature: timestamp is more than 5 minutes from now")
    expected = _digest(secret, timestamp, body)
    # Several v1 values let a sender sign with an old and a new secret while rotating.
    if not any(hmac.compare_digest(expected, d) for d in digests):
        raise SignatureError("signature does not match")
