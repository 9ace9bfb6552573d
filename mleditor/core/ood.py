"""Out of distribution: is a question's dense vector far outside what the model was trained on?

A model directory records, per dense feature, the range its training questions covered: the
minimum, the 0.1 % and 99.9 % quantiles and the maximum (meta.json `dense_ranges`). A value is
*far outside* when it lies beyond the quantiles by more than `MARGIN` times their distance, and
beyond the training minimum or maximum too, so every training question is inside by construction.
The model's score for a question far outside is an extrapolation (a 50,000-character word scored
1.00, the same letters with spaces 0.24): the answer says so instead of giving a verdict.

    ranges = resolve_model().dense_ranges       # `mleditor train`: FeatureRanges.measure(training rows)
    out_of_distribution(featurize("Flat beer?", "a" * 50_000).dense, ranges)[0].describe()
    # 'body_chars 50,000 vs at most 8,358'
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mleditor.core.features import DENSE_FEATURES

QUANTILES = (0.001, 0.999)
# Limits at quantile ± 1 × (q99.9 - q0.1): of the shipped model's 1,463 questions outside its
# training split (validation, test, the held-out site) one is flagged (80 links, 139 list items).
MARGIN = 1.0
UNUSUAL_INPUT_LABEL = "unsure: unusual input"  # the answer's label instead of a verdict
# Flags and ratios live in [0, 1] by the spec (FEATURES.md §7): the model cannot be pushed far by them, and an
# all-capitals title (ratio 1 vs a training maximum of 0.46) is common, advised against, and not an unknown input.
BOUNDED_FEATURES = frozenset({"title_has_question_mark", "title_starts_with_question_word", "title_uppercase_ratio",
                              "repetition_ratio", "code_char_ratio", "has_greeting_or_thanks",
                              "title_words_in_body_ratio"})
_CHECKED = np.array([name not in BOUNDED_FEATURES for name in DENSE_FEATURES])
_KEYS = ("min", "q001", "q999", "max")


def _number(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"


@dataclass(frozen=True)
class OutOfRange:
    """One dense feature far outside the training range: its value and what training questions had."""

    feature: str
    value: float
    lowest: float  # the training minimum
    highest: float  # the training maximum

    def describe(self) -> str:
        """In words, e.g. `chars_per_word 50,000 vs at most 7.39`."""
        if self.value > self.highest:
            return f"{self.feature} {_number(self.value)} vs at most {_number(self.highest)}"
        return f"{self.feature} {_number(self.value)} vs at least {_number(self.lowest)}"


@dataclass(frozen=True)
class FeatureRanges:
    """The training range of each dense feature (arrays in `DENSE_FEATURES` order) and the limits they give."""

    minimum: np.ndarray
    low: np.ndarray  # the 0.1 % quantile
    high: np.ndarray  # the 99.9 % quantile
    maximum: np.ndarray
    questions: int
    lower: np.ndarray = field(init=False, repr=False, compare=False)
    upper: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        span = self.high - self.low
        object.__setattr__(self, "lower", np.minimum(self.minimum, self.low - MARGIN * span))
        object.__setattr__(self, "upper", np.maximum(self.maximum, self.high + MARGIN * span))

    @classmethod
    def measure(cls, dense: np.ndarray) -> FeatureRanges:
        """The ranges of a dense matrix, one row per training question."""
        dense = np.asarray(dense, dtype=np.float64)
        if dense.ndim != 2 or dense.shape[1] != len(DENSE_FEATURES) or len(dense) == 0:
            raise ValueError(f"need at least one row of {len(DENSE_FEATURES)} dense features; got shape {dense.shape}")
        low, high = np.quantile(dense, QUANTILES, axis=0)
        return cls(dense.min(axis=0), low, high, dense.max(axis=0), len(dense))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FeatureRanges:
        """What `to_dict` wrote; a ValueError says what is missing or not a number."""
        try:
            features = data["features"]
            table = np.array([[float(features[name][key]) for key in _KEYS] for name in DENSE_FEATURES])
            questions = int(data["questions"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"dense_ranges needs min, q001, q999 and max for every dense feature ({exc!r})") from None
        if not np.all(np.isfinite(table)):
            raise ValueError("dense_ranges holds a value that is not a finite number")
        minimum, low, high, maximum = table.T.copy()
        return cls(minimum, low, high, maximum, questions)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form meta.json keeps."""
        def entry(i: int) -> dict[str, float]:  # min and max exact: every training question stays inside
            return {"min": float(self.minimum[i]), "q001": round(float(self.low[i]), 4),
                    "q999": round(float(self.high[i]), 4), "max": float(self.maximum[i])}

        return {"measured_on": "train", "questions": self.questions, "quantiles": list(QUANTILES),
                "features": {name: entry(i) for i, name in enumerate(DENSE_FEATURES)}}


def out_of_distribution(dense: np.ndarray, ranges: FeatureRanges | None) -> tuple[OutOfRange, ...]:
    """The features of one dense vector far outside the training ranges; none without ranges (older models)."""
    if ranges is None:
        return ()
    outside = ((dense > ranges.upper) | (dense < ranges.lower)) & _CHECKED
    if not outside.any():
        return ()
    return tuple(OutOfRange(DENSE_FEATURES[i], float(dense[i]), float(ranges.minimum[i]), float(ranges.maximum[i]))
                 for i in np.flatnonzero(outside))
