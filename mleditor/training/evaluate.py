"""`mleditor evaluate`: ML Editor v1/v2/v3 and the book's baselines on the same split, in one run.

Evaluating writes nothing by itself: `evaluate_model` returns rows and `metrics_record` turns them into
the record meta.json keeps. Only `record_metrics` writes into a model directory, and it merges (a model's
earlier baselines and cross-validation survive a run without them) and never touches the models that
ship inside the package.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mleditor.config import PACKAGED_MODELS_DIR
from mleditor.core.dataset import read_dataset
from mleditor.core.predictor import Predictor
from mleditor.core.records import QuestionRecord
from mleditor.core.registry import META_FILE, ModelDirectory
from mleditor.core.scorer import pad_ngram_ids
from mleditor.errors import InvalidInputError
from mleditor.training.baselines import default_baselines
from mleditor.training.crossval import CrossValidatedRow, crossval_table_markdown
from mleditor.training.metrics import BinaryMetrics, compute_metrics
from mleditor.training.report import (
    MetricsRecord,
    metrics_from_dict,
    metrics_markdown,
    metrics_table_markdown,
    metrics_to_dict,
)
from mleditor.training.splits import SplitConfig, assign_splits, label_questions
from mleditor.training.train import FeatureTable, featurize_records

Progress = Callable[[str, float], None]
OURS_V1 = "ML Editor v1 (rules)"
OURS_V2 = "ML Editor v2/v3 (model)"


@dataclass(frozen=True)
class EvaluationRow:
    model: str
    evaluation_set: str
    metrics: BinaryMetrics


def _texts(records: list[QuestionRecord], mask: np.ndarray) -> list[str]:
    return [f"{r.title}\n\n{r.body}" for r, keep in zip(records, mask) if keep]


def _v2_scores(predictor: Predictor, table: FeatureTable) -> np.ndarray:
    scores = []
    for start in range(0, len(table.ngram_ids), 256):
        ids = pad_ngram_ids(table.ngram_ids[start : start + 256])
        scores.append(predictor.scorer.score(ids, table.dense[start : start + 256].astype(np.float32)))
    return np.concatenate(scores)


def _v1_scores(predictor: Predictor, table: FeatureTable) -> np.ndarray:
    """The rules' score through the pipeline's own steps (v1 never calls the model)."""
    from mleditor.core.features import Features
    from mleditor.core.pipeline import model_input, postprocess

    typical, model = predictor.model.typical_values, predictor.model
    return np.array([postprocess(model_input(Features(ids, dense), "v1", typical), np.zeros(0), model).score
                     for ids, dense in zip(table.ngram_ids, table.dense)])


def evaluate_model(model: ModelDirectory, dataset: Path, with_baselines: bool = True,
                   on_progress: Progress | None = None, n_estimators: int = 300) -> list[EvaluationRow]:
    """Score the test split and the held-out site with v1, v2/v3 and the baselines (fitted on train)."""
    split = SplitConfig(**model.meta["training"]["split"])
    records = read_dataset(dataset)
    labels = label_questions(records, split.label_mode, split.min_group)
    splits = assign_splits(records, split)
    table = featurize_records(records, on_progress)
    predictor = Predictor(model)
    sets = {"test (author split)": splits == "test"}
    if split.holdout_site and np.any(splits == "holdout"):
        sets[f"held-out site: {split.holdout_site}"] = splits == "holdout"

    rows: list[EvaluationRow] = []
    for set_name, mask in sets.items():
        part = table.rows(mask)
        rows.append(EvaluationRow(OURS_V2, set_name, compute_metrics(labels[mask], _v2_scores(predictor, part))))
        rows.append(EvaluationRow(OURS_V1, set_name, compute_metrics(labels[mask], _v1_scores(predictor, part))))
    if with_baselines:
        train = splits == "train"
        for baseline in default_baselines(seed=split.seed, n_estimators=n_estimators):
            if on_progress:
                on_progress(f"baseline {baseline.name}", 0.0)
            baseline.fit(_texts(records, train), table.dense[train], labels[train])
            for set_name, mask in sets.items():
                probs = baseline.predict_proba(_texts(records, mask), table.dense[mask])
                rows.append(EvaluationRow(f"baseline: {baseline.name}", set_name, compute_metrics(labels[mask], probs)))
    return rows


def metrics_record(rows: list[EvaluationRow], dataset: Path,
                   crossval: tuple[int, list[CrossValidatedRow]] | None = None) -> MetricsRecord:
    """One evaluation run as meta.json's `metrics` holds it: the rows, their Markdown table, the cross-validation."""
    record: MetricsRecord = {
        "dataset": str(dataset),
        "rows": [{"model": r.model, "set": r.evaluation_set, **metrics_to_dict(r.metrics)} for r in rows],
        "table_markdown": metrics_table_markdown([(r.model, r.evaluation_set, r.metrics) for r in rows]),
    }
    if crossval:
        folds, cv_rows = crossval
        record["crossval"] = {
            "folds": folds,
            "rows": [{"model": r.model, **metrics_to_dict(r.pooled), "fold_roc_auc": list(r.fold_roc_auc)}
                     for r in cv_rows],
            "table_markdown": crossval_table_markdown(cv_rows, folds),
        }
    return record


