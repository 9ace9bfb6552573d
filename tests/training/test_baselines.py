"""Each baseline learns a word-driven label on synthetic questions and outputs probabilities."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("sklearn")

from mleditor.training.baselines import (
    Baseline,
    FeaturesRandomForest,
    TfidfFeaturesRandomForest,
    TfidfLogisticRegression,
    TfidfRandomForest,
    default_baselines,
)
from mleditor.training.metrics import roc_auc

FILLER = "how do i fix this error when my code runs in the loop with a list of values".split()


def _synthetic(n: int, seed: int) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Texts mentioning "python" are positive (10% of labels flipped); dense: handcrafted counts."""
    rng = np.random.default_rng(seed)
    texts, labels = [], []
    for _ in range(n):
        words = list(rng.choice(FILLER, size=rng.integers(6, 15)))
        positive = bool(rng.random() < 0.5)
        if positive:
            words.insert(int(rng.integers(0, len(words))), "python")
        texts.append(" ".join(words))
        labels.append(int(positive) ^ int(rng.random() < 0.1))
    dense = np.array([[t.split().count("python"), len(t.split())] for t in texts], dtype=float)
    return texts, dense, np.array(labels)


def _small(cls: type, **kwargs) -> Baseline:
    """Few trees keep the tests fast; logistic regression has no trees."""
    if cls is TfidfLogisticRegression:
        return cls(**kwargs)
    return cls(n_estimators=20, **kwargs)


BASELINES = [
    TfidfRandomForest,
    FeaturesRandomForest,
    TfidfFeaturesRandomForest,
    TfidfLogisticRegression,
]


@pytest.fixture(scope="module")
def data() -> dict[str, tuple[list[str], np.ndarray, np.ndarray]]:
    return {"train": _synthetic(300, seed=0), "test": _synthetic(200, seed=1)}


@pytest.mark.parametrize("cls", BASELINES, ids=lambda c: c.name)
def test_baseline_ranks_held_out_questions_by_the_telling_word(cls: type, data) -> None:
    texts, dense, y = data["train"]
    model = _small(cls, seed=0).fit(texts, dense, y)
    test_texts, test_dense, test_y = data["test"]
    assert roc_auc(test_y, model.predict_proba(test_texts, test_dense)) > 0.8


@pytest.mark.parametrize("cls", BASELINES, ids=lambda c: c.name)
def test_predict_proba_returns_one_probability_per_question(cls: type, data) -> None:
    texts, dense, y = data["train"]
    model = _small(cls).fit(texts, dense, y)
    proba = model.predict_proba(texts[:17], dense[:17])
    assert proba.shape == (17,)
    assert proba.dtype == np.float64
    assert ((proba >= 0.0) & (proba <= 1.0)).all()


def test_same_seed_gives_same_predictions(data) -> None:
    texts, dense, y = data["train"]
    a = _small(TfidfFeaturesRandomForest, seed=3).fit(texts, dense, y).predict_proba(texts, dense)
    b = _small(TfidfFeaturesRandomForest, seed=3).fit(texts, dense, y).predict_proba(texts, dense)
    # Trees are averaged in parallel, so the order of the sum (last bit) may differ.
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-12)


def test_default_baselines_are_the_four_book_models_with_distinct_names() -> None:
    models = default_baselines(seed=5)
    assert [type(m) for m in models] == BASELINES
    assert len({m.name for m in models}) == 4
    assert all(isinstance(m, Baseline) and m.seed == 5 for m in models)
    assert all(m.n_estimators == 300 for m in models if hasattr(m, "n_estimators"))


def test_text_only_baselines_accept_no_dense_features(data) -> None:
    texts, _, y = data["train"]
    proba = _small(TfidfLogisticRegression).fit(texts, None, y).predict_proba(texts, None)
    assert proba.shape == (len(texts),)


def test_predict_before_fit_says_to_fit_first() -> None:
    with pytest.raises(RuntimeError, match="call fit"):
        TfidfRandomForest().predict_proba(["a question"], np.zeros((1, 2)))


@pytest.mark.parametrize(
    ("cls", "texts", "dense", "y", "message"),
    [
        (TfidfRandomForest, "one string", None, np.array([1]), "sequence of strings"),
        (TfidfRandomForest, ["a", 3], None, np.array([0, 1]), r"texts\[1\] is int"),
        (TfidfRandomForest, ["a", "b"], np.zeros((3, 2)), np.array([0, 1]), r"shape \[2, k\]"),
        (TfidfRandomForest, ["a", "b"], None, np.array([0, 1, 1]), r"shape \[2\]"),
        (TfidfRandomForest, ["a", "b"], None, np.array([0, 2]), "only the labels 0 and 1"),
        (TfidfRandomForest, ["a", "b"], None, np.array([1, 1]), "needs both 0 and 1"),
        (FeaturesRandomForest, ["a", "b"], None, np.array([0, 1]), "needs the dense features"),
        (FeaturesRandomForest, ["a", "b"], np.array([[0.0], [np.nan]]), np.array([0, 1]), "NaN"),
    ],
)
def test_fit_rejects_inconsistent_inputs_with_clear_message(cls, texts, dense, y, message) -> None:
    with pytest.raises(ValueError, match=message):
        _small(cls).fit(texts, dense, y)
