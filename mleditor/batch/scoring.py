"""The chunk transform both engines share: input rows → predictions and rejects.

Per row it runs the pipeline's own steps (validation limits, `featurize`, `model_input`,
`postprocess`), so a batch prediction says what the API would say. What is vectorized is the
model: the rows of a whole chunk — for v3 every question's counterfactual rows too — are scored
together, one model call per band of n-gram width (a multiple of 32 ids), instead of one call per
question. A row's padded width depends only on its own length, and no call holds a single row, so
a score never depends on which chunk its question landed in: the local and Ray engines agree
exactly.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from mleditor.core.features import featurize, normalize, normalize_title
from mleditor.core.pipeline import (
    ModelInput,
    ModelOutputError,
    model_input,
    postprocess,
)
from mleditor.core.prediction import Prediction, check_version
from mleditor.core.registry import ModelDirectory, resolve_model
from mleditor.core.scorer import OnnxScorer
from mleditor.core.stored import content_hash
from mleditor.core.validation import InputLimits, prepare_question
from mleditor.errors import InvalidInputError
from mleditor.stores.predictions.records import (
    ChunkResult,
    PredictionRecord,
    QuestionKey,
    RejectRecord,
)

BAND = 32  # rows are padded to a multiple of this many ids: little padding, few calls (measured best)
MAX_CELLS_PER_CALL = 4_000_000  # ids per model call (32 MB of int64): bounds memory for long questions
ScoreFn = Callable[[np.ndarray, np.ndarray], np.ndarray]


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

    @property
    def key(self) -> QuestionKey:
        return (self.site, self.question_id)


def prepare_row(row: InputRow, limits: InputLimits) -> tuple[str, str, str]:
    """(title, body, content hash) ready for the featurizer; InvalidInputError says why a row can't be scored."""
    for name, value in (("title", row.title), ("body", row.body)):
        if not isinstance(value, str):
            raise InvalidInputError(f"{name} must be text, got {type(value).__name__}")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidInputError(f"{name} is not valid UTF-8 text; fix the encoding of the input") from None
    if row.markdown:
        # Already converted by ingestion: a second HTML pass could mangle code that shows HTML tags.
        title, body = row.title, row.body
        _check_limits(normalize_title(title), normalize(body), limits, len(body))
    else:
        question = prepare_question(row.title, row.body, limits)
        title, body = question.title, question.body
    return title, body, content_hash(title, body)


def _check_limits(title: str, body: str, limits: InputLimits, raw_body_chars: int) -> None:
    """The limits `prepare_question` applies, for text that must not go through its HTML step."""
    if not title and not body:
        raise InvalidInputError("nothing to score: the title and the body are both empty")
    if len(title) > limits.max_title_chars:
        raise InvalidInputError(f"title is {len(title):,} characters; the limit is {limits.max_title_chars:,}")
    if len(body) > limits.max_body_chars:
        raise InvalidInputError(f"body is {len(body):,} characters; the limit is {limits.max_body_chars:,}")


class ChunkScorer:
    """Scores chunks of rows with one model directory and version; build one per process (or Ray actor)."""

    def __init__(self, model: ModelDirectory, version: str = "v3", limits: InputLimits = InputLimits()) -> None:
        self.model = model
        self.version = check_version(version)
        self.limits = limits
        self.typical = model.typical_values
        self.scorer = None if self.version == "v1" else OnnxScorer.from_path(model.onnx_path, threads=1)

    @classmethod
    def load(cls, model: str | None, version: str = "v3", limits: InputLimits = InputLimits()) -> ChunkScorer:
        """By model directory path or id (None: the shipped default)."""
        return cls(resolve_model(model), version, limits)

    def __call__(self, rows: Sequence[InputRow]) -> ChunkResult:
        """Score the rows; the ones that can't be scored become rejects with the reason."""
        result = ChunkResult()
        todo: list[tuple[InputRow, str, ModelInput]] = []
        for row in rows:
            try:
                title, body, digest = prepare_row(row, self.limits)
                todo.append((row, digest, model_input(featurize(title, body), self.version, self.typical)))
            except (InvalidInputError, ValueError) as exc:
                result.rejects.append(_reject(row, exc))
        model_inputs = [item[2] for item in todo]
        no_model = np.zeros(0, dtype=np.float32)  # v1 is rules only
        scores = score_model_inputs(model_inputs, self.scorer.score) if self.scorer else [no_model] * len(todo)
        for (row, digest, inputs), row_scores in zip(todo, scores):
            try:
                prediction = postprocess(inputs, row_scores, self.model, request_id=f"{row.site}/{row.question_id}")
            except ModelOutputError as exc:
                result.rejects.append(_reject(row, exc))
                continue
            result.predictions.append(prediction_record(row.site, row.question_id, row.title, digest, prediction))
        return result


def prediction_record(site: str, question_id: int, title: str, digest: str, prediction: Prediction,
                      limits: InputLimits = InputLimits()) -> PredictionRecord:
    """What the store keeps of a prediction (also for a door writing a live prediction back)."""
    recommendations = [dict(vars(rec)) for rec in prediction.recommendations]  # flat: asdict is 20x slower
    return PredictionRecord(
        site=site, question_id=question_id, model_version=prediction.model_version, model_id=prediction.model_id,
        content_hash=digest, score=prediction.score,
        best_gain=max((rec["gain"] or 0.0 for rec in recommendations), default=0.0),
        recommendations=json.dumps(recommendations, ensure_ascii=False),
        title=normalize_title(title)[: limits.max_title_chars],
    )


def _reject(row: InputRow, exc: Exception) -> RejectRecord:
    reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return RejectRecord(row.site, row.question_id, row.source, reason, row.ordinal)


def band_width(n_ids: int) -> int:
    """The padded width of a row with `n_ids` n-gram ids: the next multiple of BAND (at least BAND)."""
    return max(1, -(-n_ids // BAND)) * BAND


def score_model_inputs(inputs: Sequence[ModelInput], score: ScoreFn,
                       max_cells: int = MAX_CELLS_PER_CALL) -> list[np.ndarray]:
    """Every row of every question in as few model calls as possible; the scores of each question, in order."""
    sizes = [len(item.dense) for item in inputs]
    starts = np.concatenate([[0], np.cumsum(sizes)]).astype(int)
    scores = np.zeros(int(starts[-1]), dtype=np.float32)
    bands: dict[int, list[int]] = {}
    for index, item in enumerate(inputs):
        bands.setdefault(band_width(item.features.ngram_ids.size), []).append(index)
    for width, members in sorted(bands.items()):
        rows = np.concatenate([np.arange(starts[i], starts[i + 1]) for i in members])
        ids = np.zeros((len(rows), width), dtype=np.int64)
        dense = np.concatenate([inputs[i].dense for i in members]).astype(np.float32, copy=False)
        at = 0
        for i in members:
            grams = inputs[i].features.ngram_ids
            ids[at:at + sizes[i], : grams.size] = grams
            at += sizes[i]
        step = max(2, max_cells // width)
        for begin in range(0, len(rows), step):
            part = slice(begin, begin + step)
            scores[rows[part]] = _score_at_least_two(score, ids[part], dense[part])
    return [scores[starts[i]:starts[i + 1]] for i in range(len(inputs))]


def _score_at_least_two(score: ScoreFn, ids: np.ndarray, dense: np.ndarray) -> np.ndarray:
    """onnxruntime takes another kernel path for a batch of one (last-bit differences): never send one."""
    if len(ids) != 1:
        return score(ids, dense)
    return score(np.concatenate([ids, ids]), np.concatenate([dense, dense]))[:1]
