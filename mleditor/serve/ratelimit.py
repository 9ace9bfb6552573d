"""A token bucket per caller: bursts up to the per-minute allowance, refilled continuously.

Two backends keep the buckets, chosen by `rate_limit_backend` (`open_rate_limiter`):

* `shared` (the default): `SharedRateLimiter` keeps them in a SQLite file next to the accounts
  store, updated in one `BEGIN IMMEDIATE` transaction per request, so every worker process and
  every Ray replica on the machine that opens the same store charges the same bucket: one limit
  per key (or anonymous client IP), however many processes answer. When that file cannot be
  written in time, the request is counted in the process's own buckets instead (and logged): a
  busy disk never fails a request, it only loosens the limit to per process for that moment.
* `process`: `RateLimiter` keeps them in this process's memory; with N workers a caller may get
  up to N times the allowance.

Neither is shared across machines; `benchmarks/bench_workers.py` measures what each costs.

    limiter = open_rate_limiter("shared", per_minute=600, store_path="mleditor.db")
    limiter.check("key:demo-app")          # raises RateLimitedError(retry_after_s, per_minute) when spent
"""

from __future__ import annotations

import logging
import math
import sqlite3
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

from mleditor.errors import InvalidInputError, RateLimitedError
from mleditor.serve.settings import RATE_LIMIT_BACKENDS as BACKENDS

MAX_TRACKED_CALLERS = 100_000
REFILL_S = 60.0  # an untouched bucket is full again after a minute, whatever the allowance

log = logging.getLogger("mleditor.serve")

SCHEMA = """
CREATE TABLE IF NOT EXISTS rate_buckets (
    caller      TEXT PRIMARY KEY,      -- "key:<name>" or "ip:<address>"
    tokens      REAL NOT NULL,         -- requests left at refilled_at
    refilled_at REAL NOT NULL          -- seconds since the epoch (every process reads the same clock)
) WITHOUT ROWID;
"""
_READ = "SELECT tokens, refilled_at FROM rate_buckets WHERE caller = ?"
_WRITE = ("INSERT INTO rate_buckets (caller, tokens, refilled_at) VALUES (?, ?, ?) "
          "ON CONFLICT (caller) DO UPDATE SET tokens = excluded.tokens, refilled_at = excluded.refilled_at")
_PRUNE = "DELETE FROM rate_buckets WHERE refilled_at < ?"  # a full bucket is the same as no row


class RateLimiter:
    """`check(key)` lets `per_minute` requests through per key and minute (0 = no limit), in this process."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic,
                 max_keys: int = MAX_TRACKED_CALLERS) -> None:
        if per_minute < 0:
            raise ValueError(f"per_minute must be 0 (no limit) or more; got {per_minute}")
        self.per_minute = per_minute
        self.clock = clock
        self.max_keys = max_keys
        self._rate = per_minute / 60.0  # tokens per second
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # key -> (tokens, last refill)

    def close(self) -> None:
        """Release what the limiter holds (nothing in this process-local one)."""

    def check(self, key: str) -> None:
        """Take one token from `key`'s bucket, or raise RateLimitedError with the seconds to wait."""
        if self.per_minute == 0:
            return
        now = self.clock()
        tokens, last = self._buckets.pop(key, (float(self.per_minute), now))
        tokens = self._refilled(tokens, last, now)
        if tokens < 1.0:
            self._buckets[key] = (tokens, now)
            raise self._refusal(tokens)
        self._buckets[key] = (tokens - 1.0, now)
        if len(self._buckets) > self.max_keys:
            # The least recently seen caller is dropped; it comes back with a full bucket, which errs on the side
            # of letting requests through rather than growing without bound.
            self._buckets.popitem(last=False)

    def _refilled(self, tokens: float, last: float, now: float) -> float:
        return min(float(self.per_minute), tokens + max(0.0, now - last) * self._rate)

    def _refusal(self, tokens: float) -> RateLimitedError:
        return RateLimitedError(max(1, math.ceil((1.0 - tokens) / self._rate)), self.per_minute)


