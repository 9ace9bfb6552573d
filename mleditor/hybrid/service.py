"""Door 3, hybrid: serve the stored prediction when it exists and is fresh, else compute it live and store it.

    request → validate (permission applies to stored answers too) → gather
            → look up (model id + version + content hash + the author's personal part, if any)
            → fresh?  yes: answer with source "precomputed"
                      no:  the live pipeline, answer with source "live", write back in the background

It writes no chain of steps: `HybridService` is a set of hooks on the live service's `Pipeline`
(`known_answer` before step 3, `after_respond` after step 6), added with `live.use(...)`, so the
API and the pages both answer through it. It composes through protocols only: any
`PredictionLookup` (the prediction store family through `StoreLookup`) and any live service with
`use`, `predict`, `model` and `metrics`. A store that fails never fails a request: lookups degrade
to live inference, write-backs are counted and dropped.

    service = PredictionService.from_settings(ServeSettings())
    hybrid = HybridService(service, StoreLookup.open("sqlite:///predictions.db"))
    result = await service.predict(PredictRequest(title, body, version="v3"))   # result.source
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol, TypeVar

from prometheus_client import CollectorRegistry, Counter

from mleditor.core.hooks import PipelineHooks
from mleditor.core.prediction import Prediction, personal_key
from mleditor.core.registry import ModelDirectory
from mleditor.core.requests import Context, KnownAnswer, PipelineResult, PredictRequest
from mleditor.core.stored import PredictionLookup, StoredPrediction
from mleditor.hybrid.settings import HybridSettings
from mleditor.serve.metrics import HitRatio

log = logging.getLogger("mleditor.hybrid")
T = TypeVar("T")


class _Metrics(Protocol):
    registry: CollectorRegistry


class LiveService(Protocol):
    """The serve door's PredictionService, as far as the hybrid door needs it."""

    model: ModelDirectory

    @property
    def metrics(self) -> _Metrics: ...

    def use(self, hook: PipelineHooks) -> None: ...

    async def predict(self, request: PredictRequest, client: str | None = None) -> PipelineResult: ...


class HybridMetrics:
    """Hit rate, stale hits refused, store errors and write-back failures, on the live service's registry.

    The hit ratio is computed from the counters when scraped, so with several worker processes it is
    the whole server's (the serve door's registry sums the counters over the workers first).
    """

    def __init__(self, registry: CollectorRegistry) -> None:
        self.hits = Counter("mleditor_hybrid_hits_total", "Answers served from a fresh stored prediction.",
                            registry=registry)
        self.misses = Counter("mleditor_hybrid_misses_total", "Lookups that found no stored prediction.",
                              registry=registry)
        self.stale = Counter("mleditor_hybrid_stale_refused_total",
                             "Stored predictions refused as too old or from another model.", registry=registry)
        self.store_errors = Counter("mleditor_hybrid_store_errors_total",
                                    "Lookups that failed or timed out; answered live instead.", registry=registry)
        self.writeback_failures = Counter("mleditor_hybrid_writeback_failures_total",
                                          "Live results that could not be stored.", registry=registry)
        self.hit_ratio = HitRatio(registry, "mleditor_hybrid_hit_ratio", "Hybrid hits over lookups since start.",
                                  "mleditor_hybrid_hits_total", ["mleditor_hybrid_misses_total",
                                                                 "mleditor_hybrid_stale_refused_total",
                                                                 "mleditor_hybrid_store_errors_total"])


