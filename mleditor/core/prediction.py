"""What ML Editor says about one question, whichever door it came through."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mleditor.core.ood import OutOfRange
from mleditor.core.recommend import Recommendation


@dataclass(frozen=True)
class Personalization:
    """Whose personal model part made a score: its kind ("head") and the author key (`site:user:<id>`)."""

    kind: str
    author: str

    @property
    def key(self) -> str:
        """`kind:author`, as a prediction store records it ("" stands for the global model)."""
        return f"{self.kind}:{self.author}"

    @classmethod
    def from_key(cls, key: str) -> Personalization | None:
        """The personalization a store recorded as `key`; None for "" (the global model)."""
        kind, _, author = key.partition(":")
        return cls(kind, author) if key else None


def personal_key(personal: Personalization | None) -> str:
    """The store's record of a personalization: its key, or "" for the global model."""
    return "" if personal is None else personal.key


@dataclass(frozen=True)
class Prediction:
    """A calibrated score, the recommendations, and the model version and id that produced them.

    `out_of_distribution` lists the dense features far outside the training ranges (empty when the
    question is like the training questions, or the model has no ranges): the score is then unreliable.
    `personal` names the author's personal model part that made the score (None: the global model).
    """

    score: float
    model_version: str
    model_id: str
    recommendations: list[Recommendation] = field(default_factory=list)
    out_of_distribution: tuple[OutOfRange, ...] = ()
    personal: Personalization | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "score": round(self.score, 6),
            "model_version": self.model_version,
            "model_id": self.model_id,
            "recommendations": [rec.to_dict() for rec in self.recommendations],
            "out_of_distribution": [item.feature for item in self.out_of_distribution],
            "personalized": self.personal is not None,
            "personalization": None if self.personal is None else self.personal.kind,
        }

