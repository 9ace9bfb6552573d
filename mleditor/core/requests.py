"""What flows through the pipeline, step by step: a request, its checked form, its context, the model's
input, and the result every door returns (`PipelineResult.to_dict` is the JSON answer)."""

from __future__ import annotations

import functools
import uuid
from dataclasses import KW_ONLY, dataclass, field
from datetime import datetime
from typing import Any

import numpy as np

from mleditor.core.access import Caller, UserProfile
from mleditor.core.features import Features
from mleditor.core.prediction import Personalization, Prediction
from mleditor.core.records import Question
from mleditor.core.stored import normalized_content_hash
from mleditor.core.validation import BodyFormat


@dataclass(frozen=True)
class PredictRequest:
    """A request as it arrives at any door: `PredictRequest(title, body, version="v2", api_key=...)`.

    `client` identifies the sender where there are no credentials (an IP, for rate limits);
    `body_format="markdown"` says the body is already Markdown-flavoured (a dump's, converted by
    ingestion) and must not be searched for HTML. `author` is for local doors that know who wrote
    the question (a batch row's site and owner, a device bundle's author): the author key whose
    personal model part scores it; the API learns the author from the user's profile instead.
    """

    title: str
    body: str
    _: KW_ONLY
    version: str = "v3"
    api_key: str | None = None
    user_id: str | None = None
    request_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    client: str = "-"
    body_format: BodyFormat = "auto"
    author: str | None = None


@dataclass(frozen=True)
class ValidRequest:
    """Step 1's output: the request, its question as `prepare_question` returned it, and the caller."""

    request: PredictRequest
    question: Question
    caller: Caller

    @functools.cached_property
    def content_hash(self) -> str:
        """The content hash of the checked text (cache key, stored-prediction key)."""
        return normalized_content_hash(self.question.title, self.question.body)


@dataclass(frozen=True)
class Context:
    """Step 2's output: the valid request and what was gathered for it (`personal`: the author's part, if any)."""

    valid: ValidRequest
    profile: UserProfile | None
    personal: Personalization | None = None

    @property
    def version(self) -> str:
        return self.valid.request.version


@dataclass(frozen=True)
class ModelInput:
    """What step 4 scores: row 0 is the question; for v3 the other rows are its counterfactuals; v1 has none.

    `personal`: every row is scored with this author's personal part (None: the global model).
    """

    version: str
    features: Features
    dense: np.ndarray  # float32 [rows, D]
    counterfactuals: list[str]
    personal: Personalization | None = None

    @property
    def rows(self) -> int:
        return len(self.dense)

    @functools.cached_property
    def ngram_ids(self) -> np.ndarray:
        """int64 [rows, max(1, n)]: the question's n-gram ids on every row (runners pad their own batches)."""
        ids = self.features.ngram_ids if self.features.ngram_ids.size else np.zeros(1, dtype=np.int64)
        return np.tile(ids.astype(np.int64, copy=False), (self.rows, 1))


@dataclass(frozen=True)
class KnownAnswer:
    """A prediction a hook already has (the cache, a prediction store): steps 3-5 are skipped.

    `step` names the lap in `timings_ms`; `body_words` (when known) keeps the confidence caveats
    the same as a computed answer's.
    """

    prediction: Prediction
    step: str
    _: KW_ONLY
    source: str = "live"
    cached: bool = False
    body_words: float | None = None
    computed_at: datetime | None = None


@dataclass(frozen=True)
class PipelineResult:
    """Step 6's output, whichever door the request came through."""

    prediction: Prediction
    confidence: str
    label: str
    request_id: str
    timings_ms: dict[str, float]
    profile: UserProfile | None = None
    _: KW_ONLY
    cached: bool = False  # answered from the cache of repeated questions
    source: str = "live"  # "live" (computed by this model now or earlier in this process) or "precomputed"
    computed_at: datetime | None = None  # when a precomputed prediction was computed
    body_words: float | None = None  # what the confidence caveats were based on
    valid: ValidRequest | None = field(default=None, repr=False, compare=False)  # the checked request

    @property
    def content_hash(self) -> str:
        """The content hash of the checked text ("" when the result was built without its request)."""
        return self.valid.content_hash if self.valid is not None else ""

    def to_dict(self) -> dict[str, Any]:
        """The JSON answer."""
        payload = {
            **self.prediction.to_dict(),
            "label": self.label,
            "confidence": self.confidence,
            "request_id": self.request_id,
            "timings_ms": self.timings_ms,
            "cached": self.cached,
            "source": self.source,
        }
        if self.computed_at is not None:
            payload["computed_at"] = self.computed_at.isoformat()
        return payload
