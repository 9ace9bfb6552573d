"""Prometheus metrics for one app, on its own registry (several apps can live in one test process)."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

# 50 µs to 1 s, roughly ×2.5 per step: featurizing a short question takes ~0.1 ms, a batch ~1 ms.
STEP_BUCKETS = (0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)
REQUEST_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)
CONTENT_TYPE = CONTENT_TYPE_LATEST


class ServeMetrics:
    """The server's metrics: requests, latency per pipeline step, batch sizes, cache hits, errors by kind."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
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
        self.cache_hit_ratio = Gauge("mleditor_cache_hit_ratio", "Cache hits over lookups since start.", registry=r)
        self.errors = Counter("mleditor_errors_total", "Requests that failed, by kind of error.", ["kind"], registry=r)

    def observe_steps(self, timings_ms: dict[str, float]) -> None:
        """Record one request's step timings (milliseconds, as the pipeline reports them)."""
        for step, ms in timings_ms.items():
            self.step_seconds.labels(step).observe(ms / 1000)

    def observe_batch(self, rows: int, seconds: float) -> None:
        """The MicroBatcher's on_batch callback."""
        self.batch_rows.observe(rows)
        self.batch_seconds.observe(seconds)

    def track_hit_ratio(self, hit_rate: Callable[[], float]) -> None:
        """Read the cache's hit rate whenever /metrics is rendered."""
        self.cache_hit_ratio.set_function(hit_rate)

    def render(self) -> bytes:
        """The text exposition format for `/metrics`."""
        return generate_latest(self.registry)
