"""Which channels hear about an alert, and who is escalated to when.

Every route becomes an escalation :class:`Policy`: a named ``[policies.NAME]``, or the route's own
``channels`` / ``escalate_to`` / ``escalate_after`` keys read as a two-step policy (critical alerts start at
the second step, as the simple keys always promised). First match wins.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from stockbot.adapters.message import FEED_CATEGORY, FEED_PREFIX, duration_text
from stockbot.bot.config import ChannelConfig, Config, PolicyConfig, RouteConfig, RouteMatch
from stockbot.storage.folding import fold

CONSOLE_CHANNEL = "console"


@dataclass(frozen=True)
class Step:
    after: timedelta  # since the alert opened (or reopened)
    channels: tuple[str, ...]
    name: str = ""
    mention: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        return self.name or ", ".join(self.channels) or "nobody"


@dataclass(frozen=True)
class Policy:
    steps: tuple[Step, ...]
    critical_start: int = 0  # 0-based index of the step critical alerts start at
    key_product_start: int = 0
    repeat: timedelta | None = None
    impact_orders: int | None = None
    impact_quantity: int | None = None
    critical_ignores_quiet_hours: bool = True
    critical_skips_group_wait: bool = True
    name: str = field(default="", compare=False)

    def step(self, index: int) -> Step | None:
        return self.steps[index] if 0 <= index < len(self.steps) else None

    def start_for(self, severity: str, key_product: bool) -> int:
        start = self.critical_start if severity == "critical" else 0
        return max(start, self.key_product_start if key_product else 0)

    def impact_reached(self, orders: int, quantity: int) -> bool:
        return (self.impact_orders is not None and orders >= self.impact_orders) or (
            self.impact_quantity is not None and quantity >= self.impact_quantity
        )


NO_POLICY = Policy(steps=(Step(timedelta(0), ()),))


def channels_of(config: Config) -> dict[str, ChannelConfig]:
    """The configured channels; with none at all, the terminal, so a fresh install shows something."""
    if config.channels:
        return config.channels
    return {CONSOLE_CHANNEL: ChannelConfig(adapter="console", address="stockbot")}


# The default route of each config, built once: a route is asked for every alert change, and building a
# validated RouteConfig each time cost more than the rest of the alert desk's decision.
_DEFAULT_ROUTES: dict[int, tuple[Config, list[RouteConfig]]] = {}


def routes_of(config: Config) -> list[RouteConfig]:
    """The configured routes; with none, one route sending everything to every channel."""
    if config.routes:
        return config.routes
    cached = _DEFAULT_ROUTES.get(id(config))
    if cached is None or cached[0] is not config or cached[1][0].channels != list(channels_of(config)):
        cached = (config, [RouteConfig(channels=list(channels_of(config)))])
        _DEFAULT_ROUTES[id(config)] = cached  # holds the config, so its id is not reused meanwhile
    return cached[1]


def _matches(match: RouteMatch, severity: str, category: str, location: str, sku: str) -> bool:
    # SKUs and locations in a route match ignoring ASCII case, as everywhere else (storage/folding.py).
    return (
        (not match.severity or severity in match.severity)
        and (not match.category or category in match.category)
        and (not match.location or fold(location) in {fold(name) for name in match.location})
        and (not match.sku or fold(sku) in {fold(name) for name in match.sku})
    )


def route_for(config: Config, severity: str, category: str, location: str, sku: str) -> RouteConfig | None:
    return next((r for r in routes_of(config) if _matches(r.match, severity, category, location, sku)), None)


def policy_for(config: Config, severity: str, category: str, location: str, sku: str) -> Policy:
    feed = feed_policy(config, category, sku)
    if feed is not None:
        return feed
    route = route_for(config, severity, category, location, sku)
    if route is None:
        return NO_POLICY
    if route.policy:
        return from_config(route.policy, config.policies[route.policy])
    steps = [Step(timedelta(0), tuple(route.channels))]
    if route.escalate_to:
        steps.append(Step(route.escalate_after or timedelta(minutes=15), tuple(route.escalate_to)))
    return Policy(tuple(steps), critical_start=len(steps) - 1)


def feed_policy(config: Config, category: str, sku: str) -> Policy | None:
    """A feed-watchdog alert (SKU ``feed:<source>``, bot/watchdog.py) goes to its source's ``channels``
    at once, and waits out quiet hours; a source without channels is routed like any other alert."""
    if category != FEED_CATEGORY or not sku.startswith(FEED_PREFIX):
        return None
    source = config.sources.get(sku.removeprefix(FEED_PREFIX))
    if source is None or not source.channels:
        return None
    step = Step(timedelta(0), tuple(source.channels), name="feed watchdog")
    return Policy((step,), critical_ignores_quiet_hours=False, name="feed watchdog")


def from_config(name: str, policy: PolicyConfig) -> Policy:
    return Policy(
        steps=tuple(Step(s.after, tuple(s.channels), s.name or "", tuple(s.mention)) for s in policy.steps),
        critical_start=(policy.critical_starts_at or 1) - 1,
        key_product_start=(policy.key_product_starts_at or 1) - 1,
        repeat=policy.repeat,
        impact_orders=policy.impact.blocked_orders,
        impact_quantity=policy.impact.blocked_quantity,
        critical_ignores_quiet_hours=policy.critical_ignores_quiet_hours,
        critical_skips_group_wait=policy.critical_skips_group_wait,
        name=name,
    )


def waited(step: Step) -> str:
    """Why a timed step was taken, for cards and the audit log: "15 min unacknowledged"."""
    return f"{duration_text(timedelta(0), step.after)} unacknowledged"
