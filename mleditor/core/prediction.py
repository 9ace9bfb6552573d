"""What ML Editor says about one question, whichever door it came through."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mleditor.core.recommend import Recommendation


@dataclass(frozen=True)
class Prediction:
    """A calibrated score, the recommendations, and the model version and id that produced them."""

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

