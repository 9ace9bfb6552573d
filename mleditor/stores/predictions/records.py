"""What a prediction store holds: predictions, rejected rows and batch jobs, as plain records.

Three tables, the same on every backend:

* `predictions`: one row per (site, question_id, model_version); upserted, so re-running writes
  no duplicates. It keeps the content hash of the normalized title and body and the model id, so
  a later run can skip what has not changed and the hybrid door can look a question up by content,
  and `personal`: the author's personal model part that made the score (`kind:author`, "" global).
* `jobs`: one row per batch job: model, inputs, counters, status, start and end.
* `rejects`: rows a job could not score, with the reason (nothing is dropped silently).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from mleditor.core.features import normalize_title
from mleditor.core.prediction import Personalization, Prediction, personal_key
from mleditor.core.recommend import Recommendation
from mleditor.core.records import MAX_QUESTION_ID
from mleditor.core.validation import MAX_TITLE_CHARS

JOB_RUNNING = "running"
JOB_COMPLETED = "completed"
JOB_FAILED = "failed"
JOB_INTERRUPTED = "interrupted"
UNFINISHED = (JOB_RUNNING, JOB_FAILED, JOB_INTERRUPTED)

QuestionKey = tuple[str, int]  # (site, question_id)


def question_id_in_range(question_id: int) -> bool:
    """Whether a store can hold this id: 0 to MAX_QUESTION_ID (a larger one would stop the write, not the row)."""
    return 0 <= question_id <= MAX_QUESTION_ID



@dataclass(frozen=True)
class PredictionRecord:
    """One stored prediction: which question, which content, which model, what it said."""

    site: str
    question_id: int
    model_version: str
    model_id: str
    content_hash: str
    score: float
    best_gain: float  # the largest gain among the recommendations (0 when there are none)
    recommendations: str  # JSON list of Recommendation dicts, best first
    title: str = ""
    personal: str = ""  # the personal part that made the score, `kind:author` ("" the global model)
    created: str = ""  # ISO 8601 UTC, set by the store when written (always the last column)

    def recommendation_list(self) -> list[Recommendation]:
        return [Recommendation(**item) for item in json.loads(self.recommendations)]

    def to_prediction(self) -> Prediction:
        """The prediction as the other doors return it."""
        return Prediction(self.score, self.model_version, self.model_id, self.recommendation_list(),
                          personal=Personalization.from_key(self.personal))

    def to_dict(self) -> dict[str, Any]:
        """For JSON output: the recommendations as a list, not a string."""
        return {**vars(self), "recommendations": json.loads(self.recommendations)}


@dataclass(frozen=True)
class RejectRecord:
    """A row that could not be scored: where it came from and why."""

    site: str | None
    question_id: int | None
    source: str  # e.g. "questions.csv line 12" or "beer/Posts.xml row Id=5"
    reason: str
    ordinal: int = -1  # its position in the job's input stream (set by the job)


@dataclass
class ChunkResult:
    """What scoring one chunk produced: predictions to upsert, rejects, and rows left as they were."""

    predictions: list[PredictionRecord] = field(default_factory=list)
    rejects: list[RejectRecord] = field(default_factory=list)
    skipped: int = 0  # unchanged since the stored prediction with the same model id


@dataclass(frozen=True)
class JobRecord:
    """One batch job as the `jobs` table holds it."""

    job_id: str
    fingerprint: str
    model_id: str
    model_version: str
    inputs: list[str]
    engine: str
    status: str
    rows_read: int = 0
    rows_scored: int = 0
    rows_skipped: int = 0
    rows_failed: int = 0
    chunks_done: int = 0
    resumes: int = 0
    host: str = ""
    pid: int = 0
    started_at: str = ""
    updated_at: str = ""
    ended_at: str | None = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


JOB_COLUMNS = tuple(JobRecord.__dataclass_fields__)
PREDICTION_COLUMNS = tuple(PredictionRecord.__dataclass_fields__)


def utc_now() -> str:
    """Now, as ISO 8601 UTC with milliseconds: sortable as text on every backend."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def redact(url: str) -> str:
    """The URL without its password, for messages."""
    return re.sub(r"(://[^:/@]+):[^@]*@", r"\1:***@", url)


def prediction_record(site: str, question_id: int, title: str, digest: str, prediction: Prediction,
                      max_title_chars: int = MAX_TITLE_CHARS) -> PredictionRecord:
    """What the store keeps of a prediction (also for a door writing a live prediction back)."""
    recommendations = [dict(vars(rec)) for rec in prediction.recommendations]  # flat: asdict is 20x slower
    return PredictionRecord(
        site=site, question_id=question_id, model_version=prediction.model_version, model_id=prediction.model_id,
        content_hash=digest, score=prediction.score,
        best_gain=max((rec["gain"] or 0.0 for rec in recommendations), default=0.0),
        recommendations=json.dumps(recommendations, ensure_ascii=False),
        title=normalize_title(title)[:max_title_chars], personal=personal_key(prediction.personal),
    )
