"""Prometheus metrics for one app, on its own registry; with several worker processes, counted over all of them.

One process (tests, `mleditor serve`, each Ray replica): the registry holds this process's values,
and several apps can live in one test process. Several uvicorn workers (`mleditor serve --workers
N`): the CLI opens a `multiprocess_directory` before they start, so prometheus_client (which reads
$PROMETHEUS_MULTIPROC_DIR when it is imported) keeps each worker's values in files there, and
`MetricsRegistry` answers every metric registered on it — these and any a composing door adds,
such as the hybrid door's — from all the files: whichever worker answers a scrape shows the whole
server. Ratios are computed from the summed counters when scraped (`HitRatio`), never from one
worker's values, and the live gauges of a worker that died are dropped (`mark_process_dead`) as
soon as a scrape finds it gone; its counts stay in the totals.

A Gauge needs a `multiprocess_mode` (`livesum` for "how many", the default `all` keeps a series per
worker); a Gauge's `set_function` only ever reads one process, so a derived value is a collector.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_client.registry import Collector

# 50 µs to 1 s, roughly ×2.5 per step: featurizing a short question takes ~0.1 ms, a batch ~1 ms.
STEP_BUCKETS = (0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)
REQUEST_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)
CONTENT_TYPE = CONTENT_TYPE_LATEST
MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"  # prometheus_client's own variable


class ServeMetrics:
    """The server's metrics: requests, latency per pipeline step, batch sizes, cache hits, errors by kind.

    `multiprocess_dir`: the folder the worker processes write their values to (see the module
    docstring); None counts this process alone. `from_environment` picks what prometheus_client does.
    """

    def __init__(self, multiprocess_dir: str | None = None) -> None:
        self.registry: CollectorRegistry = MetricsRegistry(multiprocess_dir)
        r = self.registry
        self.requests = Counter("mleditor_requests_total", "HTTP requests answered, by route template and status.",
                                ["route", "status"], registry=r)
        self.request_seconds = Histogram("mleditor_request_seconds", "Time to answer an HTTP request, by route.",
                                         ["route"], buckets=REQUEST_BUCKETS, registry=r)
        self.step_seconds = Histogram("mleditor_step_seconds", "Time spent in each pipeline step.",
                                      ["step"], buckets=STEP_BUCKETS, registry=r)
        self.batch_rows = Histogram("mleditor_batch_rows", "Model rows per micro-batched model call.",
                                    buckets=BATCH_BUCKETS, registry=r)
        self.batch_seconds = Histogram("mleditor_batch_seconds", "Time of one micro-batched model call.",
                                       buckets=STEP_BUCKETS, registry=r)
        self.cache_hits = Counter("mleditor_cache_hits_total", "Predictions answered from the cache.", registry=r)
        self.cache_misses = Counter("mleditor_cache_misses_total", "Predictions the cache did not hold.", registry=r)
        self.cache_hit_ratio = HitRatio(r, "mleditor_cache_hit_ratio", "Cache hits over lookups since start.",
                                        "mleditor_cache_hits_total", ["mleditor_cache_misses_total"])
        self.errors = Counter("mleditor_errors_total", "Requests that failed, by kind of error.", ["kind"], registry=r)
        self.worker_processes = Gauge("mleditor_worker_processes", "Server processes answering (uvicorn workers).",
                                      multiprocess_mode="livesum", registry=r)
        self.worker_processes.set(1)

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> ServeMetrics:
        """Across the workers when $PROMETHEUS_MULTIPROC_DIR is set (prometheus_client writes there), else alone."""
        folder = (os.environ if environ is None else environ).get(MULTIPROCESS_ENV)
        return cls(folder or None)

    def observe_steps(self, timings_ms: dict[str, float]) -> None:
        """Record one request's step timings (milliseconds, as the pipeline reports them)."""
        for step, ms in timings_ms.items():
            self.step_seconds.labels(step).observe(ms / 1000)

    def observe_batch(self, rows: int, seconds: float) -> None:
        """The MicroBatcher's on_batch callback."""
        self.batch_rows.observe(rows)
        self.batch_seconds.observe(seconds)

    def render(self) -> bytes:
        """The text exposition format for `/metrics`."""
        return generate_latest(self.registry)


