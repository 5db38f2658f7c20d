"""The one rate limiter: windows per key, a minimum gap, and limits given per call for many destinations."""

from __future__ import annotations

from stockbot.adapters.base import RateLimit
from stockbot.adapters.ratelimit import UNLIMITED, RateLimiter

SLACK = (RateLimit(1, 1.0),)
TWO_A_SECOND = (RateLimit(2, 1.0), RateLimit(5, 10.0))


def test_each_key_keeps_to_the_limits_it_is_given() -> None:
    limiter = RateLimiter()
    assert limiter.available("slack:C1", 100.0, SLACK) == 1
    limiter.book("slack:C1", 100.0)
    assert limiter.available("slack:C1", 100.5, SLACK) == 0
    assert limiter.next_slot("slack:C1", 100.5, SLACK) == 101.0
    assert limiter.available("slack:C1", 101.0, SLACK) == 1  # a send counts for one span, not longer
    assert limiter.available("slack:C2", 100.5, SLACK) == 1  # another channel has its own budget
    assert limiter.available("webhook:x", 100.5, ()) == UNLIMITED


def test_the_tightest_window_decides() -> None:
    limiter = RateLimiter()
    for at in (0.0, 0.1, 1.0, 1.1, 2.0):
        limiter.book("k", at)
    assert limiter.available("k", 2.0, TWO_A_SECOND) == 0  # five in ten seconds
    assert limiter.next_slot("k", 2.0, TWO_A_SECOND) == 10.0


def test_a_minimum_gap_spaces_reservations() -> None:
    limiter = RateLimiter(min_gap=0.5)
    slots = [limiter.reserve("c", 10.0) for _ in range(3)]
    assert slots == [10.0, 10.5, 11.0]
    assert limiter.available("c", 10.2) == 0
    assert limiter.reserve("other", 10.0) == 10.0
