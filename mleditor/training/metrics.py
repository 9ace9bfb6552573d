"""Binary-classification metrics in plain numpy: ranking (ROC and PR AUC), calibration (Brier, ECE).

No scikit-learn here, so evaluation code anywhere in the package can use these. The ranking
metrics follow scikit-learn's definitions exactly (tests compare them to 1e-9).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

__all__ = [
    "ECE_BINS",
    "BinaryMetrics",
    "brier_score",
    "compute_metrics",
    "expected_calibration_error",
    "pr_auc",
    "reliability_table",
    "roc_auc",
]

ECE_BINS = 15
"""Number of equal-width bins behind the ECE reported in evaluation tables."""


@dataclass(frozen=True)
class BinaryMetrics:
    """Ranking and calibration metrics of one model on one evaluation set."""

    roc_auc: float
    pr_auc: float
    brier: float
    ece: float
    n: int
    positive_rate: float


# --- validation at the boundary -------------------------------------------------------------


def _check_labels(y_true: ArrayLike) -> np.ndarray:
    """Return labels as a 1-D float array of 0/1, or raise ValueError saying what is wrong."""
    y = np.asarray(y_true)
    if y.ndim != 1:
        raise ValueError(f"y_true must be 1-D; got shape {y.shape}")
    if y.size == 0:
        raise ValueError("y_true is empty; metrics need at least one example")
    if y.dtype.kind not in "biuf":
        raise ValueError(f"y_true must hold numbers 0/1 (or booleans); got dtype {y.dtype}")
    y = y.astype(np.float64)
    bad = ~((y == 0.0) | (y == 1.0))
    if bad.any():
        examples = ", ".join(repr(v) for v in np.unique(y[bad])[:5].tolist())
        raise ValueError(f"y_true must contain only 0 and 1; found {examples}")
    return y


def _check_scores(y_score: ArrayLike, n: int, name: str, *, probabilities: bool) -> np.ndarray:
    """Return scores as a 1-D float array of length n (in [0, 1] when `probabilities`)."""
    s = np.asarray(y_score)
    if s.ndim != 1:
        raise ValueError(f"{name} must be 1-D; got shape {s.shape}")
    if s.dtype.kind not in "biuf":
        raise ValueError(f"{name} must be numeric; got dtype {s.dtype}")
    if s.shape[0] != n:
        raise ValueError(f"y_true has {n} values but {name} has {s.shape[0]}; they must match")
    s = s.astype(np.float64)
    n_bad = int((~np.isfinite(s)).sum())
    if n_bad:
        raise ValueError(f"{name} has {n_bad} non-finite values (NaN or inf); all must be finite")
    if probabilities:
        outside = (s < 0.0) | (s > 1.0)
        if outside.any():
            raise ValueError(
                f"{name} must be probabilities in [0, 1]; {int(outside.sum())} values are outside "
                f"(min {s.min():.6g}, max {s.max():.6g})"
            )
    return s


def _check_pair(
    y_true: ArrayLike, y_score: ArrayLike, name: str, *, probabilities: bool
) -> tuple[np.ndarray, np.ndarray]:
    y = _check_labels(y_true)
    return y, _check_scores(y_score, y.shape[0], name, probabilities=probabilities)


def _check_n_bins(n_bins: int) -> None:
    if isinstance(n_bins, bool) or not isinstance(n_bins, (int, np.integer)) or n_bins < 1:
        raise ValueError(f"n_bins must be a positive integer; got {n_bins!r}")


def _require_both_classes(y: np.ndarray, metric: str) -> None:
    n_pos = int(y.sum())
    if n_pos == 0 or n_pos == y.shape[0]:
        only = "positive (1)" if n_pos else "negative (0)"
        raise ValueError(
            f"{metric} is undefined when y_true holds only one class; all {y.shape[0]} labels are "
            f"{only}. Evaluate on a set with both classes."
        )


# --- ranking --------------------------------------------------------------------------------


def _average_ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks of `values`, tied values sharing the mean of their positions."""
    _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)
    mean_rank = (ends - counts + 1 + ends) / 2.0
    return mean_rank[inverse.reshape(-1)]


def _roc_auc(y: np.ndarray, s: np.ndarray) -> float:
    n_pos = float(y.sum())
    n_neg = float(y.shape[0]) - n_pos
    rank_sum = float(_average_ranks(s)[y == 1.0].sum())
    # Mann-Whitney U of the positives, normalised: P(score_pos > score_neg) + 0.5 P(tie).
    return (rank_sum - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg)


def _pr_auc(y: np.ndarray, s: np.ndarray) -> float:
    order = np.argsort(-s, kind="mergesort")
    s_sorted, y_sorted = s[order], y[order]
    # One operating point per distinct score: the last index of each run of equal scores.
    last_of_run = np.r_[np.flatnonzero(np.diff(s_sorted)), s_sorted.shape[0] - 1]
    true_pos = np.cumsum(y_sorted)[last_of_run]
    predicted_pos = last_of_run + 1.0
    precision = true_pos / predicted_pos
    recall = true_pos / true_pos[-1]
    recall_gain = np.diff(np.r_[0.0, recall])
    return float(np.sum(recall_gain * precision))