Row = dict[str, Any]


def _merge_rows(previous: list[Row], new: list[Row], key: Callable[[Row], tuple[str, ...]]) -> list[Row]:
    """`previous` with each row measured again replaced in place, then the rows measured for the first time."""
    fresh = {key(row): row for row in new}
    merged = [fresh.pop(key(row), row) for row in previous]
    return merged + [row for row in new if key(row) in fresh]


def _crossval_from_rows(folds: int, rows: list[Row]) -> dict[str, Any]:
    table = crossval_table_markdown(
        [CrossValidatedRow(r["model"], metrics_from_dict(r), tuple(r["fold_roc_auc"])) for r in rows], folds)
    return {"folds": folds, "rows": rows, "table_markdown": table}


def merge_metrics(previous: MetricsRecord, new: MetricsRecord) -> MetricsRecord:
    """A model's recorded metrics updated with a new run: what the run measured replaces the same
    (model, evaluation set) row or cross-validated model, everything else recorded before is kept
    (the baselines of a run without them, an earlier cross-validation; one with other folds is replaced)."""
    rows = _merge_rows(previous.get("rows", []), new["rows"], lambda r: (r["model"], r["set"]))
    merged = {**previous, "dataset": new["dataset"], "rows": rows,
              "table_markdown": metrics_table_markdown([(r["model"], r["set"], metrics_from_dict(r)) for r in rows])}
    old_cv, new_cv = previous.get("crossval"), new.get("crossval")
    if new_cv and old_cv and old_cv.get("folds") == new_cv["folds"]:
        merged["crossval"] = _crossval_from_rows(new_cv["folds"], _merge_rows(old_cv["rows"], new_cv["rows"],
                                                                              lambda r: (r["model"],)))
    elif new_cv:
        merged["crossval"] = new_cv
    return merged


COPY_FIRST = "copy the model directory elsewhere first (cp -r) and evaluate the copy"


def check_model_writable(path: Path, what_to_do: str = COPY_FIRST) -> None:
    """Refuse to write into the installed package's models folder: the records there ship with mleditor."""
    packaged = PACKAGED_MODELS_DIR.resolve()
    target = Path(path).resolve()
    if target == packaged or packaged in target.parents:
        raise InvalidInputError(f"{path} is in the models folder of the installed mleditor package, which "
                                f"mleditor never writes to; {what_to_do}")


def write_to_model(model: ModelDirectory, record: MetricsRecord) -> MetricsRecord:
    """Merge a run's metrics record into the model's meta.json and card.md (see `merge_metrics`); return the merge.

    Refused (InvalidInputError) for a model inside the installed package (`check_model_writable`).
    """
    from mleditor.training.card import write_model_card

    check_model_writable(model.path)
    meta = {**model.meta, "metrics": merge_metrics(model.meta.get("metrics") or {}, record)}
    (model.path / META_FILE).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    write_model_card(ModelDirectory(model.path, meta))
    merged: MetricsRecord = meta["metrics"]
    return merged


def record_metrics(model: ModelDirectory, rows: list[EvaluationRow], dataset: Path,
                   crossval: tuple[int, list[CrossValidatedRow]] | None = None) -> str:
    """Merge a run's rows into the model's meta.json and card.md (`write_to_model`); return the run's Markdown."""
    record = metrics_record(rows, dataset, crossval)
    write_to_model(model, record)
    return metrics_markdown(record)
