"""The one rate limiter: sliding windows of sends per key, and an optional minimum gap between two sends.

Every pace stockbot keeps goes through :class:`RateLimiter`: the dispatcher's budget per destination (a
platform's published ``rate_limits``, or a channel's ``max_per_second``), and the adapters' own spacing of
requests inside one delivery (Slack's posts per channel, Teams' per-conversation limits). It lives on the
adapters' floor so both can import it.

Times are plain seconds on whatever clock the caller uses (the event loop's, or the dispatcher's clock as a
timestamp), so tests can drive it without sleeping. A send at ``t`` counts in a window of ``span`` seconds
until ``t + span``. Slots may be booked ahead (the adapters reserve a slot, then sleep until it comes).
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence

from stockbot.adapters.base import RateLimit

# Bookings older than this are forgotten, whatever the limits (the longest published window is an hour).
HORIZON = 3600.0
UNLIMITED = 1_000_000


class RateLimiter:
    """At most ``limit.count`` sends per ``limit.seconds`` for every limit, and ``min_gap`` seconds between
    two sends, per key. ``limits`` given to a method replace the limiter's own for that call: one limiter
    can keep several destinations, each to its platform's limits."""

    def __init__(self, limits: Sequence[RateLimit] = (), min_gap: float = 0.0) -> None:
        self.limits = tuple(limits)
        self.min_gap = min_gap
        self._booked: dict[str, list[float]] = {}

    def next_slot(self, key: str, now: float, limits: Sequence[RateLimit] | None = None) -> float:
        """The earliest time at or after ``now`` when one more send keeps ``key`` within every limit."""
        booked = self._recent(key, now)
        # Never before a slot already booked: a send slipped in ahead of it could break its windows.
        at = max(now, booked[-1] + self.min_gap) if booked else now
        windows = self.limits if limits is None else limits
        moved = True
        while moved:  # moving past one window's limit may run into another's
            moved = False
            for limit in windows:
                inside = booked[bisect.bisect_right(booked, at - limit.seconds) :]
                if len(inside) >= limit.count:
                    at, moved = inside[-limit.count] + limit.seconds, True
        return at

    def available(self, key: str, now: float, limits: Sequence[RateLimit] | None = None) -> int:
        """How many sends ``key`` may make at ``now`` (counting slots already booked up to now)."""
        windows = self.limits if limits is None else limits
        if not windows and not self.min_gap:
            return UNLIMITED
        booked = self._recent(key, now)
        if self.min_gap and booked and now < booked[-1] + self.min_gap:
            return 0
        room = UNLIMITED if not windows else min(self._room(booked, now, limit) for limit in windows)
        return min(room, 1) if self.min_gap else room

    def book(self, key: str, at: float) -> None:
        """Count a send to ``key`` at ``at`` (now, when charging an attempt that ended; later, to reserve)."""
        bisect.insort(self._booked.setdefault(key, []), at)

    def reserve(self, key: str, now: float, limits: Sequence[RateLimit] | None = None) -> float:
        """Book the next slot for ``key`` and return it: the caller waits until then, then sends."""
        at = self.next_slot(key, now, limits)
        self.book(key, at)
        return at

    def _recent(self, key: str, now: float) -> list[float]:
        booked = self._booked.get(key)
        if not booked:
            return []
        stale = bisect.bisect_right(booked, now - HORIZON)
        if stale:
            del booked[:stale]
        return booked

    @staticmethod
    def _room(booked: list[float], now: float, limit: RateLimit) -> int:
        inside = bisect.bisect_right(booked, now) - bisect.bisect_right(booked, now - limit.seconds)
        return max(limit.count - inside, 0)
