"""The request pipeline, in six named steps that every door shares:

    validate → gather → preprocess → run model → postprocess → respond

Each step is a small function with its own tests. `Pipeline.run` chains them synchronously (the
CLI, batch jobs, Ray replicas); the web server runs the same steps but swaps step 4 for its
micro-batcher. Permission checks and profile lookups come in through two small protocols, so the
core never imports a door.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from mleditor.core.features import Features, featurize
from mleditor.core.prediction import Prediction, check_version
from mleditor.core.recommend import counterfactual_batch, model_recommendations, rule_recommendations, rule_score
from mleditor.core.records import Question
from mleditor.core.registry import MODEL_VERSIONS, ModelDirectory
from mleditor.core.scorer import pad_ngram_ids
from mleditor.core.validation import InputLimits, prepare_question
from mleditor.errors import MLEditorError, ModelError

incident_log = logging.getLogger("mleditor.incidents")


class PermissionDeniedError(MLEditorError):
    """The caller may not use this model version (HTTP 403), or is not known at all (HTTP 401)."""

    exit_code = 2

    def __init__(self, message: str, status: int = 403) -> None:
        super().__init__(message)
        self.status = status


class ModelOutputError(ModelError):
    """The model produced something that is not a probability; the request fails, the incident is logged."""



@dataclass(frozen=True)
class PredictRequest:
    """A request as it arrives at any door."""

    title: str
    body: str
    version: str = "v3"
    api_key: str | None = None
    user_id: str | None = None
    request_id: str = field(default_factory=lambda: uuid.uuid4().hex)


@dataclass(frozen=True)
class Caller:
    """Who is asking, and which model versions they may call."""

    name: str
    scopes: frozenset[str]


class Authorizer(Protocol):
    def authorize(self, api_key: str | None, version: str) -> Caller:
        """Return the caller, or raise PermissionDeniedError (401 unknown key, 403 version out of scope)."""


class AllowLocal:
    """The authorizer for local use (CLI, batch): everyone may call every version."""

    def authorize(self, api_key: str | None, version: str) -> Caller:
        return Caller("local", frozenset(MODEL_VERSIONS))


@dataclass(frozen=True)
class UserProfile:
    """What the store knows about a user; gathered, not sent by the client."""

    user_id: str
    questions_asked: int = 0
    median_score: float | None = None
    preferred_version: str | None = None


class ProfileSource(Protocol):
    def get_profile(self, user_id: str) -> UserProfile | None:
        """The user's profile, or None when there is none (which is normal)."""


class NoProfiles:
    def get_profile(self, user_id: str) -> UserProfile | None:
        return None


@dataclass(frozen=True)
class ValidRequest:
    request: PredictRequest
    question: Question
    caller: Caller


@dataclass(frozen=True)
class Context:
    valid: ValidRequest
    profile: UserProfile | None


@dataclass(frozen=True)
class ModelInput:
    """What step 4 scores: row 0 is the question; for v3 the other rows are its counterfactuals."""

    version: str
    features: Features
    ngram_ids: np.ndarray
    dense: np.ndarray
    counterfactuals: list[str]


@dataclass(frozen=True)
class PipelineResult:
    prediction: Prediction
    confidence: str
    label: str
    request_id: str
    timings_ms: dict[str, float]
    profile: UserProfile | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.prediction.to_dict(),
            "label": self.label,
            "confidence": self.confidence,
            "request_id": self.request_id,
            "timings_ms": self.timings_ms,
        }


# Step 1
def validate(request: PredictRequest, authorizer: Authorizer, limits: InputLimits = InputLimits()) -> ValidRequest:
    """Schema and limits, then permission: the version must exist and be in the caller's scopes."""
    check_version(request.version)
    caller = authorizer.authorize(request.api_key, request.version)
    return ValidRequest(request, prepare_question(request.title, request.body, limits), caller)


# Step 2
def gather(valid: ValidRequest, profiles: ProfileSource) -> Context:
    """Look up what the request does not carry: the user's profile (missing is normal)."""
    user_id = valid.request.user_id
    return Context(valid, profiles.get_profile(user_id) if user_id else None)


# Step 3
def preprocess(context: Context, typical: dict[str, float]) -> ModelInput:
    """Featurize; for v3 also build the counterfactual rows scored in the same model call."""
    question = context.valid.question
    version = context.valid.request.version
    features = featurize(question.title, question.body)
    return model_input(features, version, typical)


