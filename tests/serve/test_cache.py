"""The LRU prediction cache and the per-caller token bucket."""

from __future__ import annotations

import pytest

from mleditor.serve.cache import PredictionCache, cache_key
from mleditor.serve.ratelimit import RateLimitedError, RateLimiter


def test_keys_ignore_what_normalization_removes_but_not_the_model_or_version():
    base = cache_key("m", "v3", "How do I brew?", "Some body")
    assert cache_key("m", "v3", "  How do I brew?\r\n", "Some body  \n") == base
    assert cache_key("m", "v2", "How do I brew?", "Some body") != base
    assert cache_key("other", "v3", "How do I brew?", "Some body") != base
    assert cache_key("m", "v3", "How do I brew", "?Some body") != base  # the separator keeps fields apart


def test_the_least_recently_used_entry_is_evicted_at_the_size_limit():
    cache: PredictionCache[str] = PredictionCache(2)
    a, b, c = (cache_key("m", "v2", t, "") for t in "abc")
    cache.put(a, "A")
    cache.put(b, "B")
    assert cache.get(a) == "A"  # a is now the most recent
    cache.put(c, "C")
    assert cache.get(b) is None and cache.get(a) == "A" and cache.get(c) == "C" and len(cache) == 2


def test_hit_rate_counts_hits_over_lookups():
    cache: PredictionCache[str] = PredictionCache(10)
    key = cache_key("m", "v2", "t", "b")
    assert cache.hit_rate == 0.0
    cache.get(key)
    cache.put(key, "x")
    cache.get(key)
    cache.get(key)
    assert (cache.hits, cache.misses) == (2, 1) and cache.hit_rate == pytest.approx(2 / 3)


def test_a_zero_size_cache_stores_nothing():
    cache: PredictionCache[str] = PredictionCache(0)
    key = cache_key("m", "v2", "t", "b")
    cache.put(key, "x")
    assert cache.get(key) is None and len(cache) == 0


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
