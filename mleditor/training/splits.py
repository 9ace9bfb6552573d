"""Labels and splits: what "well received" means, and which questions train, tune, test and hold out.

Label: a question is well received when its score is above the median score of the questions
of the same site created in the same year ("site-year"). Votes accumulate over the years and
differ by site (beer's 2014 median is 7, its 2017 median 4), so comparing a question with its
contemporaries on its own site controls for both. A site-year with fewer than
`min_group` questions falls back to the site's median. `mode="site"` uses the site median alone.

Splits: whole authors go to one split (hash of the author key), so no author is in train and
test; one whole site is held out of training altogether to measure generalization to a new site.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from mleditor.core.records import QuestionRecord

LABEL_MODES = ("site-year", "site")
SPLITS = ("train", "val", "test", "holdout")


@dataclass(frozen=True)
class SplitConfig:
    """How questions are labelled and split; recorded in the model's metadata so evaluation repeats it."""

    label_mode: str = "site-year"
    min_group: int = 30
    holdout_site: str | None = "ai"
    val_fraction: float = 0.15
    test_fraction: float = 0.15
    seed: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _median_keys(record: QuestionRecord, mode: str) -> tuple[str, str]:
    return record.site, record.creation_date[:4] if mode == "site-year" else ""


def label_questions(records: Sequence[QuestionRecord], mode: str = "site-year", min_group: int = 30) -> np.ndarray:
    """1 where a question's score is strictly above its group's median, else 0."""
    if mode not in LABEL_MODES:
        raise ValueError(f"unknown label mode {mode!r}; choose one of {', '.join(LABEL_MODES)}")
    by_site: dict[str, list[int]] = defaultdict(list)
    by_group: dict[tuple[str, str], list[int]] = defaultdict(list)
    for record in records:
        by_site[record.site].append(record.score)
        by_group[_median_keys(record, mode)].append(record.score)
    site_median = {site: float(np.median(scores)) for site, scores in by_site.items()}
    group_median = {
        key: float(np.median(scores)) if len(scores) >= min_group else site_median[key[0]]
        for key, scores in by_group.items()
    }
    return np.array([int(r.score > group_median[_median_keys(r, mode)]) for r in records], dtype=np.int64)


def unit_interval(key: str, seed: int) -> float:
    """A stable pseudo-random number in [0, 1) for `key`: the same key lands in the same split."""
    digest = hashlib.sha256(f"{seed}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def assign_splits(records: Sequence[QuestionRecord], config: SplitConfig) -> np.ndarray:
    """The split of each question: 'holdout' for the held-out site, else by its author's hash."""
    splits = []
    for record in records:
        if record.site == config.holdout_site:
            splits.append("holdout")
            continue
        u = unit_interval(record.author_key, config.seed)
        if u < config.test_fraction:
            splits.append("test")
        elif u < config.test_fraction + config.val_fraction:
            splits.append("val")
        else:
            splits.append("train")
    return np.array(splits)
