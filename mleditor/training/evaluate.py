"""`mleditor evaluate`: ML Editor v1/v2/v3 and the book's baselines on the same split, in one run."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mleditor.core.dataset import read_dataset
from mleditor.core.predictor import Predictor
from mleditor.core.records import QuestionRecord
from mleditor.core.registry import META_FILE, ModelDirectory
from mleditor.core.scorer import pad_ngram_ids
from mleditor.training.baselines import default_baselines
from mleditor.training.crossval import CrossValidatedRow, crossval_table_markdown
from mleditor.training.metrics import BinaryMetrics, compute_metrics
from mleditor.training.report import metrics_table_markdown, metrics_to_dict
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
    from mleditor.core.features import Features

    return np.array([predictor.predict_features(Features(ids, dense), "v1").score
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


def record_metrics(model: ModelDirectory, rows: list[EvaluationRow], dataset: Path,
                   crossval: tuple[int, list[CrossValidatedRow]] | None = None) -> str:
    """Store the metrics in meta.json, rewrite card.md, and return the Markdown table(s)."""
    from mleditor.training.card import write_model_card

    table = metrics_table_markdown([(r.model, r.evaluation_set, r.metrics) for r in rows])
    meta = dict(model.meta)
    meta["metrics"] = {
        "dataset": str(dataset),
        "rows": [{"model": r.model, "set": r.evaluation_set, **metrics_to_dict(r.metrics)} for r in rows],
        "table_markdown": table,
    }
    if crossval:
        folds, cv_rows = crossval
        cv_table = crossval_table_markdown(cv_rows, folds)
        meta["metrics"]["crossval"] = {
            "folds": folds,
            "rows": [{"model": r.model, **metrics_to_dict(r.pooled), "fold_roc_auc": list(r.fold_roc_auc)}
                     for r in cv_rows],
            "table_markdown": cv_table,
        }
        table += "\n" + cv_table
    (model.path / META_FILE).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    write_model_card(ModelDirectory(model.path, meta))
    return table
