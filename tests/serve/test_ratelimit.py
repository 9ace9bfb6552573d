"""The per-caller token bucket: a burst of per-minute requests, then 429 with Retry-After; tokens come back."""

from __future__ import annotations

import pytest

from mleditor.serve.ratelimit import RateLimitedError, RateLimiter


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_caller_gets_a_burst_of_per_minute_requests_then_429_with_retry_after():
    clock = FakeClock()
    limiter = RateLimiter(per_minute=3, clock=clock)
    for _ in range(3):
        limiter.check("key:a")
    with pytest.raises(RateLimitedError) as info:
        limiter.check("key:a")
    assert info.value.retry_after_s == 20  # one token per 20 s at 3 per minute
    limiter.check("key:b")  # other callers have their own bucket


def test_tokens_come_back_with_time():
    clock = FakeClock()
    limiter = RateLimiter(per_minute=60, clock=clock)
    for _ in range(60):
        limiter.check("ip:1.2.3.4")
    with pytest.raises(RateLimitedError):
        limiter.check("ip:1.2.3.4")
    clock.now += 1.0
    limiter.check("ip:1.2.3.4")


def test_zero_per_minute_means_no_limit_and_buckets_stay_bounded():
    unlimited = RateLimiter(0)
    for _ in range(1000):
        unlimited.check("k")
    limiter = RateLimiter(10, max_keys=5)
    for i in range(50):
        limiter.check(f"ip:{i}")
    assert len(limiter._buckets) == 5