class MetricsRegistry(CollectorRegistry):
    """A CollectorRegistry whose metrics are, with a `multiprocess_dir`, the sums over every worker's files.

    Counters, histograms and gauges registered on it (`Counter(..., registry=r)`) are answered
    from the files; other collectors (`HitRatio`) are asked as usual, and read those sums through
    the registry. One scrape reads the files once.
    """

    def __init__(self, multiprocess_dir: str | None = None) -> None:
        super().__init__(auto_describe=True)
        self.multiprocess_dir = multiprocess_dir
        self._stand_ins: dict[Collector, Collector] = {}
        self._scrape = threading.local()

    def register(self, collector: Collector) -> None:
        if self.multiprocess_dir is None or not isinstance(collector, MetricWrapperBase):
            super().register(collector)
            return
        stand_in = _AcrossWorkers(collector, self)
        super().register(stand_in)
        self._stand_ins[collector] = stand_in

    def unregister(self, collector: Collector) -> None:
        super().unregister(self._stand_ins.pop(collector, collector))

    def collect(self) -> Iterable[Metric]:
        if self.multiprocess_dir is None or getattr(self._scrape, "families", None) is not None:
            yield from super().collect()
            return
        self._scrape.families = self.across_workers()
        try:
            yield from super().collect()
        finally:
            self._scrape.families = None

    def across_workers(self) -> dict[str, Metric]:
        """Every worker's values, merged by metric name (those of this scrape when one is under way)."""
        families: dict[str, Metric] | None = getattr(self._scrape, "families", None)
        if families is not None:
            return families
        if self.multiprocess_dir is None:
            raise RuntimeError("this registry counts one process; it has no workers' files to read")
        mark_dead_workers(self.multiprocess_dir)
        # prometheus_client leaves its multiprocess module unannotated.
        merged: list[Metric] = MultiProcessCollector(None, self.multiprocess_dir).collect()  # type: ignore[no-untyped-call]
        return {family.name: family for family in merged}


class _AcrossWorkers:
    """Stands in for one metric in a MetricsRegistry: its family as merged from every worker's file."""

    def __init__(self, metric: MetricWrapperBase, registry: MetricsRegistry) -> None:
        self.metric = metric
        self.registry = registry

    def describe(self) -> Iterable[Metric]:
        return self.metric.describe()

    def collect(self) -> Iterable[Metric]:
        families = self.registry.across_workers()
        return [families.get(empty.name, empty) for empty in self.metric.describe()]


class HitRatio:
    """A gauge computed when scraped: hits over hits plus `others`, from counters on the same registry.

    Registered on `registry` when made. Over several workers the counters are summed first, so
    the ratio is the server's, not the answering worker's.

        HitRatio(registry, "mleditor_cache_hit_ratio", "Cache hits over lookups.",
                 "mleditor_cache_hits_total", ["mleditor_cache_misses_total"])
    """

    def __init__(self, registry: CollectorRegistry, name: str, documentation: str, hits: str,
                 others: Sequence[str]) -> None:
        self.registry = registry
        self.name = name
        self.documentation = documentation
        self.hits = hits
        self.others = tuple(others)
        registry.register(self)

    def describe(self) -> Iterable[Metric]:
        return [GaugeMetricFamily(self.name, self.documentation)]

    def collect(self) -> Iterable[Metric]:
        counted = self.registry.restricted_registry([self.hits, *self.others]).collect()
        values = {sample.name: sample.value for family in counted for sample in family.samples}
        hits = values.get(self.hits, 0.0)
        total = hits + sum(values.get(name, 0.0) for name in self.others)
        return [GaugeMetricFamily(self.name, self.documentation, value=hits / total if total else 0.0)]


@contextmanager
def multiprocess_directory() -> Iterator[str]:
    """A fresh folder for worker processes' metric files, in $PROMETHEUS_MULTIPROC_DIR while open; removed after.

    Open it before the workers start (they inherit the variable); a folder left from an earlier
    run would add that run's counts, so it is never reused.
    """
    folder = tempfile.mkdtemp(prefix="mleditor-metrics-")
    previous = os.environ.get(MULTIPROCESS_ENV)
    os.environ[MULTIPROCESS_ENV] = folder
    try:
        yield folder
    finally:
        if previous is None:
            os.environ.pop(MULTIPROCESS_ENV, None)
        else:
            os.environ[MULTIPROCESS_ENV] = previous
        shutil.rmtree(folder, ignore_errors=True)


def mark_dead_workers(folder: str) -> None:
    """`mark_process_dead` for each process with live-gauge files in `folder` that no longer runs."""
    for path in Path(folder).glob("gauge_live*_*.db"):
        pid = path.stem.rsplit("_", 1)[-1]
        if pid.isdigit() and not _running(int(pid)):
            mark_process_dead(int(pid), folder)  # type: ignore[no-untyped-call]


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: running
        return True
    return True