def model_input(features: Features, version: str, typical: dict[str, float]) -> ModelInput:
    if version == "v1":
        empty = np.zeros((0, 1), dtype=np.int64)
        return ModelInput(version, features, empty, np.zeros((0, features.dense.size), np.float32), [])
    if version == "v2":
        names, rows = [], features.dense[None, :]
    else:
        names, rows = counterfactual_batch(features.dense, typical)
    ids = pad_ngram_ids([features.ngram_ids] * len(rows))
    return ModelInput(version, features, ids, rows.astype(np.float32), names)


# Step 4 (synchronous; the server uses its micro-batcher instead)
def run_model(model_input: ModelInput, score: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> np.ndarray:
    if model_input.version == "v1":
        return np.zeros(0, dtype=np.float32)
    return score(model_input.ngram_ids, model_input.dense)


# Step 5
def postprocess(model_input: ModelInput, scores: np.ndarray, model: ModelDirectory, request_id: str = "-") -> Prediction:
    """Range-check the model's output, then attach recommendations (v1 rules, v3 model advice)."""
    version = model_input.version
    if version == "v1":
        recommendations = rule_recommendations(model_input.features.dense_dict())
        return Prediction(rule_score(len(recommendations), model.v1_calibration), version, model.model_id, recommendations)
    scores = np.asarray(scores, dtype=np.float64)
    if scores.shape != (len(model_input.dense),) or not np.all(np.isfinite(scores)) or np.any((scores < 0) | (scores > 1)):
        incident_log.error('{"incident": "score_out_of_range", "request_id": "%s", "model_id": "%s", "scores": "%s"}',
                           request_id, model.model_id, np.array2string(scores[:4], precision=4))
        raise ModelOutputError(
            f"the model returned an invalid score (not a probability); incident logged as request {request_id}"
        )
    recommendations = []
    if version == "v3":
        recommendations = model_recommendations(model_input.features.dense, model.typical_values, scores,
                                                model_input.counterfactuals)
    return Prediction(float(scores[0]), version, model.model_id, recommendations)


SHORT_QUESTION_WORDS = 20


def describe_label(score: float) -> str:
    """The score in words."""
    if score >= 0.6:
        return "likely well received"
    if score <= 0.4:
        return "unlikely to be well received"
    return "could go either way"


def describe_confidence(prediction: Prediction, features: Features) -> tuple[str, str]:
    """A label and the confidence in words, with the caveats that apply to this question."""
    score = prediction.score
    label = describe_label(score)
    text = f"{label} ({score:.2f})"
    if features.dense_dict()["body_words"] < SHORT_QUESTION_WORDS:
        text += "; the model is less sure for very short questions"
    if prediction.model_version == "v1":
        text += "; v1 uses fixed rules, not a trained model"
    return label, text


# Step 6
def respond(prediction: Prediction, features: Features, request_id: str, timings_ms: dict[str, float],
            profile: UserProfile | None = None) -> PipelineResult:
    label, confidence = describe_confidence(prediction, features)
    return PipelineResult(prediction, confidence, label, request_id, timings_ms, profile)


class StepTimer:
    """Collects the milliseconds each step took."""

    def __init__(self) -> None:
        self.timings_ms: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, step: str) -> None:
        now = time.perf_counter()
        self.timings_ms[step] = round((now - self._last) * 1000, 3)
        self._last = now


class Pipeline:
    """The six steps chained synchronously around one model directory and one scorer."""

    def __init__(self, model: ModelDirectory, score: Callable[[np.ndarray, np.ndarray], np.ndarray],
                 authorizer: Authorizer | None = None, profiles: ProfileSource | None = None,
                 limits: InputLimits = InputLimits()) -> None:
        self.model = model
        self.score = score
        self.authorizer = authorizer or AllowLocal()
        self.profiles = profiles or NoProfiles()
        self.limits = limits
        self.typical = model.typical_values

    def run(self, request: PredictRequest) -> PipelineResult:
        timer = StepTimer()
        valid = validate(request, self.authorizer, self.limits)
        timer.lap("validate")
        context = gather(valid, self.profiles)
        timer.lap("gather")
        model_input = preprocess(context, self.typical)
        timer.lap("preprocess")
        scores = run_model(model_input, self.score)
        timer.lap("model")
        prediction = postprocess(model_input, scores, self.model, request.request_id)
        timer.lap("postprocess")
        return respond(prediction, model_input.features, request.request_id, timer.timings_ms, context.profile)
