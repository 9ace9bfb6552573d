"""A token bucket per caller: bursts up to the per-minute allowance, refilled continuously.

Each process (and each Ray replica) keeps its own buckets, so with N workers a caller may get up
to N times the allowance; put a shared limiter in front of the fleet when that matters.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable

from mleditor.errors import RateLimitedError

MAX_TRACKED_CALLERS = 100_000


class RateLimiter:
    """`check(key)` lets `per_minute` requests through per key and minute (0 = no limit)."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic,
                 max_keys: int = MAX_TRACKED_CALLERS) -> None:
        if per_minute < 0:
            raise ValueError(f"per_minute must be 0 (no limit) or more; got {per_minute}")
        self.per_minute = per_minute
        self.clock = clock
        self.max_keys = max_keys
        self._rate = per_minute / 60.0  # tokens per second
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # key -> (tokens, last refill)

    def check(self, key: str) -> None:
        """Take one token from `key`'s bucket, or raise RateLimitedError with the seconds to wait."""
        if self.per_minute == 0:
            return
        now = self.clock()
        tokens, last = self._buckets.pop(key, (float(self.per_minute), now))
        tokens = min(float(self.per_minute), tokens + (now - last) * self._rate)
        if tokens < 1.0:
            self._buckets[key] = (tokens, now)
            raise RateLimitedError(max(1, math.ceil((1.0 - tokens) / self._rate)), self.per_minute)
        self._buckets[key] = (tokens - 1.0, now)
        if len(self._buckets) > self.max_keys:
            # The least recently seen caller is dropped; it comes back with a full bucket, which errs on the side
            # of letting requests through rather than growing without bound.
            self._buckets.popitem(last=False)
