"""The prediction service: the six core pipeline steps, asynchronous, with micro-batching and a cache.

`PredictionService` holds everything a request needs (model, scorer, batcher, cache, authorizer,
profiles, rate limiter, metrics) and knows nothing about HTTP, so the FastAPI app and a Ray Serve
deployment can both wrap it:

    service = PredictionService.from_settings(ServeSettings())
    result = await service.predict(PredictRequest(title, body, "v3"))
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import numpy as np

from mleditor.core.pipeline import (
    Authorizer,
    Caller,
    Context,
    ModelInput,
    PipelineResult,
    PredictRequest,
    ProfileSource,
    StepTimer,
    gather,
    postprocess,
    preprocess,
    respond,
    validate,
)
from mleditor.core.registry import ModelDirectory, resolve_model
from mleditor.core.scorer import OnnxScorer
from mleditor.core.validation import InputLimits
from mleditor.errors import InvalidInputError, MLEditorError
from mleditor.stores.keys import ANONYMOUS, ApiKeyAuthorizer
from mleditor.serve.batching import MicroBatcher, ScoreFn
from mleditor.serve.cache import PredictionCache, cache_key
from mleditor.serve.metrics import ServeMetrics
from mleditor.stores.profiles import SqliteProfiles
from mleditor.serve.ratelimit import RateLimiter
from mleditor.serve.settings import ServeSettings
from mleditor.stores.accounts import AccountStore

# Featurizing 50,000 characters takes ~10 ms; past this size it runs on a thread so the loop stays responsive.
OFFLOAD_PREPROCESS_CHARS = 10_000


@dataclass(frozen=True)
class ServedResult(PipelineResult):
    """A pipeline result as the server returns it: also says whether it came from the cache."""

    cached: bool = False

    def to_dict(self) -> dict[str, Any]:
        """The JSON answer: the pipeline result plus `cached`."""
        return {**super().to_dict(), "cached": self.cached, "source": "live"}


class PredictionService:
    """Runs requests through validate → gather → preprocess → model (batched) → postprocess → respond."""

    def __init__(self, model: ModelDirectory, score: ScoreFn, authorizer: Authorizer, profiles: ProfileSource, *,
                 store: AccountStore | None = None, cache: PredictionCache[PipelineResult] | None = None,
                 rate_limiter: RateLimiter | None = None, metrics: ServeMetrics | None = None,
                 max_batch_size: int = 32, max_wait_ms: float = 2.0, limits: InputLimits = InputLimits()) -> None:
        self.model = model
        self.typical = model.typical_values
        self.authorizer = authorizer
        self.profiles = profiles
        self.store = store
        self.cache = cache if cache is not None else PredictionCache(0)
        self.rate_limiter = rate_limiter or RateLimiter(0)
        self.metrics = metrics or ServeMetrics()
        self.limits = limits
        self.batcher = MicroBatcher(score, max_batch_size, max_wait_ms, on_batch=self.metrics.observe_batch)
        self.metrics.track_hit_ratio(lambda: self.cache.hit_rate)

    @classmethod
    def from_settings(cls, settings: ServeSettings, score: ScoreFn | None = None) -> PredictionService:
        """Load the model once (one onnxruntime session per process) and open the store."""
        model = resolve_model(settings.model)
        if score is None:
            score = OnnxScorer.from_path(model.onnx_path, threads=settings.model_threads).score
        store = AccountStore(settings.store_path)
        return cls(
            model, score,
            ApiKeyAuthorizer(store, settings.anonymous_enabled, settings.anonymous_scopes),
            SqliteProfiles(store),
            store=store,
            cache=PredictionCache(settings.cache_size),
            rate_limiter=RateLimiter(settings.rate_limit_per_minute),
            max_batch_size=settings.max_batch_size,
            max_wait_ms=settings.max_wait_ms,
        )

    async def predict(self, request: PredictRequest, client: str = "-") -> ServedResult:
        """Run the six steps for one request; `client` (an IP) is the rate-limit key for anonymous callers."""
        timer = StepTimer()
        # Step 1: schema, limits and permission, then the caller's request budget.
        _check_unicode(request)
        valid = validate(request, self.authorizer, self.limits)
        self._check_rate(valid.caller, client)
        timer.lap("validate")
        # Step 2: what the request does not carry (a missing profile is normal).
        context = gather(valid, self.profiles)
        timer.lap("gather")
        key = cache_key(self.model.model_id, request.version, valid.question.title, valid.question.body)
        cached = self.cache.get(key)
        if cached is not None:
            self.metrics.cache_hits.inc()
            timer.lap("cache")
            return self._observed(ServedResult(cached.prediction, cached.confidence, cached.label, request.request_id,
                                               timer.timings_ms, context.profile, cached=True))
        self.metrics.cache_misses.inc()
        # Step 3: featurize; v3 adds its counterfactual rows.
        model_input = await self._preprocess(context)
        timer.lap("preprocess")
        # Step 4: the model, micro-batched with concurrent requests.
        scores = await self._run_model(model_input)
        timer.lap("model")
        # Step 5: range-check the scores (an incident and a ModelOutputError when they are not probabilities).
        prediction = postprocess(model_input, scores, self.model, request.request_id)
        timer.lap("postprocess")
        # Step 6: the answer.
        result = respond(prediction, model_input.features, request.request_id, timer.timings_ms, context.profile)
        self.cache.put(key, result)
        return self._observed(ServedResult(**vars(result)))

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

    def _check_rate(self, caller: Caller, client: str) -> None:
        self.rate_limiter.check(f"ip:{client}" if caller.name == ANONYMOUS else f"key:{caller.name}")

    async def _preprocess(self, context: Context) -> ModelInput:
        if len(context.valid.question.body) > OFFLOAD_PREPROCESS_CHARS:
            return await asyncio.to_thread(preprocess, context, self.typical)
        return preprocess(context, self.typical)

    async def _run_model(self, model_input: ModelInput) -> np.ndarray:
        if model_input.version == "v1":  # rules only: no model call
            return np.zeros(0, dtype=np.float32)
        return await self.batcher.submit(model_input.ngram_ids, model_input.dense)

    def _observed(self, result: ServedResult) -> ServedResult:
        self.metrics.observe_steps(result.timings_ms)
        return result


def _check_unicode(request: PredictRequest) -> None:
    """Refuse text that cannot be UTF-8 (lone surrogates, which JSON escapes can smuggle in)."""
    for name in ("title", "body", "user_id"):
        value = getattr(request, name)
        if isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError as exc:
                raise InvalidInputError(
                    f"{name} is not valid Unicode (a lone surrogate at character {exc.start}); send UTF-8 text"
                ) from None

