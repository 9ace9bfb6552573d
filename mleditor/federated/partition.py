"""Clients are authors; each author's questions split over time into earlier (train) and later (held out).

Invariants: an author is a site plus an owner id (`QuestionRecord.author_key` with an owner id);
questions without an owner id belong to no client and are left out. A hashed fraction of authors
(`unseen_fraction`, salted by `seed`) never trains: all their questions are `unseen`, for the
global model's generalization to new clients. Every other author's questions are ordered by
creation date (then id); the last `heldout_fraction` of them, at least one, are `heldout` and
the earlier ones `train`, so no held-out question is older than any of the author's training
questions. An author with a single question has nothing earlier to be judged against: that
question trains. Labels are the project's (`training.splits.label_questions`), over all records.
The same records and config give the same partition.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from mleditor.core.records import QuestionRecord
from mleditor.training.splits import label_questions, unit_interval

ROLES = ("train", "heldout", "unseen")
HISTORY_BUCKETS = ("1", "2-4", "5-9", "10+")


@dataclass(frozen=True)
class PartitionConfig:
    """How authors are split; `label_mode` and `min_group` as in `SplitConfig`."""

    heldout_fraction: float = 0.3
    unseen_fraction: float = 0.15
    seed: int = 0
    label_mode: str = "site-year"
    min_group: int = 30

    def __post_init__(self) -> None:
        for name in ("heldout_fraction", "unseen_fraction"):
            value = getattr(self, name)
            if not 0.0 <= value < 1.0:
                raise ValueError(f"partition {name}={value!r} is not valid; expected a number in [0, 1)")


@dataclass(frozen=True)
class Partition:
    """Author questions, row-aligned: the record, its label, its author, its role and its history bucket.

    `history` is the number of the author's training questions (0 for unseen authors);
    `bucket` names it as in HISTORY_BUCKETS ("" for unseen authors).
    """

    records: list[QuestionRecord]
    labels: np.ndarray
    authors: np.ndarray
    roles: np.ndarray
    history: np.ndarray

    def mask(self, role: str) -> np.ndarray:
        return np.asarray(self.roles == role)

    @property
    def buckets(self) -> np.ndarray:
        return np.array([history_bucket(int(n)) for n in self.history])

    def clients(self) -> dict[str, np.ndarray]:
        """Each training author's row indices (what a client holds), in author order."""
        rows: dict[str, list[int]] = defaultdict(list)
        for i in np.flatnonzero(self.mask("train")):
            rows[str(self.authors[i])].append(int(i))
        return {author: np.array(index) for author, index in sorted(rows.items())}


def history_bucket(earlier: int) -> str:
    """The history-length bucket of an author with `earlier` training questions ("" for none)."""
    if earlier <= 0:
        return ""
    if earlier == 1:
        return "1"
    return "2-4" if earlier < 5 else "5-9" if earlier < 10 else "10+"


def heldout_count(n: int, fraction: float) -> int:
    """How many of an author's `n` questions are held out: the last `fraction`, at least one, never all."""
    if n < 2:
        return 0
    return min(n - 1, max(1, int(n * fraction + 1e-9)))


def is_unseen(author: str, config: PartitionConfig) -> bool:
    return unit_interval(f"federated-unseen:{author}", config.seed) < config.unseen_fraction


def partition_authors(records: Sequence[QuestionRecord], config: PartitionConfig = PartitionConfig()) -> Partition:
    """Label every record, keep those with an owner id and assign each a role (see the module docstring)."""
    labels = label_questions(records, config.label_mode, config.min_group)
    keep = [i for i, record in enumerate(records) if record.owner_id is not None]
    by_author: dict[str, list[int]] = defaultdict(list)
    for i in keep:
        by_author[records[i].author_key].append(i)
    roles: dict[int, str] = {}
    history: dict[int, int] = {}
    for author, rows in by_author.items():
        ordered = sorted(rows, key=lambda i: (records[i].creation_date, records[i].id))
        unseen = is_unseen(author, config)
        held = len(ordered) if unseen else heldout_count(len(ordered), config.heldout_fraction)
        cut = len(ordered) - held
        for position, i in enumerate(ordered):
            roles[i] = "unseen" if unseen else "train" if position < cut else "heldout"
            history[i] = 0 if unseen else cut
    return Partition(
        records=[records[i] for i in keep], labels=labels[keep],
        authors=np.array([records[i].author_key for i in keep]),
        roles=np.array([roles[i] for i in keep]), history=np.array([history[i] for i in keep], dtype=np.int64),
    )


def author_counts(records: Sequence[QuestionRecord]) -> dict[str, int]:
    """Authors (with an owner id) having at least 1, 2, 5 and 10 questions, and the largest author's count."""
    counts = Counter(r.author_key for r in records if r.owner_id is not None)
    found = {f">={k}": sum(1 for n in counts.values() if n >= k) for k in (1, 2, 5, 10)}
    return {**found, "largest": max(counts.values(), default=0)}
