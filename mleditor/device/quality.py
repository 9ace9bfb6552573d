"""What a device variant costs in quality: its ROC AUC and ECE beside the source model's, on the same questions.

The questions are the real ones the source was trained on, labelled and split exactly as its
meta.json says (`mleditor.training.splits`): the author-split test set and the held-out site give
the ranking and calibration figures (`mleditor.training.metrics`), and every question, whatever
its split, gives the largest and the 99th-percentile |variant score - source score|. The
questions are featurized once (`LabelledQuestions`) and the source scored once, so one
`labelled_questions` serves any number of variants. No torch here: a variant is measured
through its `ScoreFn`, whatever runtime holds it.

Example::

    from mleditor.core import OnnxScorer, resolve_model
    from mleditor.device.quality import labelled_questions, measure_quality

    source = resolve_model(None)
    questions = labelled_questions(source, Path("data/questions.sqlite"))
    quality = measure_quality(source, OnnxScorer.from_path("int8/model.onnx").score, questions)
    print(quality.test.delta_roc_auc, quality.max_abs_delta_score)
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mleditor.config import dump_dirs
from mleditor.core.features import featurize_many
from mleditor.core.records import QuestionRecord
from mleditor.core.registry import ModelDirectory
from mleditor.core.runners import ScoreFn
from mleditor.core.scorer import OnnxScorer, pad_ngram_ids
from mleditor.errors import DataError
from mleditor.training.metrics import compute_metrics
from mleditor.training.splits import SplitConfig, assign_splits, label_questions
from mleditor.training.train import FeatureTable

BATCH = 256  # questions per model call


@dataclass(frozen=True)
class LabelledQuestions:
    """The real questions featurized once, with their labels, splits and the source model's scores."""

    table: FeatureTable
    labels: np.ndarray  # int64 [N], 1 = well received
    splits: np.ndarray  # "train" | "val" | "test" | "holdout", [N]
    split: SplitConfig
    source_scores: np.ndarray  # float32 [N]

    def mask(self, split: str) -> np.ndarray:
        return np.asarray(self.splits == split)


@dataclass(frozen=True)
class SetQuality:
    """Ranking and calibration on one evaluation set, variant beside source."""

    name: str
    n: int
    roc_auc: float
    ece: float
    source_roc_auc: float
    source_ece: float

    @property
    def delta_roc_auc(self) -> float:
        return self.roc_auc - self.source_roc_auc

    @property
    def delta_ece(self) -> float:
        return self.ece - self.source_ece

    def to_dict(self, prefix: str) -> dict[str, Any]:
        """Flat keys: `<prefix>_auc`, `source_<prefix>_auc`, `delta_<prefix>_auc`, the same for ECE, `<prefix>_n`."""
        return {
            f"{prefix}_set": self.name, f"{prefix}_n": self.n,
            f"{prefix}_auc": self.roc_auc, f"source_{prefix}_auc": self.source_roc_auc,
            f"delta_{prefix}_auc": self.delta_roc_auc,
            f"{prefix}_ece": self.ece, f"source_{prefix}_ece": self.source_ece, f"delta_{prefix}_ece": self.delta_ece,
        }


@dataclass(frozen=True)
class VariantQuality:
    """A variant's quality against its source: the test set, the held-out site, the score differences."""

    test: SetQuality
    holdout: SetQuality | None  # None when the source was trained without a held-out site
    n_questions: int  # every real question, whatever its split: what the |Δscore| figures cover
    max_abs_delta_score: float
    p99_abs_delta_score: float

    def to_dict(self) -> dict[str, Any]:
        """One flat JSON object (what a bundle's manifest keeps): `test_auc`, `source_test_auc`, ... (`SetQuality`)."""
        return {
            **self.test.to_dict("test"),
            **(self.holdout.to_dict("holdout") if self.holdout is not None else {}),
            "n_questions": self.n_questions,
            "max_abs_delta_score": self.max_abs_delta_score,
            "p99_abs_delta_score": self.p99_abs_delta_score,
        }


