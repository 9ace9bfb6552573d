"""Scoring questions in-process with one model directory (CLI, evaluation, benchmarks): a thin user of `Pipeline`.

    predictor = Predictor.load()                     # the shipped model
    predictor.predict(Question("Flat beer?", "It tastes flat after two weeks."), "v3").score
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np

from mleditor.core.personal import PersonalScorer
from mleditor.core.pipeline import Pipeline
from mleditor.core.prediction import Prediction
from mleditor.core.records import Question
from mleditor.core.registry import ModelDirectory, resolve_model
from mleditor.core.requests import PredictRequest
from mleditor.core.runners import DirectRunner
from mleditor.core.scorer import OnnxScorer
from mleditor.core.validation import BodyFormat, check_version
from mleditor.errors import MLEditorError, ModelError


class Scorer(Protocol):
    """What runs the model: `score(ngram_ids int64 [B, L], dense float32 [B, D]) -> float32 [B]`."""

    def score(self, ngram_ids: np.ndarray, dense: np.ndarray) -> np.ndarray: ...


class Predictor:
    """Loads a model directory once and answers with the pipeline's prediction (no permission, no profiles).

    `scorer` runs the model (default: onnxruntime on the directory's model.onnx); the device door
    passes the one its bundle needs (an ORT-format or LiteRT file). With `author` (an author key,
    `site:user:<owner id>`), every question is scored with that author's personal part, which the
    model directory must hold (a device bundle built with `--author`); it is checked here.
    """

    def __init__(self, model: ModelDirectory, threads: int = 1, scorer: Scorer | None = None, *,
                 author: str | None = None) -> None:
        self.model = model
        self.scorer = scorer if scorer is not None else OnnxScorer.from_path(model.onnx_path, threads=threads)
        self.author = author
        personal = self._personal(author) if author is not None else None
        # A lambda, not the bound method, so a test may replace `scorer.score` and still be called.
        self.pipeline = Pipeline(model, DirectRunner(lambda ids, dense: self.scorer.score(ids, dense)),
                                 personal=personal)

    def _personal(self, author: str) -> PersonalScorer:
        """The author's personal part, checked; ModelError when the model or its engine cannot serve it."""
        if not isinstance(self.scorer, OnnxScorer):
            raise ModelError("a personal part needs the model's logit output, which only ONNX Runtime models give; "
                             "use an ONNX Runtime variant (fp32, int8, ...)")
        personal = PersonalScorer.for_model(self.model, self.scorer.logit)
        if personal is None or personal.lookup(author) is None:
            raise ModelError(f"model {self.model.model_id} has no personal part for author {author!r}; "
                             "build the bundle with `mleditor device build --author KEY`")
        return personal

    @classmethod
    def load(cls, name_or_path: str | None = None, threads: int = 1) -> Predictor:
        return cls(resolve_model(name_or_path), threads=threads)

    def predict(self, question: Question, version: str = "v3", body_format: BodyFormat = "auto") -> Prediction:
        """Validate and score one question (an HTML body is converted as every door does); v3 adds advice."""
        request = PredictRequest(question.title, question.body, version=check_version(version),
                                 body_format=body_format, author=self.author)
        return self.pipeline.run(request).prediction

    def predict_many(self, questions: Sequence[Question], version: str = "v2") -> list[Prediction]:
        """Score many questions with one model call for all their rows; the first invalid question raises."""
        requests = [PredictRequest(q.title, q.body, version=check_version(version), author=self.author)
                    for q in questions]
        predictions = []
        for answer in self.pipeline.run_many(requests):
            if isinstance(answer, MLEditorError):
                raise answer
            predictions.append(answer.prediction)
        return predictions
