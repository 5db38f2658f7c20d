"""Noise control: what waits (digests, quiet hours), and how fast each destination may be written to.

- A route's ``digest`` holds its ``low`` alerts for a channel until the next interval boundary; the dispatcher
  then sends everything held for that channel as one digest message. ``out`` and ``critical`` go at once.
- A channel's ``quiet_hours`` hold everything until the hours end (in the channel's time zone), then release
  it as one digest; ``critical`` alerts go through when the policy says so.
- Rate budgets follow each platform's published limits (an adapter's ``rate_limits``, or the channel's
  ``max_per_second``). When more is due for a destination than its budget allows, the overflow is grouped
  into one digest instead of queueing for minutes, so no vendor answers 429 because we went too fast.
- Grouping (Alertmanager's ``group_wait`` / ``group_interval``): a new message to a rate-limited channel
  waits ``group_wait`` for company, and the channel's group then goes out at most once per
  ``group_interval``, as one digest when it holds several. A burst becomes a few messages instead of a
  queue; the price is that latency, which critical alerts skip when their policy says so.
  The dispatcher's lanes (``bot/lanes.py``) apply it; :func:`grouping_for` says what applies.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from stockbot.adapters.base import AlertMessage, RateLimit
from stockbot.bot.config import ChannelConfig, Config
from stockbot.bot.routing import Policy, policy_for, route_for

EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
SEVERITY_ORDER = {"critical": 0, "out": 1, "low": 2}
# Requests take a moment to reach the vendor: keep a little more than the limit's exact spacing.
SAFETY_MARGIN = timedelta(milliseconds=50)


# --- holding -----------------------------------------------------------------------------------------------


def next_boundary(now: datetime, every: timedelta) -> datetime:
    """The next multiple of ``every`` since a fixed epoch: digests land on round times (:00, :15, …)."""
    periods = (now - EPOCH) // every + 1
    return EPOCH + periods * every


def quiet_until(channel: ChannelConfig, now: datetime) -> datetime | None:
    """When the channel's quiet hours end, if ``now`` is inside them."""
    window = channel.quiet_window()
    if window is None:
        return None
    zone = ZoneInfo(channel.timezone)
    local = now.astimezone(zone)
    (h1, m1), (h2, m2) = window
    start, end = time(h1, m1), time(h2, m2)
    clock = local.time()
    inside = start <= clock < end if start <= end else (clock >= start or clock < end)
    if not inside:
        return None
    end_day = local.date() if clock < end else local.date() + timedelta(days=1)
    return datetime.combine(end_day, end, tzinfo=zone).astimezone(UTC)


def hold_until(
    config: Config, name: str, channel: ChannelConfig, message: AlertMessage, policy: Policy, now: datetime
) -> datetime | None:
    """When this message may go to this channel, if not now."""
    holds = []
    critical_through = message.severity == "critical" and policy.critical_ignores_quiet_hours
    quiet = None if critical_through else quiet_until(channel, now)
    if quiet:
        holds.append(quiet)
    if message.severity == "low":  # its whole life, back in stock included, goes in the digest
        route = route_for(config, message.severity, message.category, message.location, message.sku)
        if route is not None and route.digest and name in _route_channels(config, route):
            holds.append(next_boundary(now, route.digest))
    return max(holds) if holds else None


def _route_channels(config: Config, route: Any) -> set[str]:
    if route.policy:
        return {c for step in config.policies[route.policy].steps for c in step.channels}
    return {*route.channels, *route.escalate_to}


# --- digests -----------------------------------------------------------------------------------------------


def digest_message(messages: Sequence[AlertMessage], now: datetime) -> AlertMessage:
    """One message standing for many: the latest state of each alert, most severe first."""
    latest: dict[int, AlertMessage] = {}
    for message in messages:
        latest[message.alert_id] = message  # later messages are the newer state
    items = sorted(latest.values(), key=lambda m: (m.is_resolved, SEVERITY_ORDER.get(m.severity, 9), m.sku))
    counts = {
        s: sum(1 for m in items if m.severity == s and not m.is_resolved) for s in ("critical", "out", "low")
    }
    worst = next((s for s in ("critical", "out", "low") if counts[s]), "low")
    summary = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
    resolved = sum(1 for m in items if m.is_resolved)
    if resolved:
        summary = f"{summary}, {resolved} back in stock" if summary else f"{resolved} back in stock"
    first = items[0]
    return replace(
        first,
        alert_id=0,
        event="digest",
        sku="DIGEST",
        product_name=f"{len(items)} stock alert(s): {summary}",
        category="digest",
        key_product=False,
        location="several" if len({m.location for m in items}) > 1 else first.location,
        severity=worst,
        state="open",
        trigger="digest",
        opened_at=min(m.opened_at for m in items),
        updated_at=now,
        mentions=tuple(dict.fromkeys(mention for m in items for mention in m.mentions)),
        custom_text=None,
        digest=tuple(items),
    )


# --- rate budgets ------------------------------------------------------------------------------------------


def limits_for(adapter_cls: type, channel: ChannelConfig) -> tuple[RateLimit, ...]:
    per_second = channel.max_per_second
    if per_second is not None:
        return (RateLimit(1, 1 / per_second),) if per_second < 1 else (RateLimit(int(per_second), 1.0),)
    return tuple(getattr(adapter_cls, "rate_limits", ()))


def destination(adapter_cls: type, channel: ChannelConfig) -> str:
    """What a platform's limit applies to: the channel address (Slack channel, Teams conversation), or the
    whole account (an SMS sender) when the adapter says its limit is per account."""
    scope = getattr(adapter_cls, "rate_scope", "address")
    return f"{channel.adapter}:{'*' if scope == 'account' else channel.address}"


# --- grouping ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Grouping:
    """How a new message waits in its channel's group: ``wait`` seconds from the group's first message to
    its first send, then at least ``interval`` seconds between two sends. ``urgent`` skips the wait."""

    wait: float
    interval: float
    urgent: bool = False


def grouping_for(
    config: Config, channel: ChannelConfig, message: Mapping[str, Any], limited: bool
) -> Grouping | None:
    """The grouping of a new message (``AlertMessage.to_json()``) to ``channel``: the channel's keys, else its
    route's, else ``[delivery]``'s when the destination is rate-limited (``limited``); None: it goes alone."""
    if message.get("event") == "test":  # `stockbot channels test` answers at once
        return None
    severity, category = message.get("severity", ""), message.get("category", "")
    location, sku = message.get("location", ""), message.get("sku", "")
    defaults = config.delivery if limited else None
    route = None
    if any(r.group_wait is not None or r.group_interval is not None for r in config.routes):
        route = route_for(config, severity, category, location, sku)  # only then worth finding

    def pick(key: str) -> float:
        for source in (channel, route, defaults):
            value = getattr(source, key, None) if source is not None else None
            if value is not None:
                return value.total_seconds()
        return 0.0

    wait, interval = pick("group_wait"), pick("group_interval")
    if not wait and not interval:
        return None
    policy = policy_for(config, severity, category, location, sku)
    return Grouping(wait, interval, severity == "critical" and policy.critical_skips_group_wait)
