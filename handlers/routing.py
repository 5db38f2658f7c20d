"""Which channels hear about an alert, and who is escalated to when.

A route's ``channels`` / ``escalate_to`` / ``escalate_after`` keys become a two-step escalation policy, so
multi-step policies plug in as longer step lists without changing the alert code. First match wins.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from adapters.render.text import duration_text
from bot.config import ChannelConfig, Config, RouteConfig, RouteMatch

CONSOLE_CHANNEL = "console"


@dataclass(frozen=True)
class Step:
    after: timedelta  # since the alert opened (or reopened)
    channels: tuple[str, ...]
    note: str = ""


@dataclass(frozen=True)
class Policy:
    steps: tuple[Step, ...]

    def step(self, index: int) -> Step | None:
        return self.steps[index] if 0 <= index < len(self.steps) else None


NO_POLICY = Policy(steps=(Step(timedelta(0), ()),))


def channels_of(config: Config) -> dict[str, ChannelConfig]:
    """The configured channels; with none at all, the terminal, so a fresh install shows something."""
    if config.channels:
        return config.channels
    return {CONSOLE_CHANNEL: ChannelConfig(adapter="console", address="stockbot")}


def routes_of(config: Config) -> list[RouteConfig]:
    """The configured routes; with none, one route sending everything to every channel."""
    if config.routes:
        return config.routes
    return [RouteConfig(channels=list(channels_of(config)))]


def _matches(match: RouteMatch, severity: str, category: str, location: str, sku: str) -> bool:
    return (
        (not match.severity or severity in match.severity)
        and (not match.category or category in match.category)
        and (not match.location or location in match.location)
        and (not match.sku or sku in match.sku)
    )


def policy_for(config: Config, severity: str, category: str, location: str, sku: str) -> Policy:
    for route in routes_of(config):
        if _matches(route.match, severity, category, location, sku):
            steps = [Step(timedelta(0), tuple(route.channels))]
            if route.escalate_to:
                after = route.escalate_after or timedelta(minutes=15)
                note = f"{duration_text(timedelta(0), after)} unacknowledged"
                steps.append(Step(after, tuple(route.escalate_to), note))
            return Policy(tuple(steps))
    return NO_POLICY
