"""Door 3, hybrid: serve the stored prediction when it exists and is fresh, else compute it live and store it.

    request → validate (permission applies to stored answers too)
            → look up (model id + version + content hash, or site + question id)
            → fresh?  yes: answer with source "precomputed"
                      no:  the live pipeline, answer with source "live", write back in the background

It composes two doors through core interfaces only: any `PredictionLookup` (the batch door's
store through `BatchStoreLookup`) and any live service with the serve door's `predict` shape.
A store that fails never fails a request: lookups degrade to live inference, write-backs are
counted and dropped.
"""

from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import Any, Protocol

from prometheus_client import Counter, Gauge

from mleditor.core.pipeline import PipelineResult, PredictRequest, StepTimer, describe_label, validate
from mleditor.core.prediction import Prediction
from mleditor.core.stored import PredictionLookup, StoredPrediction, content_hash

log = logging.getLogger("mleditor.hybrid")
DEFAULT_TTL_S = 7 * 24 * 3600.0
LOOKUP_TIMEOUT_S = 0.5


class LiveService(Protocol):
    """The serve door's PredictionService, as far as hybrid needs it."""

    authorizer: Any
    limits: Any
    model: Any
    metrics: Any

    async def predict(self, request: PredictRequest, client: str = "-") -> Any: ...


@dataclass(frozen=True)
class HybridResult(PipelineResult):
    """A pipeline result that says where it came from: "precomputed" or "live"."""

    cached: bool = False
    source: str = "live"
    computed_at: str | None = None

    def to_dict(self) -> dict[str, Any]:
        payload = {**super().to_dict(), "cached": self.cached, "source": self.source}
        if self.computed_at:
            payload["computed_at"] = self.computed_at
        return payload


class HybridMetrics:
    """Hit rate, stale hits refused, store errors and write-back failures, on the live service's registry."""

    def __init__(self, registry: Any) -> None:
        self.hits = Counter("mleditor_hybrid_hits_total", "Answers served from a fresh stored prediction.", registry=registry)
        self.misses = Counter("mleditor_hybrid_misses_total", "Lookups that found no stored prediction.", registry=registry)
        self.stale = Counter("mleditor_hybrid_stale_refused_total",
                             "Stored predictions refused as too old or from another model.", registry=registry)
        self.store_errors = Counter("mleditor_hybrid_store_errors_total",
                                    "Lookups that failed or timed out; answered live instead.", registry=registry)
        self.writeback_failures = Counter("mleditor_hybrid_writeback_failures_total",
                                          "Live results that could not be stored.", registry=registry)
        self.hit_ratio = Gauge("mleditor_hybrid_hit_ratio", "Hybrid hits over lookups since start.", registry=registry)
        self.hit_ratio.set_function(self._ratio)

    def _ratio(self) -> float:
        hits = self.hits._value.get()
        total = hits + self.misses._value.get() + self.stale._value.get() + self.store_errors._value.get()
        return hits / total if total else 0.0


