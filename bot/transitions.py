"""Alert state transitions as plain functions over plain data: no database, no clock, no I/O.

    open ──acknowledge──▶ acknowledged ──escalate──▶ escalated
      │                                                 │
      └──────────escalate (manual or timer)─────────────┘
    any unresolved ──resolve──▶ resolved ──new shortage within the cool-down──▶ open (reopened)

Each function returns the event name that the change notifies, or raises :class:`InvalidTransition`.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from stockbot.adapters.i18n import N_, Phrase, WordedError, phrase
from stockbot.adapters.message import duration_text
from stockbot.bot.routing import Policy
from stockbot.storage.alerts import Alert, Level

__all__ = ["duration_text"]  # re-exported for the alert desk

SEVERITY_RANK = {"low": 1, "out": 2, "critical": 3}


class InvalidTransition(WordedError):
    """The alert is not in a state where that makes sense; the phrase says why, for the person who clicked
    (worded in their language by the front end; ``str()`` is the English the audit row keeps)."""


# What a refused action would have done, as "nothing to {verb}" says it.
VERBS = {
    "acknowledge": N_("acknowledge"),
    "escalate": N_("escalate"),
    "snooze": N_("snooze"),
    "resolve": N_("resolve"),
}


def severity_for(
    level: Level, on_hand: int | None, blocked_orders: list[Any], flagged: bool = False
) -> str | None:
    """None when there is no shortage. Critical: a key product out, at or below its critical level, or
    orders blocked for lack of it."""
    out = flagged or (on_hand is not None and on_hand <= 0)
    below_critical = (
        level.critical_level is not None and on_hand is not None and on_hand <= level.critical_level
    )
    if blocked_orders or below_critical or (out and level.key_product):
        return "critical"
    if out:
        return "out"
    if on_hand is not None and on_hand <= level.minimum:
        return "low"
    return None


def trigger_for(on_hand: int | None, source_said_out: bool) -> str:
    if source_said_out:
        return "source_out_of_stock"
    return "out_of_stock" if on_hand is not None and on_hand <= 0 else "low_stock"


def due_at(policy: Policy, step_index: int, opened_at: datetime, now: datetime) -> datetime | None:
    """When the step after ``step_index`` is due; past the last step, the next reminder if the policy
    repeats; else None."""
    step = policy.step(step_index + 1)
    if step is not None:
        return max(opened_at + step.after, now)
    return now + policy.repeat if policy.repeat else None


def opened(level: Level, severity: str, trigger: str, now: datetime, **extra: Any) -> Alert:
    return Alert(
        id=0,
        sku=level.sku,
        location=level.location,
        state="open",
        severity=severity,
        trigger=trigger,
        on_hand=level.on_hand,
        minimum=level.minimum,
        critical_level=level.critical_level,
        opened_at=now,
        updated_at=now,
        **extra,
    )


def reopened(alert: Alert, level: Level, severity: str, trigger: str, now: datetime) -> Alert:
    """A new shortage soon after resolving: the same alert, open again, with a fresh escalation clock."""
    return replace(
        alert,
        state="open",
        severity=severity,
        trigger=trigger,
        on_hand=level.on_hand,
        minimum=level.minimum,
        opened_at=now,
        updated_at=now,
        acknowledged_by=None,
        acknowledged_at=None,
        escalated_by=None,
        escalated_at=None,
        escalation_step=0,
        escalation_note=None,
        snoozed_until=None,
        resolved_at=None,
        resolved_by=None,
        blocked_orders=[],
        flagged_by=None,
        resolved_note=None,
        version=alert.version + 1,
    )


def refreshed(
    alert: Alert,
    level: Level,
    severity: str,
    trigger: str,
    now: datetime,
    blocked_orders: list[dict[str, Any]],
) -> Alert | None:
    """Later signals for an unresolved alert; None when nothing a reader would see has changed."""
    if SEVERITY_RANK[severity] < SEVERITY_RANK[alert.severity] and alert.blocked_orders:
        severity = alert.severity  # blocked orders keep it critical until it resolves
    changed = (
        alert.on_hand != level.on_hand
        or alert.severity != severity
        or alert.minimum != level.minimum
        or blocked_orders != alert.blocked_orders
    )
    if not changed:
        return None
    return replace(
        alert,
        on_hand=level.on_hand,
        minimum=level.minimum,
        critical_level=level.critical_level,
        severity=severity,
        trigger=trigger if SEVERITY_RANK[severity] > SEVERITY_RANK[alert.severity] else alert.trigger,
        blocked_orders=blocked_orders,
        updated_at=now,
        version=alert.version + 1,
    )


def _unresolved(alert: Alert, verb: str) -> None:
    if alert.state == "resolved":
        raise InvalidTransition(
            phrase(
                "alert #{id} is already resolved (back in stock); nothing to {verb}",
                id=alert.id,
                verb=Phrase(VERBS[verb]),
            )
        )


def acknowledged(alert: Alert, actor: str, now: datetime) -> Alert:
    _unresolved(alert, "acknowledge")
    if alert.acknowledged_by:
        raise InvalidTransition(
            phrase("alert #{id} was already acknowledged by {who}", id=alert.id, who=alert.acknowledged_by)
        )
    return replace(
        alert,
        state="acknowledged" if alert.state == "open" else alert.state,
        acknowledged_by=actor,
        acknowledged_at=now,
        next_step_due_at=None,  # acknowledging stops the escalation clock
        updated_at=now,
        version=alert.version + 1,
    )


def escalated(alert: Alert, actor: str, now: datetime, policy: Policy, note: str, step: int) -> Alert:
    _unresolved(alert, "escalate")
    unacknowledged = alert.acknowledged_by is None
    return replace(
        alert,
        state="escalated",
        escalated_by=actor,
        escalated_at=now,
        escalation_step=step,
        escalation_note=note,
        next_step_due_at=due_at(policy, step, alert.opened_at, now) if unacknowledged else None,
        snoozed_until=None,
        updated_at=now,
        version=alert.version + 1,
    )


def reminded(alert: Alert, now: datetime, repeat: timedelta, note: str) -> Alert:
    return replace(
        alert, escalation_note=note, next_step_due_at=now + repeat, updated_at=now, version=alert.version + 1
    )


def snoozed(alert: Alert, actor: str, until: datetime, now: datetime) -> Alert:
    _unresolved(alert, "snooze")
    if until <= now:
        raise InvalidTransition(phrase("a snooze must end in the future"))
    due = alert.next_step_due_at
    return replace(
        alert,
        snoozed_until=until,
        next_step_due_at=max(due, until) if due else None,  # the clock pauses until the snooze ends
        updated_at=now,
        version=alert.version + 1,
    )


def resolved(alert: Alert, actor: str, now: datetime, on_hand: int | None) -> Alert:
    _unresolved(alert, "resolve")
    return replace(
        alert,
        state="resolved",
        on_hand=on_hand,
        resolved_at=now,
        resolved_by=actor,
        next_step_due_at=None,
        snoozed_until=None,
        updated_at=now,
        version=alert.version + 1,
    )


def snooze_until(choice: str, now: datetime, tz_name: str = "UTC") -> datetime:
    """``1h``, ``4h`` or ``tomorrow`` (9:00 next day in the workspace's time zone)."""
    from zoneinfo import ZoneInfo

    if choice == "tomorrow":
        local = now.astimezone(ZoneInfo(tz_name))
        nine = (local + timedelta(days=1)).replace(hour=9, minute=0, second=0, microsecond=0)
        return nine.astimezone(now.tzinfo)
    hours = {"1h": 1, "4h": 4}.get(choice)
    if hours is None:
        raise InvalidTransition(
            phrase("unknown snooze {choice}: choose 1h, 4h or tomorrow", choice=repr(choice))
        )
    return now + timedelta(hours=hours)
