"""Scoring questions in-process with one model directory (CLI, evaluation, benchmarks): a thin user of `Pipeline`.

    predictor = Predictor.load()                     # the shipped model
    predictor.predict(Question("Flat beer?", "It tastes flat after two weeks."), "v3").score
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np

from mleditor.core.pipeline import Pipeline
from mleditor.core.prediction import Prediction
from mleditor.core.records import Question
from mleditor.core.registry import ModelDirectory, resolve_model
from mleditor.core.requests import PredictRequest
from mleditor.core.runners import DirectRunner
from mleditor.core.scorer import OnnxScorer
from mleditor.core.validation import BodyFormat, check_version
from mleditor.errors import MLEditorError


class Scorer(Protocol):
    """What runs the model: `score(ngram_ids int64 [B, L], dense float32 [B, D]) -> float32 [B]`."""

    def score(self, ngram_ids: np.ndarray, dense: np.ndarray) -> np.ndarray: ...


class Predictor:
    """Loads a model directory once and answers with the pipeline's prediction (no permission, no profiles).

    `scorer` runs the model (default: onnxruntime on the directory's model.onnx); the device door
    passes the one its bundle needs (an ORT-format or LiteRT file).
    """

    def __init__(self, model: ModelDirectory, threads: int = 1, scorer: Scorer | None = None) -> None:
        self.model = model
        self.scorer = scorer if scorer is not None else OnnxScorer.from_path(model.onnx_path, threads=threads)
        # A lambda, not the bound method, so a test may replace `scorer.score` and still be called.
        self.pipeline = Pipeline(model, DirectRunner(lambda ids, dense: self.scorer.score(ids, dense)))

    @classmethod
    def load(cls, name_or_path: str | None = None, threads: int = 1) -> Predictor:
        return cls(resolve_model(name_or_path), threads=threads)

    def predict(self, question: Question, version: str = "v3", body_format: BodyFormat = "auto") -> Prediction:
        """Validate and score one question (an HTML body is converted as every door does); v3 adds advice."""
        request = PredictRequest(question.title, question.body, version=check_version(version),
                                 body_format=body_format)
        return self.pipeline.run(request).prediction

    def predict_many(self, questions: Sequence[Question], version: str = "v2") -> list[Prediction]:
        """Score many questions with one model call for all their rows; the first invalid question raises."""
        requests = [PredictRequest(q.title, q.body, version=check_version(version)) for q in questions]
        predictions = []
        for answer in self.pipeline.run_many(requests):
            if isinstance(answer, MLEditorError):
                raise answer
            predictions.append(answer.prediction)
        return predictions
