"""Scoring questions with one model directory, as v1 (rules), v2 (model score) or v3 (score + model advice)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mleditor.core.features import Features, featurize
from mleditor.core.recommend import (
    Recommendation,
    counterfactual_batch,
    model_recommendations,
    rule_recommendations,
    rule_score,
)
from mleditor.core.records import Question
from mleditor.core.registry import MODEL_VERSIONS, ModelDirectory, resolve_model
from mleditor.core.scorer import OnnxScorer, pad_ngram_ids
from mleditor.errors import InvalidInputError, ModelError


@dataclass(frozen=True)
class Prediction:
    """What ML Editor says about one question."""

    score: float
    model_version: str
    model_id: str
    recommendations: list[Recommendation] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "score": round(self.score, 6),
            "model_version": self.model_version,
            "model_id": self.model_id,
            "recommendations": [rec.to_dict() for rec in self.recommendations],
        }


def check_version(version: str) -> str:
    if version not in MODEL_VERSIONS:
        raise InvalidInputError(f"unknown model version {version!r}; choose one of {', '.join(MODEL_VERSIONS)}")
    return version


def check_scores(scores: np.ndarray) -> np.ndarray:
    """The model's output must be finite probabilities; anything else is a model fault, never an answer."""
    if not np.all(np.isfinite(scores)) or np.any(scores < 0) or np.any(scores > 1):
        raise ModelError("the model returned a score outside [0, 1]; the model file may be damaged — retrain it")
    return scores


class Predictor:
    """Loads a model directory once and scores questions with it."""

    def __init__(self, model: ModelDirectory, threads: int = 1) -> None:
        self.model = model
        self.scorer = OnnxScorer.from_path(model.onnx_path, threads=threads)
        self.typical = model.typical_values
        self.v1_calibration = model.v1_calibration

    @classmethod
    def load(cls, name_or_path: str | None = None, threads: int = 1) -> Predictor:
        return cls(resolve_model(name_or_path), threads=threads)

    def model_scores(self, batch: Sequence[Features]) -> np.ndarray:
        """Calibrated v2 scores of featurized questions, in one model call."""
        ids = pad_ngram_ids([f.ngram_ids for f in batch])
        dense = np.stack([f.dense for f in batch]).astype(np.float32)
        return check_scores(self.scorer.score(ids, dense))

    def predict(self, question: Question, version: str = "v3") -> Prediction:
        """Score one question; v3 adds the model's recommendations from one batched call."""
        return self.predict_features(featurize(question.title, question.body), version)

    def predict_features(self, features: Features, version: str = "v3") -> Prediction:
        check_version(version)
        model_id = self.model.model_id
        dense = features.dense_dict()
        if version == "v1":
            recommendations = rule_recommendations(dense)
            failed = len(recommendations)
            return Prediction(rule_score(failed, self.v1_calibration), version, model_id, recommendations)
        if version == "v2":
            return Prediction(float(self.model_scores([features])[0]), version, model_id)
        names, rows = counterfactual_batch(features.dense, self.typical)
        ids = pad_ngram_ids([features.ngram_ids] * len(rows))
        scores = check_scores(self.scorer.score(ids, rows.astype(np.float32)))
        return Prediction(float(scores[0]), version, model_id, model_recommendations(features.dense, self.typical, scores, names))

    def predict_many(self, questions: Sequence[Question], version: str = "v2") -> list[Prediction]:
        """Score many questions; v2 runs them through the model in one call."""
        check_version(version)
        batch = [featurize(q.title, q.body) for q in questions]
        if version != "v2" or not batch:
            return [self.predict_features(f, version) for f in batch]
        scores = self.model_scores(batch)
        return [Prediction(float(s), version, self.model.model_id) for s in scores]

