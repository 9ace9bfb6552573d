"""The request pipeline: six named steps, and `Pipeline`, the one driver every door uses.

    validate → gather → preprocess → run model → postprocess → respond

Each step is a small function with its own tests. `Pipeline` chains them — `run` for one request,
`arun` on an event loop, `run_many` for a chunk — and is the only place that does. What differs
per door is given to it: a *runner* for step 4 (`mleditor.core.runners`: one direct call, length
bands for batch chunks, the server's micro-batcher) and *hooks* around the steps
(`mleditor.core.hooks`: rate limit, cache, stored lookup, write-back, metrics). Permission checks
and profile lookups come in through two small protocols (`mleditor.core.access`), so the core
never imports a door.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from datetime import datetime

import numpy as np

from mleditor.core.access import AllowLocal, Authorizer, Caller, NoProfiles, ProfileSource, UserProfile
from mleditor.core.features import DENSE_INDEX, Features, featurize_many, featurize_normalized
from mleditor.core.hooks import PipelineHooks
from mleditor.core.ood import UNUSUAL_INPUT_LABEL, out_of_distribution
from mleditor.core.personal import PersonalScorer
from mleditor.core.prediction import Personalization, Prediction
from mleditor.core.recommend import counterfactual_batch, model_recommendations, rule_recommendations, rule_score
from mleditor.core.registry import ModelDirectory
from mleditor.core.requests import Context, KnownAnswer, ModelInput, PipelineResult, PredictRequest, ValidRequest
from mleditor.core.runners import DirectRunner, Runner, ScoreFn
from mleditor.core.validation import InputLimits, check_text, check_version, prepare_question
from mleditor.errors import InvalidInputError, MLEditorError, ModelOutputError, PermissionDeniedError

__all__ = [
    "AllowLocal", "Authorizer", "Caller", "Context", "KnownAnswer", "ModelInput", "NoProfiles", "Pipeline",
    "PipelineResult", "PredictRequest", "ProfileSource", "StepTimer", "UserProfile", "ValidRequest",
    "describe_confidence", "describe_label", "gather", "model_input", "postprocess", "preprocess", "respond",
    "run_model", "validate",
]

incident_log = logging.getLogger("mleditor.incidents")

# Featurizing 50,000 characters takes ~10 ms; past this size `arun` featurizes on a thread so the loop stays free.
OFFLOAD_PREPROCESS_CHARS = 10_000

# The errors `run_many` returns in a request's place (a client's or the model's fault, not a bug).
REQUEST_ERRORS = (InvalidInputError, PermissionDeniedError, ModelOutputError)


# Step 1, in two parts: who may ask (cheap), then the text (may convert HTML: the expensive part)
def authorize(request: PredictRequest, authorizer: Authorizer) -> Caller:
    """The version must exist and be in the caller's scopes; the caller who may ask."""
    check_version(request.version)
    return authorizer.authorize(request.api_key, request.version)


def check_request_text(request: PredictRequest, caller: Caller, limits: InputLimits = InputLimits()) -> ValidRequest:
    """The text passes the boundary check (`prepare_question`): step 1 once the caller is admitted."""
    if request.user_id is not None:
        check_text("user_id", request.user_id)
    if request.author is not None:
        check_text("author", request.author)
    question = prepare_question(request.title, request.body, limits, request.body_format)
    return ValidRequest(request, question, caller)


def validate(request: PredictRequest, authorizer: Authorizer, limits: InputLimits = InputLimits()) -> ValidRequest:
    """Step 1 whole: permission first, then the boundary check of the text."""
    return check_request_text(request, authorize(request, authorizer), limits)


# Step 2
def gather(valid: ValidRequest, profiles: ProfileSource, personal: PersonalScorer | None = None) -> Context:
    """Look up what the request does not carry: the user's profile (missing is normal) and, when the model has
    personal parts, the author's (the request's `author`, else the profile's site and owner id)."""
    user_id = valid.request.user_id
    profile = profiles.get_profile(user_id) if user_id else None
    author = valid.request.author or (profile.author if profile is not None else None)
    return Context(valid, profile, personal.lookup(author) if personal is not None else None)


# Step 3
def preprocess(context: Context, typical: dict[str, float]) -> ModelInput:
    """Featurize; for v3 also build the counterfactual rows scored in the same model call."""
    question = context.valid.question
    return model_input(featurize_normalized(question.title, question.body), context.version, typical,
                       context.personal)