class HybridService(PipelineHooks):
    """The stored-lookup and write-back hooks on `live`'s pipeline, and stored predictions by question id.

    Parameters:
        live: the serve door's `PredictionService` (its pipeline gets these hooks).
        lookup: where predictions are stored (`StoreLookup.open(url)`, or any `PredictionLookup`).
        ttl_s: a stored prediction older than this is recomputed live.
        clock: seconds since the epoch (tests pass a fake one).
        lookup_timeout_s: a lookup slower than this counts as a store error and the answer is live.
    """

    def __init__(self, live: LiveService, lookup: PredictionLookup, ttl_s: float = HybridSettings.ttl_s,
                 clock: Callable[[], float] = time.time,
                 lookup_timeout_s: float = HybridSettings.lookup_timeout_s) -> None:
        if ttl_s <= 0:
            raise ValueError(f"ttl_s must be more than 0 seconds; got {ttl_s}")
        self.live = live
        self.lookup = lookup
        self.ttl_s = ttl_s
        self.clock = clock
        self.lookup_timeout_s = lookup_timeout_s
        self.metrics = HybridMetrics(live.metrics.registry)
        # One thread for the store: SQLite connections stay on the thread that made them, and
        # store calls never compete with the event loop.
        self._store_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hybrid-store")
        self._pending: set[asyncio.Future[None]] = set()
        self._log = ThrottledLog(log, every_s=60.0, clock=clock)  # the counters count every failure
        self._last_store_error: str | None = None
        self._last_write_error: str | None = None
        live.use(self)

    @property
    def model_id(self) -> str:
        return self.live.model.model_id

    async def predict(self, request: PredictRequest, client: str | None = None) -> PipelineResult:
        """The live service's `predict`, which now passes these hooks (for callers holding the hybrid door)."""
        return await self.live.predict(request, client)

    def known_answer(self, context: Context) -> KnownAnswer | None:
        """The synchronous lookup (`Pipeline.run`); a failing store answers None."""
        try:
            found = self.lookup.get_by_content_hash(self.model_id, context.version, context.valid.content_hash,
                                                    personal_key(context.personal))
        except Exception as exc:  # noqa: BLE001 - any store failure degrades to live inference
            self._lookup_failed(exc)
            return None
        return self._answer(found, context)

    async def aknown_answer(self, context: Context) -> KnownAnswer | None:
        """The lookup on the store thread, bounded by lookup_timeout_s; a failing or slow store answers None."""
        try:
            found = await asyncio.wait_for(self._in_store_thread(
                self.lookup.get_by_content_hash, self.model_id, context.version, context.valid.content_hash,
                personal_key(context.personal)),
                self.lookup_timeout_s)
        except Exception as exc:  # noqa: BLE001 - any store failure degrades to live inference
            self._lookup_failed(exc)
            return None
        return self._answer(found, context)

    def after_respond(self, context: Context, result: PipelineResult) -> None:
        """Write a live answer back (in the background when on an event loop)."""
        if result.source != "live":
            return
        args = (result.prediction, context.valid.content_hash, context.valid.question.title)
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            self._save_now(*args)
            return
        future = asyncio.ensure_future(self._in_store_thread(self.lookup.save, *args))
        self._pending.add(future)
        future.add_done_callback(self._write_back_done)

    async def stored(self, site: str, question_id: int, version: str) -> StoredPrediction | None:
        """A stored prediction by question id (None when there is none); store errors propagate."""
        return await self._in_store_thread(self.lookup.get_prediction, site, question_id, version)

    async def drain(self) -> None:
        """Wait until the write-backs in flight are done (stored or counted as failed)."""
        if self._pending:
            await asyncio.gather(*list(self._pending), return_exceptions=True)

    async def close(self) -> None:
        """Drain the write-backs, then release the store thread (the app's shutdown calls this)."""
        await self.drain()
        self._store_thread.shutdown(wait=True)

    async def check(self) -> str:
        """Ask the store a trivial question now (bounded by lookup_timeout_s); then `health()`."""
        try:
            await asyncio.wait_for(self._in_store_thread(self.lookup.get_prediction, "_readyz", 0, "v3"),
                                   self.lookup_timeout_s)
            self._last_store_error = None
        except Exception as exc:  # noqa: BLE001 - any store failure is reported, never raised
            self._last_store_error = _first_line(exc) if str(exc) else "no answer in time"
        return self.health()

    def health(self) -> str:
        """"ok", or what failed last (lookups: answers are live; write-backs: nothing is stored), for /readyz."""
        problems = [f"lookups fail, answering live ({self._last_store_error})" if self._last_store_error else "",
                    f"write-backs fail ({self._last_write_error})" if self._last_write_error else ""]
        return "; ".join(p for p in problems if p) or "ok"

    def _answer(self, found: StoredPrediction | None, context: Context) -> KnownAnswer | None:
        self._last_store_error = None
        if found is None:
            self.metrics.misses.inc()
            return None
        if not self._is_fresh(found, context):
            self.metrics.stale.inc()
            return None
        self.metrics.hits.inc()
        return KnownAnswer(found.prediction, "lookup", source="precomputed", computed_at=found.created)

    def _lookup_failed(self, exc: Exception) -> None:
        self.metrics.store_errors.inc()
        self._last_store_error = _first_line(exc)
        self._log.warning("prediction store lookup failed; answering live: %s", str(exc) or type(exc).__name__)

    def _is_fresh(self, stored: StoredPrediction, context: Context) -> bool:
        """Young enough, from this model, and made with the same personal part as this request would get."""
        age = self.clock() - stored.created.timestamp()
        return (stored.prediction.model_id == self.model_id and age <= self.ttl_s
                and stored.prediction.personal == context.personal)

    def _save_now(self, prediction: Prediction, digest: str, title: str) -> None:
        try:
            self.lookup.save(prediction, digest, title)
        except Exception as exc:  # noqa: BLE001 - a failed write-back never fails the answer
            self._write_failed(exc)

    def _write_back_done(self, future: asyncio.Future[None]) -> None:
        self._pending.discard(future)
        if future.cancelled():
            self._write_failed(None)
        elif (exc := future.exception()) is not None:
            self._write_failed(exc)
        else:
            self._last_write_error = None

    def _write_failed(self, exc: BaseException | None) -> None:
        self.metrics.writeback_failures.inc()
        self._last_write_error = "cancelled" if exc is None else _first_line(exc)
        self._log.warning("could not store a live prediction: %s", self._last_write_error)

    async def _in_store_thread(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._store_thread, fn, *args)


def _first_line(exc: BaseException) -> str:
    return (str(exc) or type(exc).__name__).splitlines()[0][:200]


class ThrottledLog:
    """At most one line per `every_s` seconds per message template; the lines left out are counted in the next.

    A store that is down fails every request: the metrics count each failure, the log says so once a minute.
    """

    def __init__(self, logger: logging.Logger, every_s: float, clock: Callable[[], float] = time.time) -> None:
        self.logger = logger
        self.every_s = every_s
        self.clock = clock
        self._last: dict[str, float] = {}
        self._skipped: dict[str, int] = {}

    def warning(self, template: str, *args: object) -> None:
        now = self.clock()
        if now - self._last.get(template, float("-inf")) < self.every_s:
            self._skipped[template] = self._skipped.get(template, 0) + 1
            return
        skipped = self._skipped.pop(template, 0)
        self._last[template] = now
        suffix = f" (and {skipped} more like it since the last line)" if skipped else ""
        self.logger.warning(template + suffix, *args)
