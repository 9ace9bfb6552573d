"""An author's history as features, from strictly earlier questions at least `lag_days` older.

Invariant: the features of a question asked at time `at` use only the author's questions created
before `at` and at least `lag_days` days before it; nothing at or after `at` ever counts. The lag
exists because the dumps hold only final scores: an earlier question's label includes votes cast
after the new question was asked, so with no lag the mean label leaks the future; a gain that
vanishes as the lag grows was that leak. `history_features` is what the gather step serves for a
request: a pure function of the author's earlier (date, label) pairs and the request time.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np

from mleditor.core.records import QuestionRecord

USER_FEATURES = ("log_history_count", "history_mean_label", "log_days_since_first")
LAGS_DAYS = (0, 7, 30)


@dataclass(frozen=True)
class AuthorHistory:
    """What is known of an author at request time: earlier questions counted, their mean label, days since the first."""

    count: int = 0
    mean_label: float | None = None
    days_since_first: float = 0.0

    def as_vector(self) -> np.ndarray:
        """USER_FEATURES: log(1 + count), mean label centred on 0.5 (0 without history), log(1 + days)."""
        centred = 0.0 if self.mean_label is None else self.mean_label - 0.5
        return np.array([math.log1p(self.count), centred, math.log1p(self.days_since_first)])


def parse_date(value: str) -> datetime:
    """A dump's CreationDate (ISO 8601, no zone) as a naive datetime."""
    return datetime.fromisoformat(value)


def history_features(earlier: Sequence[tuple[datetime, int]], at: datetime, lag_days: float = 0.0) -> AuthorHistory:
    """The author's history at `at` from (date, label) pairs: only those before `at` by at least `lag_days`."""
    if lag_days < 0:
        raise ValueError(f"user features lag_days={lag_days!r} is not valid; expected a number >= 0")
    cutoff = at - timedelta(days=lag_days)
    used = [(date, label) for date, label in earlier if date < at and date <= cutoff]
    if not used:
        return AuthorHistory()
    first = min(date for date, _ in used)
    return AuthorHistory(count=len(used), mean_label=sum(label for _, label in used) / len(used),
                         days_since_first=(at - first).total_seconds() / 86400)


def author_feature_matrix(records: Sequence[QuestionRecord], labels: np.ndarray, lag_days: float = 0.0) -> np.ndarray:
    """USER_FEATURES for every record, row-aligned, each from its author's other questions (`history_features`)."""
    dates = [parse_date(r.creation_date) for r in records]
    by_author: dict[str, list[int]] = defaultdict(list)
    for i, record in enumerate(records):
        by_author[record.author_key].append(i)
    out = np.zeros((len(records), len(USER_FEATURES)))
    for rows in by_author.values():
        pairs = [(dates[i], int(labels[i])) for i in rows]
        for i in rows:
            out[i] = history_features(pairs, dates[i], lag_days).as_vector()
    return out