def model_input(features: Features, version: str, typical: dict[str, float],
                personal: Personalization | None = None) -> ModelInput:
    """The rows step 4 scores for `version`: none for v1, the question for v2, plus its counterfactuals for v3.

    With `personal`, every row (the counterfactuals too, so v3's gains agree with the score) is
    scored with the author's part; v1 has no model, so it stays global.
    """
    if version == "v1":
        return ModelInput(version, features, np.zeros((0, features.dense.size), np.float32), [])
    if version == "v2":
        return ModelInput(version, features, features.dense[None, :].astype(np.float32), [], personal)
    names, rows = counterfactual_batch(features.dense, typical)
    return ModelInput(version, features, rows.astype(np.float32), names, personal)


# Step 4 (one input, one direct call; `Pipeline` hands many inputs to its runner)
def run_model(model_input: ModelInput, score: ScoreFn) -> np.ndarray:
    """The scores of the input's rows; v1 has no rows, so the model is not called."""
    return _score_with(DirectRunner(score), [model_input])[0]


def needs_model(model_input: ModelInput) -> bool:
    """The one place that decides whether an input goes to the model: v1 has no rows (rules only)."""
    return model_input.rows > 0


def _score_with(runner: Runner, inputs: Sequence[ModelInput], personal: PersonalScorer | None = None
                ) -> list[np.ndarray]:
    if len(inputs) == 1 and needs_model(inputs[0]) and inputs[0].personal is None:  # nothing to sort out
        return runner.score_inputs(inputs)
    needed = [item for item in inputs if needs_model(item) and item.personal is None]
    return _place(inputs, runner.score_inputs(needed) if needed else [], _personal_scores(inputs, personal))


async def _ascore_with(runner: Runner, inputs: Sequence[ModelInput], personal: PersonalScorer | None = None
                       ) -> list[np.ndarray]:
    if len(inputs) == 1 and needs_model(inputs[0]) and inputs[0].personal is None:
        return await runner.ascore_inputs(inputs)
    needed = [item for item in inputs if needs_model(item) and item.personal is None]
    return _place(inputs, await runner.ascore_inputs(needed) if needed else [], _personal_scores(inputs, personal))


def _personal_scores(inputs: Sequence[ModelInput], personal: PersonalScorer | None) -> list[np.ndarray]:
    """The scores of the inputs with a personal part (gather sets one only when the pipeline has a scorer)."""
    mine = [item for item in inputs if needs_model(item) and item.personal is not None]
    if not mine:
        return []
    if personal is None:
        raise ValueError("an input has a personal part but the pipeline has no PersonalScorer")
    return personal.score_inputs(mine)


def _place(inputs: Sequence[ModelInput], scored: list[np.ndarray],
           personal: list[np.ndarray] | None = None) -> list[np.ndarray]:
    """The scores of the inputs that needed the model (global, then personal), empty arrays for the others."""
    found, found_personal = iter(scored), iter(personal or [])
    return [(next(found_personal) if item.personal is not None else next(found)) if needs_model(item)
            else np.zeros(0, dtype=np.float32) for item in inputs]


# Step 5
def postprocess(model_input: ModelInput, scores: np.ndarray, model: ModelDirectory,
                request_id: str = "-") -> Prediction:
    """Range-check the model's output, then attach recommendations (v1 rules, v3 model advice).

    The features far outside the training ranges (`mleditor.core.ood`) go with the prediction.
    """
    version = model_input.version
    unusual = out_of_distribution(model_input.features.dense, model.dense_ranges)
    if version == "v1":
        recommendations = rule_recommendations(model_input.features.dense_dict())
        score = rule_score(len(recommendations), model.v1_calibration)
        return Prediction(score, version, model.model_id, recommendations, unusual)
    scores = np.asarray(scores, dtype=np.float64)
    if scores.shape != (model_input.rows,) or not np.all(np.isfinite(scores)) or np.any((scores < 0) | (scores > 1)):
        incident_log.error('{"incident": "score_out_of_range", "request_id": "%s", "model_id": "%s", "scores": "%s"}',
                           request_id, model.model_id, np.array2string(scores[:4], precision=4))
        raise ModelOutputError(
            f"the model returned an invalid score (not a probability); incident logged as request {request_id}"
        )
    recommendations = []
    if version == "v3":
        recommendations = model_recommendations(model_input.features.dense, model.typical_values, scores,
                                                model_input.counterfactuals)
    return Prediction(float(scores[0]), version, model.model_id, recommendations, unusual, model_input.personal)


SHORT_QUESTION_WORDS = 20


def describe_label(score: float) -> str:
    """The score in words."""
    if score >= 0.6:
        return "likely well received"
    if score <= 0.4:
        return "unlikely to be well received"
    return "could go either way"


