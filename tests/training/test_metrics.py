"""Metrics match scikit-learn's definitions, compute calibration as documented, reject bad input."""

from __future__ import annotations

import numpy as np
import pytest

from mleditor.training.metrics import (
    BinaryMetrics,
    brier_score,
    compute_metrics,
    expected_calibration_error,
    pr_auc,
    reliability_table,
    roc_auc,
)


def _random_cases() -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(name, labels, probabilities): random data plus the edge cases ranking metrics trip on."""
    rng = np.random.default_rng(1234)
    cases = []
    for n in (2, 7, 50, 1000):
        y = rng.integers(0, 2, n)
        y[0], y[1] = 0, 1  # both classes present
        cases.append((f"random-{n}", y, rng.random(n)))
        cases.append((f"ties-{n}", y, np.round(rng.random(n), 1)))
        cases.append((f"informative-{n}", y, np.clip(0.3 * y + 0.7 * rng.random(n), 0, 1)))
    y = np.array([0, 0, 0, 1, 1])
    cases.append(("perfect-separation", y, np.array([0.1, 0.2, 0.3, 0.8, 0.9])))
    cases.append(("perfectly-wrong", y, np.array([0.9, 0.8, 0.7, 0.2, 0.1])))
    cases.append(("all-same-score", y, np.full(5, 0.4)))
    cases.append(("two-tied-groups", np.array([0, 1, 0, 1, 1, 0]), np.array([0.5] * 3 + [1.0] * 3)))
    cases.append(("imbalanced", np.r_[np.zeros(999), 1], np.linspace(0, 1, 1000)))
    return cases


CASES = _random_cases()
CASE_IDS = [name for name, _, _ in CASES]


@pytest.mark.parametrize(("name", "y", "p"), CASES, ids=CASE_IDS)
def test_roc_auc_equals_sklearn_roc_auc_score(name: str, y: np.ndarray, p: np.ndarray) -> None:
    sk_metrics = pytest.importorskip("sklearn.metrics")
    assert roc_auc(y, p) == pytest.approx(sk_metrics.roc_auc_score(y, p), abs=1e-9)


@pytest.mark.parametrize(("name", "y", "p"), CASES, ids=CASE_IDS)
def test_pr_auc_equals_sklearn_average_precision(name: str, y: np.ndarray, p: np.ndarray) -> None:
    sk_metrics = pytest.importorskip("sklearn.metrics")
    assert pr_auc(y, p) == pytest.approx(sk_metrics.average_precision_score(y, p), abs=1e-9)


@pytest.mark.parametrize(("name", "y", "p"), CASES, ids=CASE_IDS)
def test_brier_score_equals_sklearn_brier_score_loss(
    name: str, y: np.ndarray, p: np.ndarray
) -> None:
    sk_metrics = pytest.importorskip("sklearn.metrics")
    assert brier_score(y, p) == pytest.approx(sk_metrics.brier_score_loss(y, p), abs=1e-9)


def test_reliability_table_matches_sklearn_calibration_curve_on_continuous_scores() -> None:
    calibration = pytest.importorskip("sklearn.calibration")
    rng = np.random.default_rng(7)
    p = rng.random(5000)
    y = (rng.random(5000) < p).astype(int)
    rows = [r for r in reliability_table(y, p, n_bins=10) if r["count"]]
    observed, predicted = calibration.calibration_curve(y, p, n_bins=10, strategy="uniform")
    np.testing.assert_allclose([r["observed_rate"] for r in rows], observed, atol=1e-9)
    np.testing.assert_allclose([r["mean_predicted"] for r in rows], predicted, atol=1e-9)


def test_ranking_metrics_accept_scores_outside_unit_interval() -> None:
    y = np.array([0, 1, 0, 1])
    logits = np.array([-3.0, 2.5, 0.0, 10.0])
    assert roc_auc(y, logits) == 1.0
    assert pr_auc(y, logits) == 1.0


def test_roc_auc_counts_ties_as_half() -> None:
    assert roc_auc([0, 1], [0.5, 0.5]) == 0.5
    assert roc_auc([0, 0, 1], [0.2, 0.7, 0.7]) == 0.75


def test_ece_of_hand_computed_example_with_two_bins() -> None:
    # Bin [0, 0.5): p = 0.1, 0.2 -> confidence 0.15, accuracy 1/2 -> gap 0.35.
    # Bin [0.5, 1]: p = 0.7, 0.9 -> confidence 0.80, accuracy 2/2 -> gap 0.20.
    # ECE = 2/4 * 0.35 + 2/4 * 0.20 = 0.275.
    ece = expected_calibration_error([0, 1, 1, 1], [0.1, 0.2, 0.7, 0.9], n_bins=2)
    assert ece == pytest.approx(0.275, abs=1e-12)


def test_ece_bins_are_closed_on_the_left_and_the_last_bin_holds_one() -> None:
    # 0.5 opens the upper bin and 1.0 belongs to it: confidence 0.75, accuracy 1 -> ECE 0.25.
    assert expected_calibration_error([1, 1], [0.5, 1.0], n_bins=2) == pytest.approx(0.25)
    rows = reliability_table([1, 1], [0.5, 1.0], n_bins=2)
    assert [r["count"] for r in rows] == [0, 2]


def test_ece_ignores_empty_bins() -> None:
    # Only one of 15 bins is used, and it is perfectly calibrated.
    assert expected_calibration_error([0, 1, 0, 1], [0.5, 0.5, 0.5, 0.5]) == pytest.approx(0.0)


def test_ece_of_perfectly_calibrated_sample_is_near_zero() -> None:
    rng = np.random.default_rng(0)
    p = rng.random(200_000)
    y = (rng.random(200_000) < p).astype(int)
    assert expected_calibration_error(y, p) < 0.01


def test_ece_of_overconfident_predictions_is_large() -> None:
    rng = np.random.default_rng(0)
    true_p = rng.random(20_000)
    y = (rng.random(20_000) < true_p).astype(int)
    overconfident = np.where(true_p > 0.5, 1.0, 0.0)
    assert expected_calibration_error(y, overconfident) > 0.2


def test_ece_equals_weighted_gap_of_reliability_table() -> None:
    rng = np.random.default_rng(3)
    p = rng.random(500) ** 2
    y = rng.integers(0, 2, 500)
    rows = reliability_table(y, p, n_bins=15)
    weighted = sum(
        r["count"] / 500 * abs(r["observed_rate"] - r["mean_predicted"]) for r in rows if r["count"]
    )
    assert expected_calibration_error(y, p, n_bins=15) == pytest.approx(weighted, abs=1e-12)


def test_reliability_table_has_one_row_per_bin_with_none_for_empty_bins() -> None:
    rows = reliability_table([0, 1, 1], [0.05, 0.95, 0.91], n_bins=10)
    assert len(rows) == 10
    assert rows[0] == {
        "lower": 0.0,
        "upper": pytest.approx(0.1),
        "count": 1,
        "mean_predicted": pytest.approx(0.05),
        "observed_rate": 0.0,
    }
    assert rows[5]["count"] == 0 and rows[5]["mean_predicted"] is None
    assert rows[9]["count"] == 2 and rows[9]["observed_rate"] == 1.0
    assert rows[9]["upper"] == 1.0


def test_compute_metrics_bundles_every_metric() -> None:
    y = np.array([0, 0, 1, 1, 1])
    p = np.array([0.1, 0.6, 0.4, 0.8, 0.9])
    m = compute_metrics(y, p)
    assert isinstance(m, BinaryMetrics)
    assert m.roc_auc == pytest.approx(roc_auc(y, p))
    assert m.pr_auc == pytest.approx(pr_auc(y, p))
    assert m.brier == pytest.approx(brier_score(y, p))
    assert m.ece == pytest.approx(expected_calibration_error(y, p))
    assert m.n == 5
    assert m.positive_rate == pytest.approx(0.6)


def test_metrics_accept_boolean_labels_and_python_lists() -> None:
    assert roc_auc([False, True, True], [0.1, 0.9, 0.8]) == 1.0
    assert compute_metrics([0, 1], [0.0, 1.0]).brier == 0.0


@pytest.mark.parametrize(
    ("y", "p", "message"),
    [
        ([0, 1, 1], [0.2, 0.8], "y_true has 3 values but y_prob has 2"),
        ([0, 1, 2], [0.2, 0.8, 0.5], "only 0 and 1; found 2.0"),
        ([0, 1], [0.2, float("nan")], "non-finite"),
        ([0, 1], [0.2, float("inf")], "non-finite"),
        ([0, 1], [-0.1, 0.8], r"probabilities in \[0, 1\]"),
        ([0, 1], [0.2, 1.5], r"probabilities in \[0, 1\]"),
        ([], [], "empty"),
        ([[0, 1]], [[0.2, 0.8]], "1-D"),
        (["no", "yes"], [0.2, 0.8], "numbers 0/1"),
        ([1, 1, 1], [0.2, 0.8, 0.5], "only one class; all 3 labels are positive"),
        ([0, 0], [0.2, 0.8], "only one class; all 2 labels are negative"),
    ],
)
def test_compute_metrics_rejects_invalid_input_with_clear_message(y, p, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        compute_metrics(y, p)


def test_roc_auc_raises_when_only_one_class_present() -> None:
    with pytest.raises(ValueError, match="ROC AUC is undefined"):
        roc_auc([1, 1, 1], [0.1, 0.2, 0.3])


def test_pr_auc_raises_without_positives() -> None:
    with pytest.raises(ValueError, match="PR AUC is undefined without positives"):
        pr_auc([0, 0], [0.1, 0.2])


def test_pr_auc_is_one_when_every_label_is_positive() -> None:
    assert pr_auc([1, 1], [0.1, 0.2]) == 1.0


@pytest.mark.parametrize("n_bins", [0, -3, 2.5, True])
def test_calibration_rejects_bad_bin_counts(n_bins) -> None:
    with pytest.raises(ValueError, match="n_bins must be a positive integer"):
        expected_calibration_error([0, 1], [0.2, 0.8], n_bins=n_bins)
    with pytest.raises(ValueError, match="n_bins must be a positive integer"):
        reliability_table([0, 1], [0.2, 0.8], n_bins=n_bins)