def load_records(data: Path) -> list[QuestionRecord]:
    """The questions of a dataset file (`mleditor data ingest`), or of the dumps under a data folder (MLEDITOR_DATA)."""
    from mleditor.core.dataset import read_dataset

    data = Path(data)
    if data.is_file():
        return read_dataset(data)
    dumps = dump_dirs({"MLEDITOR_DATA": str(data)})
    if not dumps:
        raise DataError(f"no dataset file or dumps at {data} (expected {data}/stackexchange*/<site>/Posts.xml); "
                        "pass a file from `mleditor data ingest` or set MLEDITOR_DATA")
    from mleditor.core.ingest import ingest_dumps

    # Ingesting is how the source's dataset was made (two dumps of one site merged): the same questions.
    with tempfile.TemporaryDirectory(prefix="mleditor-quality-") as scratch:
        dataset = Path(scratch) / "questions.sqlite"
        ingest_dumps(dumps, dataset)
        return read_dataset(dataset)


def featurize_table(records: Sequence[QuestionRecord]) -> FeatureTable:
    """The records' n-gram ids and dense features, in one `featurize_many` call."""
    features = featurize_many([r.title for r in records], [r.body for r in records])
    dense = np.array([f.dense for f in features], dtype=np.float64).reshape(len(features), -1)
    return FeatureTable([f.ngram_ids for f in features], dense)


def labelled_questions(source: ModelDirectory, data: Path | Sequence[QuestionRecord]) -> LabelledQuestions:
    """The questions labelled and split as the source model's meta.json says, featurized, scored by the source."""
    records = load_records(data) if isinstance(data, (str, Path)) else list(data)
    if not records:
        raise DataError(f"{data} holds no questions; ingest the dumps again with `mleditor data ingest`")
    split = SplitConfig(**source.meta["training"]["split"])
    table = featurize_table(records)
    source_scores = score_table(OnnxScorer.from_path(source.onnx_path).score, table)
    return LabelledQuestions(table, label_questions(records, split.label_mode, split.min_group),
                             assign_splits(records, split), split, source_scores)


def score_table(score: ScoreFn, table: FeatureTable) -> np.ndarray:
    """Scores float32 [N] of every row of `table`, `BATCH` questions per call."""
    parts = [
        np.asarray(score(pad_ngram_ids(table.ngram_ids[start : start + BATCH]),
                         table.dense[start : start + BATCH].astype(np.float32)), dtype=np.float32)
        for start in range(0, len(table.ngram_ids), BATCH)
    ]
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)


def measure_quality(source: ModelDirectory, score: ScoreFn,
                    data: Path | Sequence[QuestionRecord] | LabelledQuestions) -> VariantQuality:
    """The variant behind `score` against `source`: AUC and ECE on the test set and the held-out site, |Δscore|."""
    questions = data if isinstance(data, LabelledQuestions) else labelled_questions(source, data)
    scores = score_table(score, questions.table)
    holdout = questions.mask("holdout")
    delta = np.abs(scores.astype(np.float64) - questions.source_scores.astype(np.float64))
    return VariantQuality(
        test=_set_quality("test (author split)", questions, scores, questions.mask("test")),
        holdout=_set_quality(f"held-out site: {questions.split.holdout_site}", questions, scores, holdout)
        if holdout.any() else None,
        n_questions=int(scores.size),
        max_abs_delta_score=float(delta.max()),
        p99_abs_delta_score=float(np.percentile(delta, 99)),
    )


def _set_quality(name: str, questions: LabelledQuestions, scores: np.ndarray, mask: np.ndarray) -> SetQuality:
    labels = questions.labels[mask]
    variant, source = compute_metrics(labels, scores[mask]), compute_metrics(labels, questions.source_scores[mask])
    return SetQuality(name, variant.n, variant.roc_auc, variant.ece, source.roc_auc, source.ece)