def describe_confidence(prediction: Prediction, body_words: float | None,
                        computed_at: datetime | None = None) -> tuple[str, str]:
    """A label and the confidence in words, with the caveats that apply (`body_words` None: not known)."""
    score = prediction.score
    unusual = prediction.out_of_distribution
    label = UNUSUAL_INPUT_LABEL if unusual else describe_label(score)
    text = f"{label} ({score:.2f})"
    if unusual:
        text += (f"; this question is unlike the training questions ({', '.join(u.describe() for u in unusual)}): "
                 "the score is not reliable")
    if body_words is not None and body_words < SHORT_QUESTION_WORDS:
        text += "; the model is less sure for very short questions"
    if prediction.model_version == "v1":
        text += "; v1 uses fixed rules, not a trained model"
    if computed_at is not None:
        text += f"; precomputed {computed_at:%Y-%m-%d %H:%M} UTC"
    return label, text


# Step 6
def respond(prediction: Prediction, body_words: float | None, request_id: str, timings_ms: dict[str, float],
            profile: UserProfile | None = None, *, known: KnownAnswer | None = None,
            valid: ValidRequest | None = None) -> PipelineResult:
    """The answer: the prediction, its meaning in words, and how it was made."""
    computed_at = known.computed_at if known is not None else None
    label, confidence = describe_confidence(prediction, body_words, computed_at)
    return PipelineResult(prediction, confidence, label, request_id, timings_ms, profile,
                          cached=known is not None and known.cached,
                          source=known.source if known is not None else "live",
                          computed_at=computed_at, body_words=body_words, valid=valid)


class StepTimer:
    """Collects the milliseconds each step took."""

    def __init__(self) -> None:
        self.timings_ms: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, step: str) -> None:
        now = time.perf_counter()
        self.timings_ms[step] = round((now - self._last) * 1000, 3)
        self._last = now

    def shared(self, step: str, ms: float) -> None:
        """Record a step that several requests shared (a chunk's model call); the next lap starts now."""
        self.timings_ms[step] = ms
        self._last = time.perf_counter()