class SharedRateLimiter(RateLimiter):
    """The same bucket, kept in a SQLite file that every process on the machine opening it shares.

    Each `check` is one write transaction (read the bucket, refill it, take a token) on this
    process's own connection. Buckets need no durability, so the file is written without fsync
    (`synchronous = OFF`): that is why it is a file of its own, next to the accounts store, and
    never the file that holds the API keys. A transaction waits at most `wait_s` for another
    process's to finish (they take microseconds), then the request is counted in this process's
    buckets instead; so does every request while the file cannot be opened.

    Parameters:
        path: the SQLite file (see `shared_path`); ":memory:" keeps the buckets in this process only.
        per_minute: requests per key and minute; 0 is no limit.
        clock: seconds since the epoch, the same in every process (tests pass a fake one).
        wait_s: how long one check may wait for the file's write lock.

    Example:
        >>> import pathlib, tempfile
        >>> folder = tempfile.TemporaryDirectory()
        >>> first, second = (SharedRateLimiter(pathlib.Path(folder.name, "b.db"), per_minute=2) for _ in "12")
        >>> first.check("key:a"); second.check("key:a")     # two worker processes, one bucket
        >>> second.check("key:a")
        Traceback (most recent call last):
        ...
        mleditor.errors.RateLimitedError: too many requests: the limit is 2 per minute; retry in 30 s
        >>> first.close(); second.close(); folder.cleanup()
    """

    def __init__(self, path: Path | str, per_minute: int, clock: Callable[[], float] = time.time,
                 wait_s: float = 0.1, max_keys: int = MAX_TRACKED_CALLERS) -> None:
        super().__init__(per_minute, clock, max_keys)
        self.path = str(path)
        self.wait_s = wait_s
        self._lock = threading.Lock()
        self._next_prune = 0.0
        self._last_warning = float("-inf")
        self._conn: sqlite3.Connection | None = None
        try:
            self._conn = _connect(self.path)
        except sqlite3.Error as exc:
            self._degraded(exc)

    def check(self, key: str) -> None:
        """Take one token from `key`'s shared bucket, or raise RateLimitedError with the seconds to wait."""
        if self.per_minute == 0:
            return
        try:
            tokens = self._take(key, self.clock())
        except sqlite3.Error as exc:
            self._degraded(exc)
            super().check(key)
            return
        if tokens < 1.0:
            raise self._refusal(tokens)

    def close(self) -> None:
        """Close the connection; later checks count in this process's buckets."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def _take(self, key: str, now: float) -> float:
        """The bucket's tokens at `now`, less the one taken when there was one, in one transaction."""
        with self._lock:
            if self._conn is None:
                raise sqlite3.OperationalError(f"{self.path} is not open")
            conn = self._conn
            _begin_immediate(conn, self.wait_s)
            try:
                row = conn.execute(_READ, (key,)).fetchone()
                tokens = float(self.per_minute) if row is None else self._refilled(row[0], row[1], now)
                if tokens >= 1.0:
                    conn.execute(_WRITE, (key, tokens - 1.0, now))
                if now >= self._next_prune:  # rows of buckets that are full again: bounded by a minute of callers
                    conn.execute(_PRUNE, (now - REFILL_S,))
                    self._next_prune = now + REFILL_S
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            return tokens

    def _degraded(self, exc: sqlite3.Error) -> None:
        now = time.monotonic()
        if now - self._last_warning >= REFILL_S:  # once a minute at most: a stuck file would fail every request
            self._last_warning = now
            log.warning("the shared rate limit in %s is not available (%s); counting per process meanwhile",
                        self.path, exc)


def shared_path(store_path: str) -> str:
    """The bucket file for an accounts store: `mleditor.db` -> `mleditor.ratelimit.db`, in the same folder."""
    if store_path == ":memory:":
        return store_path
    path = Path(store_path).expanduser()
    return str(path.with_name(f"{path.stem}.ratelimit{path.suffix}"))


def open_rate_limiter(backend: str, per_minute: int, store_path: str) -> RateLimiter:
    """The limiter `rate_limit_backend` names: "shared" (next to `store_path`) or "process"."""
    if backend not in BACKENDS:
        raise InvalidInputError(f"unknown rate limit backend {backend!r}; choose {' or '.join(BACKENDS)}")
    if backend == "process" or per_minute == 0:
        return RateLimiter(per_minute)
    return SharedRateLimiter(shared_path(store_path), per_minute)


def _connect(path: str) -> sqlite3.Connection:
    if path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    # Setting up may wait for the other workers doing the same at start; checks never wait this long.
    conn = sqlite3.connect(path, check_same_thread=False, timeout=10.0, isolation_level=None)
    try:
        if path != ":memory:":
            conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = OFF")
        conn.executescript(SCHEMA)
        conn.execute("PRAGMA busy_timeout = 0")  # _begin_immediate waits, in steps shorter than SQLite's 1 ms
    except sqlite3.Error:
        conn.close()
        raise
    return conn


def _begin_immediate(conn: sqlite3.Connection, wait_s: float) -> None:
    """Take the file's write lock, retrying every 10 µs to 1 ms while another process holds it, up to `wait_s`."""
    deadline = time.monotonic() + wait_s
    delay = 1e-5
    while True:
        try:
            conn.execute("BEGIN IMMEDIATE")
            return
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode != sqlite3.SQLITE_BUSY or time.monotonic() + delay > deadline:
                raise
        time.sleep(delay)
        delay = min(delay * 2, 1e-3)

