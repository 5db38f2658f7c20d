"""The one refusal auditor: each refused request or action leaves one audit row, one metric, one log line.

Front ends (events API, Slack, Teams) call these instead of writing audit rows themselves, so a refusal reads
the same whichever way it came in: ``request.refused`` for a request stopped before any effect (bad signature
or token), ``action.refused`` for a person's action the core would not take (permission, state, no alert).
"""

from __future__ import annotations

import logging

from sqlalchemy.ext.asyncio import AsyncEngine

from stockbot.bot.clock import Clock
from stockbot.bot.metrics import REQUESTS_REFUSED
from stockbot.storage.audit import audit_row, record

log = logging.getLogger("stockbot.refusals")


async def refuse_request(
    engine: AsyncEngine,
    clock: Clock,
    *,
    front_end: str,
    why: str,
    actor: str,
    path: str,
    remote: str | None,
    reason: str,
) -> None:
    """A request refused before any effect: ``why`` is the metric's short label (``signature``, ``token``)."""
    REQUESTS_REFUSED.labels(front_end, why).inc()
    row = audit_row(clock.now(), "request.refused", actor, subject=path, reason=reason, remote=remote)
    await record(engine, row)
    log.warning("refused %s from %s: %s", path, remote, reason)


async def refuse_action(
    engine: AsyncEngine,
    clock: Clock,
    actor: str,
    action: str,
    reason: str,
    *,
    alert_id: int | None = None,
    subject: str | None = None,
) -> None:
    """A person's action not taken: no permission, an alert in the wrong state, or no such alert."""
    row = audit_row(
        clock.now(), "action.refused", actor, alert_id=alert_id, subject=subject, action=action, reason=reason
    )
    await record(engine, row)
    log.info("refused %s by %s: %s", action, actor, reason)
