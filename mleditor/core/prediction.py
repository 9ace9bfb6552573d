"""What ML Editor says about one question, whichever door it came through."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mleditor.core.ood import OutOfRange
from mleditor.core.recommend import Recommendation


@dataclass(frozen=True)
class Prediction:
    """A calibrated score, the recommendations, and the model version and id that produced them.

    `out_of_distribution` lists the dense features far outside the training ranges (empty when the
    question is like the training questions, or the model has no ranges): the score is then unreliable.
    """

    score: float
    model_version: str
    model_id: str
    recommendations: list[Recommendation] = field(default_factory=list)
    out_of_distribution: tuple[OutOfRange, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "score": round(self.score, 6),
            "model_version": self.model_version,
            "model_id": self.model_id,
            "recommendations": [rec.to_dict() for rec in self.recommendations],
            "out_of_distribution": [item.feature for item in self.out_of_distribution],
        }

