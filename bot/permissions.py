"""Who may do what. The core checks permission, so every front end (Slack, Teams, CLI) obeys one rule set.

Roles come from ``[roles]``: each lists Slack user ids, Slack user-group ids and Teams (Entra) object ids.
An id may be qualified by the workspace it belongs to, ``T0123ABCD/U0456EFGH``: it then holds only for someone
acting from that workspace (``[slack.workspaces.T…] roles`` are folded into ``[roles]`` this way). An API
token carries its roles itself (``[[api.tokens]] roles``): :attr:`Actor.roles` adds them to whatever
``[roles]`` says. A manager may do whatever a rep may. The CLI and stockbot itself are trusted: whoever runs
the CLI already holds the database.
"""

from __future__ import annotations

from dataclasses import dataclass

from stockbot.adapters.i18n import N_, Phrase, WordedError, either, phrase
from stockbot.bot.config import RolesConfig

# action → roles allowed to do it; None means anyone
RULES: dict[str, frozenset[str] | None] = {
    "stock": None,
    "flag": frozenset({"warehouse"}),
    "acknowledge": frozenset({"rep", "manager"}),
    "snooze": frozenset({"rep", "manager"}),
    "escalate": frozenset({"manager"}),
    # close any alert by hand (Resolve on a card, `stockbot alerts resolve`)
    "resolve": frozenset({"manager"}),
    "clear": frozenset({"warehouse"}),  # take back a flag (/oos clear): the alert follows the level again
    # reports, the dashboard and the read API: anyone stockbot knows by a role, never an anonymous user
    "report": frozenset({"rep", "warehouse", "manager"}),
}
TRUSTED = frozenset({"cli", "system", "source"})
# How an action reads in "only … roles may <verb>", worded for the reader.
_VERBS = {
    "stock": N_("look up stock"),
    "flag": N_("flag"),
    "acknowledge": N_("acknowledge"),
    "snooze": N_("snooze"),
    "escalate": N_("escalate"),
    "resolve": N_("resolve"),
    "clear": N_("clear"),
    "report": N_("see reports"),
}
# What a person does to an alert itself (its card's buttons), in the order cards show them.
ALERT_ACTIONS = ("acknowledge", "escalate", "snooze", "resolve")


@dataclass(frozen=True)
class Actor:
    """Someone (or something) acting on an alert. ``id`` is the platform's id, ``via`` the platform."""

    id: str
    via: str  # slack | teams | web | api | cli | system | source
    name: str = ""
    groups: tuple[str, ...] = ()
    roles: frozenset[str] = frozenset()  # granted outright (an API token's roles), on top of [roles]
    # The workspace (Slack team id) the person acts from, when the platform has several: roles may be given
    # for one workspace only ("T0123/U0456"), since ids are the workspace's to hand out.
    team: str = ""

    @property
    def label(self) -> str:
        """How the actor appears in the audit log: ``slack:U123`` or ``cli:alice``."""
        return f"{self.via}:{self.id}"

    @property
    def display(self) -> str:
        """The name stored on alerts and shown on every platform's card (renderers make their own mentions
        from Slack user ids, so no platform's markup is stored)."""
        return self.name or self.id


SYSTEM = Actor(id="stockbot", via="system", name="stockbot")


class PermissionDenied(WordedError):
    def __init__(self, action: str, actor: Actor, allowed: frozenset[str]) -> None:
        self.action = action
        self.actor = actor
        self.allowed = allowed
        # Role names are config words ([roles] rep = …), so they stay as written; "or" is the reader's.
        super().__init__(
            phrase(
                "only {roles} roles may {verb}; ask an admin to add you to [roles] in stockbot.toml",
                roles=either(tuple(sorted(allowed))),
                verb=Phrase(_VERBS.get(action, action)),
            )
        )


def roles_of(roles: RolesConfig, actor: Actor) -> set[str]:
    ids = {actor.id, *actor.groups}
    if actor.team:
        ids |= {f"{actor.team}/{i}" for i in ids}
    held = {role for role in ("rep", "warehouse", "manager") if ids & set(getattr(roles, role))}
    return held | set(actor.roles)


def may(roles: RolesConfig, action: str, actor: Actor) -> bool:
    """Whether ``actor`` may do ``action`` (pages use it to show only the buttons that will work)."""
    allowed = RULES[action]
    return allowed is None or actor.via in TRUSTED or bool(roles_of(roles, actor) & allowed)


def permitted(roles: RolesConfig, actor: Actor) -> frozenset[str]:
    """Every action ``actor`` may take (for surfaces that show only the buttons a person may use)."""
    held = roles_of(roles, actor)
    return frozenset(
        action
        for action, allowed in RULES.items()
        if allowed is None or actor.via in TRUSTED or held & allowed
    )


def require(roles: RolesConfig, action: str, actor: Actor) -> None:
    if not may(roles, action, actor):
        allowed = RULES[action]
        assert allowed is not None
        raise PermissionDenied(action, actor, allowed)


def alert_actions_of(roles: RolesConfig, actor: Actor) -> tuple[str, ...]:
    """The actions on alerts ``actor`` may take, in ALERT_ACTIONS order: the buttons their own list offers."""
    return tuple(action for action in ALERT_ACTIONS if may(roles, action, actor))