class HybridService:
    """Looks up before computing; the same `predict` shape as the live service, plus `source` in the answer."""

    def __init__(self, live: LiveService, lookup: PredictionLookup, ttl_s: float = DEFAULT_TTL_S,
                 clock: Any = time.time) -> None:
        if ttl_s <= 0:
            raise ValueError(f"ttl_s must be more than 0 seconds; got {ttl_s}")
        self.live = live
        self.lookup = lookup
        self.ttl_s = ttl_s
        self.clock = clock
        self.metrics = HybridMetrics(live.metrics.registry)
        # One thread for the store: SQLite connections stay on the thread that made them, and
        # store calls never compete with the event loop.
        self._store_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hybrid-store")
        self._pending: set[asyncio.Future] = set()

    @property
    def model_id(self) -> str:
        return self.live.model.model_id

    async def predict(self, request: PredictRequest, client: str = "-") -> HybridResult:
        timer = StepTimer()
        valid = validate(request, self.live.authorizer, self.live.limits)
        timer.lap("validate")
        digest = content_hash(valid.question.title, valid.question.body)
        stored = await self._find(digest, request.version)
        timer.lap("lookup")
        if stored is not None and self._is_fresh(stored):
            self.metrics.hits.inc()
            return self._precomputed(stored, request, timer.timings_ms)
        if stored is not None:
            self.metrics.stale.inc()
        live = await self.live.predict(request, client)
        self._write_back(live.prediction, digest, valid.question.title)
        return HybridResult(**{**vars(live), "source": "live"})

    async def stored(self, site: str, question_id: int, version: str) -> StoredPrediction | None:
        """A stored prediction by question id (None when there is none); store errors propagate."""
        return await self._in_store_thread(self.lookup.find_by_question, site, question_id, version)

    async def drain(self) -> None:
        """Wait until the write-backs in flight are done (stored or counted as failed)."""
        if self._pending:
            await asyncio.gather(*list(self._pending), return_exceptions=True)

    async def close(self) -> None:
        """Drain the write-backs, then release the store thread (the app's shutdown calls this)."""
        await self.drain()
        self._store_thread.shutdown(wait=True)

    def _is_fresh(self, stored: StoredPrediction) -> bool:
        age = self.clock() - stored.created.timestamp()
        return stored.prediction.model_id == self.model_id and age <= self.ttl_s

    async def _find(self, digest: str, version: str) -> StoredPrediction | None:
        try:
            found = await asyncio.wait_for(
                self._in_store_thread(self.lookup.find_by_hash, self.model_id, version, digest), LOOKUP_TIMEOUT_S)
        except Exception as exc:  # noqa: BLE001 - any store failure degrades to live inference
            self.metrics.store_errors.inc()
            log.warning("prediction store lookup failed; answering live: %s", exc)
            return None
        if found is None:
            self.metrics.misses.inc()
        return found

    def _write_back(self, prediction: Prediction, digest: str, title: str) -> None:
        future = asyncio.ensure_future(self._in_store_thread(self.lookup.save, prediction, digest, title))
        self._pending.add(future)
        future.add_done_callback(self._write_back_done)

    def _write_back_done(self, future: asyncio.Future) -> None:
        self._pending.discard(future)
        if future.cancelled() or future.exception() is not None:
            self.metrics.writeback_failures.inc()
            log.warning("could not store a live prediction: %s", None if future.cancelled() else future.exception())

    async def _in_store_thread(self, fn: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._store_thread, fn, *args)

    def _precomputed(self, stored: StoredPrediction, request: PredictRequest, timings_ms: dict[str, float]) -> HybridResult:
        prediction = replace(stored.prediction, model_version=request.version)
        label = describe_label(prediction.score)
        confidence = f"{label} ({prediction.score:.2f}); precomputed {stored.created:%Y-%m-%d %H:%M} UTC"
        return HybridResult(prediction, confidence, label, request.request_id, timings_ms, None,
                            cached=False, source="precomputed", computed_at=stored.created.isoformat())


class BatchStoreLookup:
    """The batch door's `PredictionStore` as a `PredictionLookup`.

    Live results have no site or question id: they are stored under site `_live` with an id taken
    from their content hash, so a later identical question finds them by hash.
    """

    LIVE_SITE = "_live"

    def __init__(self, store: Any) -> None:
        self.store = store

    @classmethod
    def open(cls, url: str) -> BatchStoreLookup:
        from mleditor.stores.predictions.factory import open_store

        return cls(open_store(url))

    def find_by_hash(self, model_id: str, version: str, content_hash: str) -> StoredPrediction | None:
        return self._stored(self.store.get_by_content_hash(model_id, version, content_hash))

    def find_by_question(self, site: str, question_id: int, version: str) -> StoredPrediction | None:
        return self._stored(self.store.get_prediction(site, question_id, version))

    def save(self, prediction: Prediction, content_hash: str, title: str) -> None:
        from mleditor.batch.scoring import prediction_record

        question_id = int(content_hash[:15], 16)
        self.store.upsert([prediction_record(self.LIVE_SITE, question_id, title, content_hash, prediction)])

    @staticmethod
    def _stored(record: Any) -> StoredPrediction | None:
        if record is None:
            return None
        created = datetime.fromisoformat(record.created)
        if created.tzinfo is None:
            created = created.replace(tzinfo=timezone.utc)
        return StoredPrediction(record.to_prediction(), record.content_hash, created)


def create_hybrid_app(settings: Any) -> Any:
    """The serve door's app with this hybrid layer in front of `POST /predict` (settings.hybrid_store is required)."""
    from mleditor.serve.app import create_app
    from mleditor.serve.service import PredictionService

    if not settings.hybrid_store:
        raise ValueError("hybrid_store is not set; give a prediction store URL, e.g. sqlite:///predictions.db")
    service = PredictionService.from_settings(settings)
    front = HybridService(service, BatchStoreLookup.open(settings.hybrid_store), settings.hybrid_ttl_s)
    return create_app(settings, service=service, front=front)


def hybrid_app_from_env() -> Any:
    """The factory for `uvicorn --factory` worker processes when a hybrid store is configured."""
    from mleditor.serve.logs import configure_logging
    from mleditor.serve.settings import load_settings

    settings = load_settings()
    configure_logging(settings.log_level)
    return create_hybrid_app(settings)
