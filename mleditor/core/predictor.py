"""Scoring questions in-process with one model directory: the pipeline's steps without a server."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mleditor.core.features import Features, featurize
from mleditor.core.pipeline import model_input, postprocess, run_model
from mleditor.core.prediction import Prediction, check_version
from mleditor.core.records import Question
from mleditor.core.registry import ModelDirectory, resolve_model
from mleditor.core.scorer import OnnxScorer, pad_ngram_ids
from mleditor.core.validation import prepare_question


class Predictor:
    """Loads a model directory once and scores questions with it (CLI, evaluation, benchmarks)."""

    def __init__(self, model: ModelDirectory, threads: int = 1) -> None:
        self.model = model
        self.scorer = OnnxScorer.from_path(model.onnx_path, threads=threads)
        self.typical = model.typical_values

    @classmethod
    def load(cls, name_or_path: str | None = None, threads: int = 1) -> Predictor:
        return cls(resolve_model(name_or_path), threads=threads)

    def predict(self, question: Question, version: str = "v3") -> Prediction:
        """Validate and score one question (an HTML body is converted as every door does); v3 adds advice."""
        question = prepare_question(question.title, question.body)
        return self.predict_features(featurize(question.title, question.body), version)

    def predict_features(self, features: Features, version: str = "v3") -> Prediction:
        check_version(version)
        inputs = model_input(features, version, self.typical)
        return postprocess(inputs, run_model(inputs, self.scorer.score), self.model)

    def predict_many(self, questions: Sequence[Question], version: str = "v2") -> list[Prediction]:
        """Score many questions; v2 runs them through the model in one call."""
        check_version(version)
        batch = [featurize(p.title, p.body) for p in (prepare_question(q.title, q.body) for q in questions)]
        if version != "v2" or not batch:
            return [self.predict_features(f, version) for f in batch]
        ids = pad_ngram_ids([f.ngram_ids for f in batch])
        dense = np.stack([f.dense for f in batch]).astype(np.float32)
        scores = self.scorer.score(ids, dense)
        return [postprocess(model_input(f, "v2", self.typical), scores[i : i + 1], self.model)
                for i, f in enumerate(batch)]