def roc_auc(y_true: ArrayLike, y_score: ArrayLike) -> float:
    """Area under the ROC curve: the Mann–Whitney statistic, with average ranks for ties.

    Equals the probability that a random positive scores above a random negative, ties counting
    one half; identical to `sklearn.metrics.roc_auc_score`. Raises ValueError if only one class
    is present.
    """
    y, s = _check_pair(y_true, y_score, "y_score", probabilities=False)
    _require_both_classes(y, "ROC AUC")
    return _roc_auc(y, s)


def pr_auc(y_true: ArrayLike, y_score: ArrayLike) -> float:
    """Average precision: sum over distinct thresholds of (R_k - R_{k-1}) * P_k.

    Same definition as `sklearn.metrics.average_precision_score` (a step-wise area, no
    interpolation). Raises ValueError if there is no positive example.
    """
    y, s = _check_pair(y_true, y_score, "y_score", probabilities=False)
    if not y.any():
        raise ValueError(
            f"PR AUC is undefined without positives; all {y.shape[0]} labels in y_true are 0"
        )
    return _pr_auc(y, s)


# --- calibration ----------------------------------------------------------------------------


def _bin_edges(n_bins: int) -> np.ndarray:
    return np.linspace(0.0, 1.0, n_bins + 1)


def _bin_statistics(
    y: np.ndarray, p: np.ndarray, n_bins: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Bin edges, then per-bin count, sum of predicted probabilities and sum of labels.

    Bins are [e_i, e_{i+1}) on equal-width edges over [0, 1]; the last bin also holds 1.0.
    """
    edges = _bin_edges(n_bins)
    index = np.clip(np.searchsorted(edges, p, side="right") - 1, 0, n_bins - 1)
    counts = np.bincount(index, minlength=n_bins)
    sum_prob = np.bincount(index, weights=p, minlength=n_bins)
    sum_label = np.bincount(index, weights=y, minlength=n_bins)
    return edges, counts, sum_prob, sum_label


def _brier(y: np.ndarray, p: np.ndarray) -> float:
    return float(np.mean((p - y) ** 2))


def _ece(y: np.ndarray, p: np.ndarray, n_bins: int) -> float:
    _, _, sum_prob, sum_label = _bin_statistics(y, p, n_bins)
    # |sum_label - sum_prob| / n == (count / n) * |observed rate - mean predicted|;
    # empty bins add 0.
    return float(np.abs(sum_label - sum_prob).sum() / y.shape[0])


def brier_score(y_true: ArrayLike, y_prob: ArrayLike) -> float:
    """Mean squared difference between the predicted probability of class 1 and the 0/1 label."""
    y, p = _check_pair(y_true, y_prob, "y_prob", probabilities=True)
    return _brier(y, p)


def expected_calibration_error(
    y_true: ArrayLike, y_prob: ArrayLike, n_bins: int = ECE_BINS
) -> float:
    """Expected calibration error of the predicted probability of the positive class.

    Definition: split [0, 1] into `n_bins` equal-width bins [i/B, (i+1)/B), the last bin closed
    on the right so that p = 1 belongs to it. For each non-empty bin b, "accuracy" acc(b) is the
    observed fraction of positives and "confidence" conf(b) the mean predicted probability of the
    positive class. Then

        ECE = sum_b (|b| / n) * |acc(b) - conf(b)|

    This is the binary form (reliability of P(y=1), as in `reliability_table`), not the top-label
    form that uses max(p, 1 - p). 0 means perfectly calibrated; empty bins contribute nothing.
    """
    _check_n_bins(n_bins)
    y, p = _check_pair(y_true, y_prob, "y_prob", probabilities=True)
    return _ece(y, p, int(n_bins))


def reliability_table(y_true: ArrayLike, y_prob: ArrayLike, n_bins: int = 10) -> list[dict[str, float | None]]:
    """One row per equal-width bin (the ECE's bins): range, count, mean predicted, observed rate.

    Each row is {"lower", "upper", "count", "mean_predicted", "observed_rate"}; the two means are
    None for an empty bin, so the table always has `n_bins` rows and serialises to JSON as is.
    """
    _check_n_bins(n_bins)
    y, p = _check_pair(y_true, y_prob, "y_prob", probabilities=True)
    edges, counts, sum_prob, sum_label = _bin_statistics(y, p, int(n_bins))
    rows = []
    for i, count in enumerate(counts.tolist()):
        rows.append(
            {
                "lower": float(edges[i]),
                "upper": float(edges[i + 1]),
                "count": int(count),
                "mean_predicted": float(sum_prob[i] / count) if count else None,
                "observed_rate": float(sum_label[i] / count) if count else None,
            }
        )
    return rows


# --- all together ---------------------------------------------------------------------------


def compute_metrics(y_true: ArrayLike, y_prob: ArrayLike) -> BinaryMetrics:
    """All the metrics of our evaluation table for predicted probabilities of class 1.

    Needs both classes in `y_true` (ROC AUC is undefined otherwise); ECE uses `ECE_BINS` bins.
    """
    y, p = _check_pair(y_true, y_prob, "y_prob", probabilities=True)
    _require_both_classes(y, "ROC AUC")
    return BinaryMetrics(
        roc_auc=_roc_auc(y, p),
        pr_auc=_pr_auc(y, p),
        brier=_brier(y, p),
        ece=_ece(y, p, ECE_BINS),
        n=int(y.shape[0]),
        positive_rate=float(y.mean()),
    )
