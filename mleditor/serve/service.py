"""The prediction service: the core `Pipeline`, asynchronous, with the serve door's runner and hooks.

`PredictionService` holds what a server process needs (model, micro-batcher, cache, authorizer,
profiles, rate limiter, metrics) and knows nothing about HTTP, so the FastAPI app, its pages and a
Ray Serve replica all wrap it. It writes no chain of steps: `predict` is `Pipeline.arun` with

* runner: `MicroBatchRunner` — concurrent requests share one model call;
* hooks, in order: `RateLimit` (after validation, so a refused key costs nothing), any hooks a
  composing door adds with `use` (the hybrid door's stored lookup), `CacheHook` (repeated
  questions, per author when personalized), `ObserveSteps` (per-step latency metrics);
* personal: when the model directory has personal parts, a request whose user's profile names an
  author with one is scored with it (`mleditor.core.personal`); a part that fails its checks stops
  the service from starting.

    service = PredictionService.from_settings(ServeSettings())
    result = await service.predict(PredictRequest(title, body, version="v3"))
"""

from __future__ import annotations

import dataclasses

from mleditor.core.access import Authorizer, Caller, ProfileSource
from mleditor.core.hooks import PipelineHooks
from mleditor.core.personal import PersonalScorer, has_personal
from mleditor.core.pipeline import Pipeline
from mleditor.core.prediction import personal_key
from mleditor.core.registry import ModelDirectory, resolve_model
from mleditor.core.requests import Context, KnownAnswer, PipelineResult, PredictRequest
from mleditor.core.runners import ScoreFn
from mleditor.core.scorer import OnnxScorer
from mleditor.core.validation import InputLimits
from mleditor.errors import MLEditorError
from mleditor.serve.batching import MicroBatcher, MicroBatchRunner
from mleditor.serve.cache import CacheKey, PredictionCache
from mleditor.serve.metrics import ServeMetrics
from mleditor.serve.ratelimit import RateLimiter, open_rate_limiter
from mleditor.serve.settings import ServeSettings
from mleditor.stores.accounts import AccountStore
from mleditor.stores.keys import ANONYMOUS, ApiKeyAuthorizer
from mleditor.stores.profiles import SqliteProfiles


class RateLimit(PipelineHooks):
    """Charges the caller's request budget as soon as the caller is known — before the text is converted or
    featurized, and before a stored or cached answer is looked up: per API key, or per client IP when anonymous."""

    def __init__(self, limiter: RateLimiter) -> None:
        self.limiter = limiter

    def after_authorize(self, request: PredictRequest, caller: Caller) -> None:
        self.limiter.check(f"ip:{request.client}" if caller.name == ANONYMOUS else f"key:{caller.name}")


class CacheHook(PipelineHooks):
    """Answers a repeated question (same model, version and checked text) from the LRU cache."""

    def __init__(self, cache: PredictionCache[KnownAnswer], model_id: str, metrics: ServeMetrics) -> None:
        self.cache = cache
        self.model_id = model_id
        self.metrics = metrics

    def known_answer(self, context: Context) -> KnownAnswer | None:
        known = self.cache.get(self._key(context))
        (self.metrics.cache_hits if known is not None else self.metrics.cache_misses).inc()
        return known

    def after_respond(self, context: Context, result: PipelineResult) -> None:
        if not result.cached and result.source == "live":
            self.cache.put(self._key(context), KnownAnswer(result.prediction, "cache", cached=True,
                                                           body_words=result.body_words))

    def _key(self, context: Context) -> CacheKey:
        # A personalized answer is its author's: the author's part is part of the key.
        return self.model_id, context.version, context.valid.content_hash, personal_key(context.personal)


class ObserveSteps(PipelineHooks):
    """Records each answer's step timings in the latency histograms."""

    def __init__(self, metrics: ServeMetrics) -> None:
        self.metrics = metrics

    def after_respond(self, context: Context, result: PipelineResult) -> None:
        self.metrics.observe_steps(result.timings_ms)


class PredictionService:
    """One process's pipeline for the serve door (see the module docstring for its runner and hooks)."""

    def __init__(self, model: ModelDirectory, score: ScoreFn, authorizer: Authorizer, profiles: ProfileSource, *,
                 store: AccountStore | None = None, cache: PredictionCache[KnownAnswer] | None = None,
                 rate_limiter: RateLimiter | None = None, metrics: ServeMetrics | None = None,
                 max_batch_size: int = 32, max_wait_ms: float = 2.0, limits: InputLimits = InputLimits(),
                 personal: PersonalScorer | None = None) -> None:
        self.model = model
        self.authorizer = authorizer
        self.profiles = profiles
        self.store = store
        self.cache: PredictionCache[KnownAnswer] = cache if cache is not None else PredictionCache(0)
        self.rate_limiter = rate_limiter or RateLimiter(0)
        self.metrics = metrics or ServeMetrics.from_environment()
        self.limits = limits
        self.batcher = MicroBatcher(score, max_batch_size, max_wait_ms, on_batch=self.metrics.observe_batch)
        self._cache_hook = CacheHook(self.cache, model.model_id, self.metrics)
        self.pipeline = Pipeline(model, MicroBatchRunner(self.batcher), authorizer=authorizer, profiles=profiles,
                                 hooks=[RateLimit(self.rate_limiter), self._cache_hook, ObserveSteps(self.metrics)],
                                 limits=limits, personal=personal)

    @classmethod
    def from_settings(cls, settings: ServeSettings, score: ScoreFn | None = None) -> PredictionService:
        """Load the model (one onnxruntime session per process) and its personal parts; open the accounts store."""
        model = resolve_model(settings.model)
        personal = None
        if score is None or has_personal(model):
            scorer = OnnxScorer.from_path(model.onnx_path, threads=settings.model_threads)
            personal = PersonalScorer.for_model(model, scorer.logit)
            score = score or scorer.score
        store = AccountStore(settings.store_path)
        return cls(
            model, score,
            ApiKeyAuthorizer(store, settings.anonymous_enabled, settings.anonymous_scopes),
            SqliteProfiles(store),
            store=store,
            cache=PredictionCache(settings.cache_size),
            rate_limiter=open_rate_limiter(settings.rate_limit_backend, settings.rate_limit_per_minute,
                                           settings.store_path),
            max_batch_size=settings.max_batch_size,
            max_wait_ms=settings.max_wait_ms,
            personal=personal,
        )

    def use(self, hook: PipelineHooks) -> None:
        """Add a composing door's hook: after the rate limit, before the cache (a stored answer is looked up first)."""
        hooks = self.pipeline.hooks
        hooks.insert(hooks.index(self._cache_hook), hook)

    async def predict(self, request: PredictRequest, client: str | None = None) -> PipelineResult:
        """Run the six steps for one request; `client` (an IP) is the rate-limit key for anonymous callers."""
        if client is not None:
            request = dataclasses.replace(request, client=client)
        return await self.pipeline.arun(request)

    def ready(self) -> tuple[bool, str]:
        """(True, "ready") when the model is loaded and the store answers, else (False, why not)."""
        if self.batcher.closed:
            return False, "shutting down"
        if self.store is not None:
            try:
                self.store.ping()
            except MLEditorError as exc:
                return False, str(exc)
        return True, f"model {self.model.model_id} loaded"

    def start(self) -> None:
        """Take work (again): the app's lifespan calls this at startup."""
        self.batcher.start()

    async def close(self) -> None:
        """Finish the batches already waiting (graceful shutdown), then take no more work."""
        await self.batcher.close()
