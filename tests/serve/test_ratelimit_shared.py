"""The shared rate limit: one bucket per caller in a SQLite file, however many processes charge it."""

from __future__ import annotations

import doctest
import logging
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import httpx
import pytest

import mleditor.serve.ratelimit
from mleditor.errors import InvalidInputError
from mleditor.serve.ratelimit import (
    RateLimitedError,
    RateLimiter,
    SharedRateLimiter,
    open_rate_limiter,
    shared_path,
)
from mleditor.serve.settings import ServeSettings
from tests.helpers import GOOD_QUESTION, REPO_ROOT, start_server, stop_server


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def allowed(limiter: RateLimiter, key: str, tries: int) -> int:
    passed = 0
    for _ in range(tries):
        try:
            limiter.check(key)
            passed += 1
        except RateLimitedError:
            pass
    return passed


def test_two_limiters_on_one_file_share_each_callers_budget(tmp_path):
    clock = FakeClock()
    first, second = (SharedRateLimiter(tmp_path / "b.db", per_minute=3, clock=clock) for _ in range(2))
    first.check("key:a")
    second.check("key:a")
    first.check("key:a")
    with pytest.raises(RateLimitedError) as info:
        second.check("key:a")
    assert (info.value.retry_after_s, info.value.per_minute) == (20, 3)  # one token per 20 s at 3 per minute
    second.check("key:b")  # another caller has its own bucket
    clock.now += 20.0
    first.check("key:a")  # the token came back, for both
    with pytest.raises(RateLimitedError):
        second.check("key:a")


def test_worker_processes_on_one_file_let_the_allowance_through_once(tmp_path):
    # Three processes, as three uvicorn workers would, each trying 30 times with an allowance of 20.
    script = textwrap.dedent(f"""
        from mleditor.errors import RateLimitedError
        from mleditor.serve.ratelimit import SharedRateLimiter
        limiter, passed = SharedRateLimiter({str(tmp_path / 'b.db')!r}, per_minute=20), 0
        for _ in range(30):
            try:
                limiter.check("ip:10.0.0.1")
                passed += 1
            except RateLimitedError:
                pass
        print(passed)
    """)
    workers = [subprocess.Popen([sys.executable, "-c", script], cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True)
               for _ in range(3)]
    try:
        passed = [int(worker.communicate(timeout=60)[0]) for worker in workers]
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
    assert sum(passed) in (20, 21)  # 21 only if a token comes back (one per 3 s) while they run


def test_rows_of_buckets_full_again_are_dropped_after_a_minute(tmp_path):
    clock = FakeClock()
    limiter = SharedRateLimiter(tmp_path / "b.db", per_minute=5, clock=clock)
    for n in range(50):
        limiter.check(f"ip:10.0.0.{n}")
    clock.now += 61.0
    limiter.check("ip:10.0.1.1")
    with sqlite3.connect(tmp_path / "b.db") as db:
        assert db.execute("SELECT caller FROM rate_buckets").fetchall() == [("ip:10.0.1.1",)]
    limiter.close()


def test_a_file_locked_too_long_counts_the_request_in_this_process_and_says_so(tmp_path, caplog):
    limiter = SharedRateLimiter(tmp_path / "b.db", per_minute=2, wait_s=0.01)
    other = sqlite3.connect(tmp_path / "b.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, "mleditor.serve"):
        assert allowed(limiter, "key:a", 3) == 2  # still limited, by this process's bucket
    assert time.monotonic() - started < 1.0
    assert "counting per process" in caplog.text and caplog.text.count("not available") == 1  # once a minute
    other.execute("ROLLBACK")
    other.close()
    assert allowed(limiter, "key:a", 3) == 2  # the shared bucket answers again (its own count)
    limiter.close()


def test_a_file_that_cannot_be_opened_degrades_to_this_process(tmp_path, caplog):
    (tmp_path / "b.db").write_text("not a database")
    with caplog.at_level(logging.WARNING, "mleditor.serve"):
        limiter = SharedRateLimiter(tmp_path / "b.db", per_minute=1)
        limiter.check("key:a")
        with pytest.raises(RateLimitedError):
            limiter.check("key:a")
    assert "counting per process" in caplog.text


def test_the_backend_setting_picks_the_limiter_and_the_shared_one_lives_next_to_the_store(tmp_path, make_service):
    assert ServeSettings().rate_limit_backend == "shared"
    assert shared_path(str(tmp_path / "mleditor.db")) == str(tmp_path / "mleditor.ratelimit.db")
    assert shared_path(":memory:") == ":memory:"
    service = make_service(rate_limit_per_minute=5)
    assert isinstance(service.rate_limiter, SharedRateLimiter)
    assert Path(service.rate_limiter.path) == tmp_path / "serve.ratelimit.db"
    assert type(make_service(rate_limit_per_minute=5, rate_limit_backend="process").rate_limiter) is RateLimiter
    assert type(open_rate_limiter("shared", 0, str(tmp_path / "x.db"))) is RateLimiter  # no limit: no file
    with pytest.raises(InvalidInputError, match="rate_limit_backend='redis' is not valid; expected one of shared"):
        ServeSettings(rate_limit_backend="redis")


def test_the_docstring_example_runs():
    assert doctest.testmod(mleditor.serve.ratelimit).failed == 0


def test_one_limit_per_caller_across_the_worker_processes_of_a_server(tmp_path):
    # 40 requests on fresh connections, spread over 2 workers, with an allowance of 10 a minute.
    server, base = start_server(tmp_path, "--workers", "2", MLEDITOR_SERVE_RATE_LIMIT_PER_MINUTE="10",
                                MLEDITOR_SERVE_CACHE_SIZE="0", MLEDITOR_SERVE_LOG_LEVEL="warning")
    try:
        statuses = []
        for _ in range(40):
            with httpx.Client(base_url=base, timeout=10) as client:  # a new connection per request
                statuses.append(client.post("/predict/v1", json=GOOD_QUESTION).status_code)
    finally:
        stop_server(server)
    assert set(statuses) == {200, 429}
    assert statuses.count(200) in (10, 11)  # 11 only if a token came back (one per 6 s) meanwhile
