"""What ML Editor says about one question, whichever door it came through."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mleditor.core.recommend import Recommendation
from mleditor.core.registry import MODEL_VERSIONS
from mleditor.errors import InvalidInputError


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


def check_version(version: str) -> str:
    """Refuse a model version that does not exist, naming the ones that do."""
    if version not in MODEL_VERSIONS:
        raise InvalidInputError(f"unknown model version {version!r}; choose one of {', '.join(MODEL_VERSIONS)}")
    return version
