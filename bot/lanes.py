"""A lane per destination: what the dispatcher may send there next, and when.

A destination is what a platform's limit applies to (:func:`bot.noise.destination`): a Slack channel, a
Teams conversation, a webhook URL, a whole SMS account. Each has a lane, and each lane progresses on its
own: its own rate budget, its own pause after the vendor said "too fast" (no request reaches it before the
time given), its own bound on requests in flight (the adapter's default, 1 for most: in order; an alert's
update is claimed only once its post is recorded, so it follows the post whatever the bound), and its own
groups of new messages. A hanging or failing destination holds up its own lane only.

New messages (nothing to update in place yet) to a channel with a :class:`~bot.noise.Grouping` wait in the
channel's group: the group's first send comes ``wait`` after its oldest message arrived (at once when an
urgent one is waiting), the next no sooner than ``interval`` after the last; all that waits then goes as one
message, a digest when there are several. Without grouping, new messages to a rate-limited destination
become one digest only when more are due than the budget allows.

This module is the decision, as plain data and functions over it, on plain seconds; ``bot/relay.py`` claims,
sends, records, and sleeps.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from stockbot.adapters.base import RateLimit
from stockbot.bot.noise import Grouping
from stockbot.storage.deliveries import Claimed


@dataclass(eq=False)
class Entry:
    """Claimed work waiting in a lane: one delivery, or a held digest's members (always one digest)."""

    items: list[Claimed]
    held: bool = False
    grouping: Grouping | None = None  # a new message's grouping; None: it goes alone, at once

    @property
    def channel(self) -> str:
        return self.items[0].channel

    @property
    def fresh(self) -> bool:
        """A new message: no card of its own to update in place (a held digest is its own kind). A scheduled
        report is never folded into a digest: it goes alone, like a card update."""
        first = self.items[0]
        return not self.held and not first.external_id and first.event != "report"


@dataclass(frozen=True)
class Unit:
    """One adapter call: a delivery, or a digest standing for several. ``parked``: more of the group,
    given back to the outbox to wait, to be claimed and sent with it."""

    entries: tuple[Entry, ...]
    digest: bool
    parked: tuple[int, ...] = ()
    grouped: bool = False  # a channel's group going out

    @property
    def items(self) -> list[Claimed]:
        return [item for entry in self.entries for item in entry.items]


@dataclass
class Group:
    """A channel's group of new messages in its lane."""

    grouping: Grouping
    opened: float | None = None  # when the oldest message now waiting arrived
    sent: float | None = None  # when the group last went out
    urgent: bool = False  # an urgent message is waiting: skip the wait
    parked: set[int] = field(default_factory=set)  # members given back to the outbox to wait

    def due(self) -> float:
        first = (self.opened or 0.0) + (0.0 if self.urgent else self.grouping.wait)
        return first if self.sent is None else max(first, self.sent + self.grouping.interval)


@dataclass(eq=False)
class Lane:
    key: str
    limits: tuple[RateLimit, ...] = ()
    concurrency: int = 1
    entries: list[Entry] = field(default_factory=list)
    paused_until: float = 0.0  # the vendor said "not before"
    in_flight: int = 0
    groups: dict[str, Group] = field(default_factory=dict)

    def add(self, entry: Entry, now: float) -> None:
        self.entries.append(entry)
        if entry.fresh and entry.grouping is not None:
            group = self.groups.setdefault(entry.channel, Group(entry.grouping))
            if group.opened is None:
                group.opened, group.grouping = now, entry.grouping
            group.urgent = group.urgent or entry.grouping.urgent
            group.parked.difference_update(item.id for item in entry.items)  # back, claimed again

    def pause(self, until: float) -> None:
        self.paused_until = max(self.paused_until, until)

    def next_unit(self, now: float, room: int) -> Unit | None:
        """What to send now, if anything; ``room``: what the destination's rate budget allows now."""
        room -= self.in_flight
        if now < self.paused_until or self.in_flight >= self.concurrency or room <= 0:
            return None
        waiting: set[str] = set()  # channels whose group is not due: looked at once
        for entry in self.entries:
            if not entry.fresh:
                return self._take([entry], digest=entry.held)
            if entry.channel in waiting:
                continue
            if entry.grouping is None:
                company = self._fresh(entry.channel) if self.limits else [entry]
                if len(company) > room:  # more is due than the budget allows: one digest
                    return self._take(company, digest=True)
                return self._take([entry], digest=False)
            group = self.groups[entry.channel]
            if now < group.due():
                waiting.add(entry.channel)
                continue
            company, parked = self._fresh(entry.channel), tuple(sorted(group.parked))
            group.opened, group.sent, group.urgent, group.parked = None, now, False, set()
            return self._take(company, len(company) + len(parked) > 1, parked, grouped=True)
        return None

    def ready_at(self, entry: Entry, budget_at: float) -> float:
        """The earliest time ``entry`` could go: after any pause, the next budget slot and its group."""
        at = max(self.paused_until, budget_at)
        if entry.fresh and entry.grouping is not None:
            at = max(at, self.groups[entry.channel].due())
        return at

    def long_waits(self, now: float, budget_at: float, limit: float) -> list[Entry]:
        """The entries that cannot go within ``limit`` seconds (looked at entry by entry only when some
        pause, budget or group is that far off)."""
        if max(self.paused_until, budget_at) - now > limit:
            return list(self.entries)
        late = {c for c, g in self.groups.items() if g.opened is not None and g.due() - now > limit}
        if not late:
            return []
        return [e for e in self.entries if e.fresh and e.grouping is not None and e.channel in late]

    def wake_at(self, budget_at: float) -> float | None:
        """When :meth:`next_unit` may next have something (None: nothing waits, or a send must end first)."""
        if not self.entries or self.in_flight >= self.concurrency:
            return None
        return min(self.ready_at(entry, budget_at) for entry in self.entries)

    def take_all(self) -> list[Entry]:
        """Everything waiting, to be given back (the dispatcher stops, or the wait is long)."""
        entries, self.entries = self.entries, []
        return entries

    def park(self, entry: Entry) -> None:
        """``entry`` goes back to the outbox to wait for its group: the group fetches it if it goes early."""
        if entry.fresh and entry.grouping is not None and entry.channel in self.groups:
            self.groups[entry.channel].parked.update(item.id for item in entry.items)

    def take(self, entries: Sequence[Entry]) -> None:
        gone = {id(e) for e in entries}
        self.entries = [e for e in self.entries if id(e) not in gone]

    def _fresh(self, channel: str) -> list[Entry]:
        return [e for e in self.entries if e.fresh and e.channel == channel]

    def failed(self, unit: Unit) -> None:
        """A group's message did not get through: its interval counts from the next one that does."""
        if unit.grouped and unit.entries[0].channel in self.groups:
            self.groups[unit.entries[0].channel].sent = None

    def _take(
        self, entries: list[Entry], digest: bool, parked: tuple[int, ...] = (), grouped: bool = False
    ) -> Unit:
        if len(entries) == 1 and self.entries and self.entries[0] is entries[0]:
            self.entries.pop(0)  # the common case: the head of the lane
        else:
            self.take(entries)
        return Unit(tuple(entries), digest, parked, grouped)
