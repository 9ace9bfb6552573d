"""Cross-validated evaluation: every question outside the held-out site is scored once, by a model
that never saw its author, for ML Editor v2 and for every baseline — the same folds for all.

One test split of a few hundred questions gives an ROC AUC with a standard error near 0.025, too
noisy to compare models that differ by a few hundredths. Pooling the out-of-fold predictions
of k folds uses every question, and the spread across folds says how stable each number is.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mleditor.core.dataset import read_dataset
from mleditor.training.baselines import default_baselines
from mleditor.training.calibration import apply_platt, fit_platt
from mleditor.training.metrics import BinaryMetrics, compute_metrics, roc_auc
from mleditor.training.splits import label_questions, unit_interval
from mleditor.training.train import TrainConfig, featurize_records, fit_network, network_logits

Progress = Callable[[str, float], None]
OURS = "ML Editor v2/v3 (model)"


@dataclass(frozen=True)
class CrossValidatedRow:
    """Metrics of the pooled out-of-fold predictions, and the ROC AUC of each fold."""

    model: str
    pooled: BinaryMetrics
    fold_roc_auc: tuple[float, ...]
    site_roc_auc: tuple[tuple[str, float], ...] = ()  # the pooled ROC AUC of each site with both labels

    @property
    def roc_auc_std(self) -> float:
        return float(np.std(self.fold_roc_auc, ddof=1)) if len(self.fold_roc_auc) > 1 else 0.0


def assign_folds(author_keys: list[str], folds: int, seed: int) -> np.ndarray:
    """Fold of each question by its author's hash: no author is in two folds."""
    return np.array([min(int(unit_interval(key, seed) * folds), folds - 1) for key in author_keys])


def cross_validate(dataset: Path, config: TrainConfig = TrainConfig(), folds: int = 5, with_baselines: bool = True,
                   n_estimators: int = 300, on_progress: Progress | None = None) -> list[CrossValidatedRow]:
    """k-fold (by author) out-of-fold predictions for ML Editor v2 and the baselines; the held-out site is left out."""
    if folds < 2:
        raise ValueError(f"folds must be at least 2; got {folds}")
    split = config.split
    records = read_dataset(dataset)
    labels = label_questions(records, split.label_mode, split.min_group)
    keep = np.array([r.site != split.holdout_site for r in records])
    records = [r for r, k in zip(records, keep) if k]
    labels = labels[keep]
    table = featurize_records(records)
    authors = [r.author_key for r in records]
    fold_of = assign_folds(authors, folds, split.seed)
    # Inside the training folds, a slice of authors is kept for early stopping and calibration.
    is_val = np.array([unit_interval(key, split.seed + 1) < split.val_fraction for key in authors])
    texts = [f"{r.title}\n\n{r.body}" for r in records]

    predictions: dict[str, np.ndarray] = {}
    for fold in range(folds):
        test = fold_of == fold
        train, val = ~test & ~is_val, ~test & is_val
        net, _ = fit_network(table.rows(train), labels[train], table.rows(val), labels[val], config.network)
        a, b = fit_platt(network_logits(net, table.rows(val)).astype(np.float64), labels[val])
        ours = predictions.setdefault(OURS, np.zeros(len(records)))
        ours[test] = apply_platt(network_logits(net, table.rows(test)), a, b)
        if with_baselines:
            fit_mask = ~test  # the baselines need no validation slice: they train on all other folds
            for baseline in default_baselines(seed=split.seed, n_estimators=n_estimators):
                baseline.fit([t for t, m in zip(texts, fit_mask) if m], table.dense[fit_mask], labels[fit_mask])
                name = f"baseline: {baseline.name}"
                predictions.setdefault(name, np.zeros(len(records)))[test] = baseline.predict_proba(
                    [t for t, m in zip(texts, test) if m], table.dense[test])
        if on_progress:
            on_progress("cross-validation", (fold + 1) / folds)

    sites = np.array([r.site for r in records])
    by_site = [(site, sites == site) for site in sorted(set(sites.tolist()))]
    return [
        CrossValidatedRow(name, compute_metrics(labels, probs),
                          tuple(round(roc_auc(labels[fold_of == f], probs[fold_of == f]), 4) for f in range(folds)),
                          tuple((site, round(roc_auc(labels[m], probs[m]), 4)) for site, m in by_site
                                if 0 < labels[m].sum() < m.sum()))
        for name, probs in predictions.items()
    ]


def crossval_table_markdown(rows: list[CrossValidatedRow], folds: int) -> str:
    lines = [
        f"| model ({folds}-fold by author, pooled) | ROC AUC | ± sd over folds | PR AUC | Brier | ECE | n |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        m = row.pooled
        lines.append(f"| {row.model} | {m.roc_auc:.3f} | {row.roc_auc_std:.3f} | {m.pr_auc:.3f} | {m.brier:.3f} "
                     f"| {m.ece:.3f} | {m.n} |")
    return "\n".join(lines) + "\n"
