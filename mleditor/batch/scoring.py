"""The chunk transform both engines share: input rows → predictions and rejects, through `Pipeline.run_many`.

Each row becomes a `PredictRequest` and passes the same six steps as an API request, so a batch
prediction says what the API would say. What is vectorized is the model: the pipeline's
`BandedRunner` scores the rows of a whole chunk — for v3 every question's counterfactual rows too —
in one model call per band of n-gram width instead of one call per question. A row's padded width
depends only on its own length, and no call holds a single row, so a score never depends on which
chunk its question landed in: the local and Ray engines agree exactly.

With `personalized`, each row whose author (site + owner id) has a personal part in the model
directory is scored with it, as the API scores that author's request; the others get the global
model. The stored prediction records which (`PredictionRecord.personal`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from mleditor.core.personal import PersonalScorer
from mleditor.core.pipeline import Pipeline
from mleditor.core.records import user_author_key
from mleditor.core.registry import ModelDirectory, resolve_model
from mleditor.core.requests import PipelineResult, PredictRequest
from mleditor.core.runners import BandedRunner
from mleditor.core.scorer import OnnxScorer
from mleditor.core.stored import normalized_content_hash
from mleditor.core.validation import BodyFormat, InputLimits, check_version, prepare_question
from mleditor.errors import MLEditorError, ModelError
from mleditor.stores.predictions.records import ChunkResult, QuestionKey, RejectRecord, prediction_record


@dataclass(frozen=True)
class InputRow:
    """One question to score, as read from any input."""

    site: str
    question_id: int
    title: str
    body: str
    source: str = ""  # where it came from, for the rejects table
    ordinal: int = 0  # position in the job's input stream
    markdown: bool = False  # the body is already Markdown-flavoured text (from a dump): no HTML detection
    owner_id: int | None = None  # the author's account on the site, when the input names it

    @property
    def key(self) -> QuestionKey:
        return (self.site, self.question_id)

    @property
    def author(self) -> str | None:
        """The author key (`site:user:<owner id>`) whose personal part may score it; None without an owner."""
        return None if self.owner_id is None else user_author_key(self.site, self.owner_id)


def prepare_row(row: InputRow, limits: InputLimits) -> tuple[str, str, str]:
    """(title, body, content hash) as the pipeline's boundary check makes them; InvalidInputError says why not."""
    question = prepare_question(row.title, row.body, limits, _body_format(row))
    return question.title, question.body, normalized_content_hash(question.title, question.body)


def _body_format(row: InputRow) -> BodyFormat:
    # A dump's body was converted by ingestion: a second HTML pass could mangle code that shows HTML tags.
    return "markdown" if row.markdown else "auto"


class ChunkScorer:
    """Scores chunks of rows with one model directory and version; build one per process (or Ray actor)."""

    def __init__(self, model: ModelDirectory, version: str = "v3", limits: InputLimits = InputLimits(),
                 personalized: bool = False) -> None:
        self.model = model
        self.version = check_version(version)
        self.limits = limits
        self.typical = model.typical_values
        self.personalized = personalized
        self.scorer = OnnxScorer.from_path(model.onnx_path, threads=1)
        personal = personal_scorer(model, self.scorer) if personalized else None
        self.pipeline = Pipeline(model, BandedRunner(self.scorer.score), limits=limits, personal=personal)

    @classmethod
    def load(cls, model: str | None, version: str = "v3", limits: InputLimits = InputLimits(),
             personalized: bool = False) -> ChunkScorer:
        """By model directory path or id (None: the shipped default)."""
        return cls(resolve_model(model), version, limits, personalized)

    def __call__(self, rows: Sequence[InputRow]) -> ChunkResult:
        """Score the rows; the ones that can't be scored become rejects with the reason (never an exception)."""
        requests = [PredictRequest(row.title, row.body, version=self.version,
                                   request_id=f"{row.site}/{row.question_id}", body_format=_body_format(row),
                                   author=row.author if self.personalized else None)
                    for row in rows]
        result = ChunkResult()
        for row, answer in zip(rows, self._answers(requests)):
            _file(result, row, answer)
        return result

    def _answers(self, requests: Sequence[PredictRequest]) -> list[PipelineResult | Exception]:
        """The chunk's answers in one model call; if something unexpected escapes it, each request on its own.

        `run_many` answers the errors a request can cause (invalid input, permission, a bad score) in
        its place; anything else would sink the whole chunk, and every re-run of the job with it.
        """
        try:
            return list(self.pipeline.run_many(requests))
        except Exception:  # noqa: BLE001 - find the request that failed: the others are still scored
            return [self._answer_alone(request) for request in requests]

    def _answer_alone(self, request: PredictRequest) -> PipelineResult | Exception:
        try:
            [answer] = self.pipeline.run_many([request])
        except Exception as exc:  # noqa: BLE001 - this request's own failure: it becomes its reject
            return exc
        return answer


def personal_scorer(model: ModelDirectory, scorer: OnnxScorer) -> PersonalScorer:
    """The model's personal parts for `--personalized`, checked; ModelError when the model has none."""
    personal = PersonalScorer.for_model(model, scorer.logit)
    if personal is None:
        raise ModelError(f"model {model.model_id} has no personal parts, so --personalized has nothing to apply; "
                         "use a model written by `mleditor federated run --personalize head`, or drop the flag")
    return personal


def _file(result: ChunkResult, row: InputRow, answer: PipelineResult | Exception) -> None:
    """Add the row's prediction to the result, or its reject."""
    if isinstance(answer, Exception):
        result.rejects.append(_reject(row, answer))
        return
    try:
        record = prediction_record(row.site, row.question_id, row.title, answer.content_hash, answer.prediction)
    except Exception as exc:  # noqa: BLE001 - one row's failure, whatever it is, is that row's reject
        result.rejects.append(_reject(row, exc))
        return
    result.predictions.append(record)


def _reject(row: InputRow, exc: Exception) -> RejectRecord:
    """The reject of a row, with a one-line reason; an error that is not ours is named by its type."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if not isinstance(exc, MLEditorError):
        text = f"could not be scored ({type(exc).__name__}{': ' + text if text else ''})"
    return RejectRecord(row.site, row.question_id, row.source, (text or type(exc).__name__)[:500], row.ordinal)

