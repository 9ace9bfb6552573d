"""/metrics with several worker processes: every scrape counts every worker's requests, whichever answers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import httpx
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from mleditor.hybrid.service import HybridMetrics
from mleditor.serve.metrics import MULTIPROCESS_ENV, ServeMetrics, multiprocess_directory
from tests.helpers import GOOD_QUESTION, REPO_ROOT, start_server, stop_server

PREDICT_200 = ("mleditor_requests_total", {"route": "/predict/{model}", "status": "200"})


def sample(text: str, name: str, labels: dict[str, str] | None = None) -> float | None:
    """The value of one sample in a text exposition, or None."""
    for family in text_string_to_metric_families(text):
        for found in family.samples:
            if found.name == name and found.labels == (labels or {}):
                return found.value
    return None


def worker_script(folder: Path, requests: int, hits: int, misses: int, stay: bool) -> str:
    """A process that counts as a server worker would, then exits (or waits for its stdin to close)."""
    return textwrap.dedent(f"""
        import os, sys
        os.environ[{MULTIPROCESS_ENV!r}] = {str(folder)!r}   # before prometheus_client is imported, as uvicorn's workers
        from mleditor.hybrid.service import HybridMetrics
        from mleditor.serve.metrics import ServeMetrics
        metrics = ServeMetrics.from_environment()
        hybrid = HybridMetrics(metrics.registry)
        metrics.requests.labels("/predict/{{model}}", "200").inc({requests})
        metrics.cache_hits.inc({hits}); metrics.cache_misses.inc({misses})
        hybrid.hits.inc({hits}); hybrid.misses.inc({misses})
        print("counted", flush=True)
        if {stay}:
            sys.stdin.read()
    """)


def test_a_registry_over_the_workers_files_sums_them_ratios_included_and_drops_dead_workers(tmp_path):
    folder = tmp_path / "metrics"
    folder.mkdir()
    run = [sys.executable, "-c"]
    gone = subprocess.run([*run, worker_script(folder, 3, hits=1, misses=3, stay=False)], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=60)
    assert gone.stdout.strip() == "counted", gone.stderr
    alive = subprocess.Popen([*run, worker_script(folder, 4, hits=3, misses=1, stay=True)], cwd=REPO_ROOT,
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert alive.stdout is not None and alive.stdout.readline().strip() == "counted"
        reader = ServeMetrics(multiprocess_dir=str(folder))  # as the worker answering the scrape has them
        HybridMetrics(reader.registry)
        text = reader.render().decode()
    finally:
        alive.communicate(timeout=30)  # closes its stdin: it exits
    assert sample(text, PREDICT_200[0], PREDICT_200[1]) == 7.0
    assert sample(text, "mleditor_cache_hits_total") == 4.0 and sample(text, "mleditor_cache_hit_ratio") == 0.5
    assert sample(text, "mleditor_hybrid_hit_ratio") == 0.5  # (1 + 3) / (4 + 4), not either worker's ratio
    assert sample(text, "mleditor_worker_processes") == 1.0  # the one that exited is no longer counted
    assert not list(folder.glob(f"gauge_livesum_{gone_pid(folder, alive.pid)}.db"))


def gone_pid(folder: Path, alive_pid: int) -> int:
    [pid] = {int(p.stem.rsplit("_", 1)[1]) for p in folder.glob("counter_*.db")} - {alive_pid}
    return pid


def test_one_process_keeps_its_own_registry_and_ratios():
    first, second = ServeMetrics(), ServeMetrics()  # two apps in one process do not see each other's counts
    hybrid = HybridMetrics(first.registry)
    first.cache_hits.inc()
    first.cache_misses.inc(3)
    hybrid.hits.inc(2)
    hybrid.stale.inc(2)
    text = first.render().decode()
    assert sample(text, "mleditor_cache_hit_ratio") == 0.25 and sample(text, "mleditor_hybrid_hit_ratio") == 0.5
    assert sample(text, "mleditor_worker_processes") == 1.0
    assert sample(second.render().decode(), "mleditor_cache_hits_total") == 0.0
    assert first.registry.get_sample_value("mleditor_cache_hits_total") == 1.0


def test_the_multiprocess_directory_is_fresh_set_for_the_workers_and_removed_after(monkeypatch):
    monkeypatch.delenv(MULTIPROCESS_ENV, raising=False)
    with multiprocess_directory() as folder:
        assert os.environ[MULTIPROCESS_ENV] == folder and os.listdir(folder) == []
    assert MULTIPROCESS_ENV not in os.environ and not os.path.exists(folder)


def scrape(base: str) -> str:
    with httpx.Client(base_url=base, timeout=10) as client:  # a new connection: any worker may answer
        response = client.get("/metrics")
    response.raise_for_status()
    return response.text


def wait_for(condition: Callable[[], bool], what: str, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def two_workers_answering(base: str) -> bool:
    return all(sample(scrape(base), "mleditor_worker_processes") == 2.0 for _ in range(4))


def per_worker_counts(folder: Path) -> dict[int, float]:
    """Each worker's own count of answered predictions, read from its file alone."""
    counts = {}
    for path in folder.glob("counter_*.db"):
        families = MultiProcessCollector.merge([str(path)])
        counts[int(path.stem.rsplit("_", 1)[1])] = next(
            (s.value for f in families for s in f.samples if (s.name, s.labels) == PREDICT_200), 0.0)
    return counts


def test_every_scrape_counts_the_requests_of_both_workers_even_after_one_is_replaced(tmp_path):
    scratch = tmp_path / "tmp"  # where the CLI makes its multiprocess directory (TMPDIR)
    scratch.mkdir()
    server, base = start_server(tmp_path, "--workers", "2", TMPDIR=str(scratch), MLEDITOR_SERVE_LOG_LEVEL="warning",
                                MLEDITOR_SERVE_RATE_LIMIT_PER_MINUTE="0", MLEDITOR_SERVE_CACHE_SIZE="0")
    requests = 40
    try:
        [folder] = scratch.glob("mleditor-metrics-*")
        wait_for(lambda: two_workers_answering(base), "both workers")
        for _ in range(requests):
            with httpx.Client(base_url=base, timeout=10) as client:  # a new connection per request
                assert client.post("/predict/v2", json=GOOD_QUESTION).status_code == 200
        wait_for(lambda: sample(scrape(base), *PREDICT_200) == requests, "the last count")
        scrapes = [scrape(base) for _ in range(10)]
        assert [sample(text, *PREDICT_200) for text in scrapes] == [requests] * 10
        assert {sample(text, "mleditor_worker_processes") for text in scrapes} == {2.0}
        counts = per_worker_counts(folder)
        assert len(counts) == 2 and sum(counts.values()) == requests and min(counts.values()) > 0, counts

        victim = min(counts)
        os.kill(victim, signal.SIGKILL)  # uvicorn starts a new worker in its place
        wait_for(lambda: len(list(folder.glob("counter_*.db"))) == 3 and two_workers_answering(base),
                 "the replacement worker")
        assert [sample(scrape(base), *PREDICT_200) for _ in range(6)] == [requests] * 6  # the dead one's count stays
    finally:
        stop_server(server)
    assert not folder.exists() and not list(scratch.glob("mleditor-metrics-*"))  # the CLI removed it