class Pipeline:
    """The six steps around one model directory, driven the same way for every door.

    Parameters:
        model: the model directory (`resolve_model(...)`): model id, typical values, v1 calibration.
        runner: step 4 — a `Runner`, or a plain `score(ngram_ids, dense)` function, which gets a
            `DirectRunner` (every row of a call's inputs in one model call).
        authorizer: step 1's permission check (default `AllowLocal`: everyone may call everything).
        profiles: step 2's profile source (default `NoProfiles`).
        hooks: `PipelineHooks` called in order around the steps (rate limit, cache, stored lookup...).
        limits: the input limits of the boundary check.
        personal: the model's personal parts (`PersonalScorer.for_model`): a request whose author has
            one is scored with it in step 4 (the answer says `personalized`); None: every answer global.

    Example::

        from mleditor.core import OnnxScorer, Pipeline, PredictRequest, resolve_model

        model = resolve_model(None)                     # the shipped model
        pipeline = Pipeline(model, OnnxScorer.from_path(model.onnx_path).score)
        result = pipeline.run(PredictRequest("How do I stop gushing bottles?", "I prime with 120 g.", version="v3"))
        print(result.prediction.score, result.confidence)
    """

    def __init__(self, model: ModelDirectory, runner: Runner | ScoreFn, *, authorizer: Authorizer | None = None,
                 profiles: ProfileSource | None = None, hooks: Sequence[PipelineHooks] = (),
                 limits: InputLimits = InputLimits(), personal: PersonalScorer | None = None) -> None:
        self.model = model
        self.personal = personal
        self.runner: Runner = runner if isinstance(runner, Runner) else DirectRunner(runner)
        self.authorizer: Authorizer = authorizer or AllowLocal()
        self.profiles: ProfileSource = profiles or NoProfiles()
        self.hooks: list[PipelineHooks] = list(hooks)
        self.limits = limits
        self.typical = model.typical_values

    def admit(self, request: PredictRequest) -> Caller:
        """The first half of step 1 and its hooks: the caller, admitted (permission, rate limit) or refused.

        Doors that answer without the six steps (a stored prediction by question id) call this too,
        so nothing is served that the permission step would refuse.
        """
        caller = authorize(request, self.authorizer)
        for hook in self.hooks:
            hook.after_authorize(request, caller)
        return caller

    def run(self, request: PredictRequest) -> PipelineResult:
        """The six steps for one request, synchronously."""
        timer = StepTimer()
        context = self._validate_and_gather(request, timer)
        for hook in self.hooks:
            known = hook.known_answer(context)
            if known is not None:
                return self._known(context, known, timer)
        model_input = preprocess(context, self.typical)
        timer.lap("preprocess")
        scores = _score_with(self.runner, [model_input], self.personal)[0]
        timer.lap("model")
        return self._finish(context, model_input, scores, timer)

    async def arun(self, request: PredictRequest) -> PipelineResult:
        """The six steps for one request on an event loop: hooks and the runner may wait without blocking it.

        The caller is admitted (permission, rate limit) before any expensive work; converting and
        featurizing a long body run on a thread, so the loop keeps serving other requests.
        """
        timer = StepTimer()
        caller = self.admit(request)
        if isinstance(request.body, str) and len(request.body) > OFFLOAD_PREPROCESS_CHARS:
            valid = await asyncio.to_thread(check_request_text, request, caller, self.limits)
        else:
            valid = check_request_text(request, caller, self.limits)
        context = self._after_validate(valid, timer)
        for hook in self.hooks:
            known = await hook.aknown_answer(context)
            if known is not None:
                return self._known(context, known, timer)
        if len(context.valid.question.body) > OFFLOAD_PREPROCESS_CHARS:
            model_input = await asyncio.to_thread(preprocess, context, self.typical)
        else:
            model_input = preprocess(context, self.typical)
        timer.lap("preprocess")
        scores = (await _ascore_with(self.runner, [model_input], self.personal))[0]
        timer.lap("model")
        return self._finish(context, model_input, scores, timer)

    def run_many(self, requests: Sequence[PredictRequest]) -> list[PipelineResult | MLEditorError]:
        """The six steps for a chunk: every request's rows go to the runner together (one call, or one per band).

        A request that fails (invalid input, refused permission, an invalid score) gets its error in
        its place; the others are answered. Timings are per request, the model step shared.
        """
        answers: list[PipelineResult | MLEditorError | None] = [None] * len(requests)
        waiting: list[tuple[int, Context, StepTimer]] = []
        for index, request in enumerate(requests):
            timer = StepTimer()
            try:
                context = self._validate_and_gather(request, timer)
                known = next((k for k in (hook.known_answer(context) for hook in self.hooks) if k is not None), None)
                if known is not None:
                    answers[index] = self._known(context, known, timer)
                    continue
                waiting.append((index, context, timer))
            except REQUEST_ERRORS as exc:
                answers[index] = exc
        todo = self._preprocess_many(waiting)
        started = time.perf_counter()
        all_scores = _score_with(self.runner, [item[2] for item in todo], self.personal)
        model_ms = round((time.perf_counter() - started) * 1000, 3)
        for (index, context, model_input, timer), scores in zip(todo, all_scores):
            timer.shared("model", model_ms)
            try:
                answers[index] = self._finish(context, model_input, scores, timer)
            except ModelOutputError as exc:
                answers[index] = exc
        return [answer for answer in answers if answer is not None]

    def _preprocess_many(self, waiting: list[tuple[int, Context, StepTimer]]
                         ) -> list[tuple[int, Context, ModelInput, StepTimer]]:
        """Step 3 for a chunk: one `featurize_many` call (its time shared), then each request's model input."""
        started = time.perf_counter()
        questions = [context.valid.question for _, context, _ in waiting]
        features = featurize_many([q.title for q in questions], [q.body for q in questions], normalized=True)
        todo = [(index, context, model_input(found, context.version, self.typical, context.personal), timer)
                for (index, context, timer), found in zip(waiting, features)]
        preprocess_ms = round((time.perf_counter() - started) * 1000, 3)
        for _, _, _, timer in todo:
            timer.shared("preprocess", preprocess_ms)
        return todo

    def _validate_and_gather(self, request: PredictRequest, timer: StepTimer) -> Context:
        return self._after_validate(check_request_text(request, self.admit(request), self.limits), timer)

    def _after_validate(self, valid: ValidRequest, timer: StepTimer) -> Context:
        for hook in self.hooks:
            hook.after_validate(valid)
        timer.lap("validate")
        context = gather(valid, self.profiles, self.personal)
        timer.lap("gather")
        return context

    def _known(self, context: Context, known: KnownAnswer, timer: StepTimer) -> PipelineResult:
        timer.lap(known.step)
        result = respond(known.prediction, known.body_words, context.valid.request.request_id, timer.timings_ms,
                         context.profile, known=known, valid=context.valid)
        self._after_respond(context, result)
        return result

    def _finish(self, context: Context, model_input: ModelInput, scores: np.ndarray,
                timer: StepTimer) -> PipelineResult:
        request_id = context.valid.request.request_id
        prediction = postprocess(model_input, scores, self.model, request_id)
        timer.lap("postprocess")
        body_words = float(model_input.features.dense[DENSE_INDEX["body_words"]])
        result = respond(prediction, body_words, request_id, timer.timings_ms, context.profile, valid=context.valid)
        self._after_respond(context, result)
        return result

    def _after_respond(self, context: Context, result: PipelineResult) -> None:
        for hook in self.hooks:
            hook.after_respond(context, result)

