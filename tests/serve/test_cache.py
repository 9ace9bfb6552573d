"""The LRU prediction cache: keys ignore what normalization removes, the least recently used entry goes first."""

from __future__ import annotations

import pytest

from mleditor.serve.cache import PredictionCache, cache_key


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
