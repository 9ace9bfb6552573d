"""Baselines reproducing the book's models (Ameisen, "Building ML Powered Applications").

Every baseline reads the same inputs as our model: the question texts and the handcrafted dense
features, and predicts the probability of the positive class ("well received"). Text is turned
into TF-IDF vectors by `make_tfidf_vectorizer`, shared by all of them. Scikit-learn and scipy
are imported lazily, so importing this module costs nothing until a baseline is fitted.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from mleditor.errors import require_extra

if TYPE_CHECKING:
    from typing import Self

__all__ = [
    "Baseline",
    "FeaturesRandomForest",
    "TfidfFeaturesRandomForest",
    "TfidfLogisticRegression",
    "TfidfRandomForest",
    "default_baselines",
    "make_tfidf_vectorizer",
]

TFIDF_MAX_FEATURES = 20_000
"""Vocabulary size of the text-only baselines."""
TFIDF_WITH_FEATURES_MAX_FEATURES = 5_000
"""Vocabulary size when TF-IDF is concatenated with the dense features (book v3)."""
N_ESTIMATORS = 300
"""Trees per random forest."""


class Baseline(ABC):
    """A model to compare ours with: `fit` on texts + dense features + 0/1 labels, then score."""

    name: ClassVar[str]

    @abstractmethod
    def fit(self, texts: Sequence[str], dense: np.ndarray | None, y: np.ndarray) -> Self:
        """Learn from `texts[i]`, `dense[i]` (shape [n, k]) and the label `y[i]` in {0, 1}."""

    @abstractmethod
    def predict_proba(self, texts: Sequence[str], dense: np.ndarray | None) -> np.ndarray:
        """Probability of the positive class for each example, shape [n]."""


def make_tfidf_vectorizer(max_features: int = TFIDF_MAX_FEATURES) -> Any:
    """The TF-IDF setup all baselines share: word 1-2 grams, min_df=2, sublinear term frequency."""
    require_extra("sklearn", "train")
    from sklearn.feature_extraction.text import TfidfVectorizer

    return TfidfVectorizer(
        ngram_range=(1, 2), min_df=2, max_features=max_features, sublinear_tf=True
    )


def _make_random_forest(n_estimators: int, seed: int) -> Any:
    require_extra("sklearn", "train")
    from sklearn.ensemble import RandomForestClassifier

    return RandomForestClassifier(
        n_estimators=n_estimators,
        class_weight="balanced",
        min_samples_leaf=2,
        n_jobs=-1,
        random_state=seed,
    )


# --- input checks ---------------------------------------------------------------------------


def _check_texts(texts: Sequence[str]) -> list[str]:
    if isinstance(texts, str):
        raise ValueError("texts must be a sequence of strings, one per example; got a single str")
    texts = list(texts)
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise ValueError(f"texts[{i}] is {type(text).__name__}; every text must be a str")
    return texts


def _check_dense(dense: np.ndarray | None, n: int, needed: bool, model: str) -> np.ndarray | None:
    if dense is None:
        if needed:
            raise ValueError(f"{model} needs the dense features; got dense=None")
        return None
    array = np.asarray(dense, dtype=np.float64)
    if array.ndim != 2 or array.shape[0] != n:
        raise ValueError(f"dense must have shape [{n}, k] to match {n} texts; got {array.shape}")
    if not np.isfinite(array).all():
        raise ValueError("dense has NaN or inf values; fill or drop them before fitting")
    return array


def _check_labels(y: np.ndarray, n: int) -> np.ndarray:
    labels = np.asarray(y)
    if labels.shape != (n,):
        raise ValueError(f"y must have shape [{n}] to match {n} texts; got {labels.shape}")
    if labels.dtype.kind not in "biuf" or not np.isin(labels, (0, 1)).all():
        raise ValueError("y must contain only the labels 0 and 1")
    labels = labels.astype(np.int64)
    if np.unique(labels).size < 2:
        raise ValueError(f"y holds only the label {labels[0]}; a baseline needs both 0 and 1")
    return labels


# --- shared implementation ------------------------------------------------------------------


class _SklearnBaseline(Baseline):
    """TF-IDF and/or dense features into one scikit-learn classifier; subclasses say which."""

    uses_text: ClassVar[bool] = True
    uses_dense: ClassVar[bool] = False
    tfidf_max_features: ClassVar[int] = TFIDF_MAX_FEATURES

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        self._vectorizer: Any = None
        self._classifier: Any = None

    @abstractmethod
    def _new_classifier(self) -> Any:
        """An unfitted scikit-learn classifier with `predict_proba`."""

    def fit(self, texts: Sequence[str], dense: np.ndarray | None, y: np.ndarray) -> Self:
        texts = _check_texts(texts)
        dense = _check_dense(dense, len(texts), self.uses_dense, self.name)
        labels = _check_labels(y, len(texts))
        if self.uses_text:
            self._vectorizer = make_tfidf_vectorizer(self.tfidf_max_features).fit(texts)
        classifier = self._new_classifier()
        classifier.fit(self._design_matrix(texts, dense), labels)
        self._classifier = classifier
        return self

    def predict_proba(self, texts: Sequence[str], dense: np.ndarray | None) -> np.ndarray:
        if self._classifier is None:
            raise RuntimeError(f"{self.name} is not fitted; call fit() before predict_proba()")
        texts = _check_texts(texts)
        dense = _check_dense(dense, len(texts), self.uses_dense, self.name)
        proba = self._classifier.predict_proba(self._design_matrix(texts, dense))
        positive_column = list(self._classifier.classes_).index(1)
        return np.asarray(proba[:, positive_column], dtype=np.float64)

    def _design_matrix(self, texts: list[str], dense: np.ndarray | None) -> Any:
        """The classifier's input: TF-IDF, dense features, or both side by side (sparse)."""
        if not self.uses_dense:
            return self._vectorizer.transform(texts)
        if not self.uses_text:
            return dense
        from scipy import sparse

        return sparse.hstack(
            [self._vectorizer.transform(texts), sparse.csr_matrix(dense)], format="csr"
        )


class _RandomForestBaseline(_SklearnBaseline):
    """The book's random forest, balanced class weights; `n_estimators` is lowered in tests."""

    def __init__(self, seed: int = 0, n_estimators: int = N_ESTIMATORS) -> None:
        super().__init__(seed)
        self.n_estimators = n_estimators

    def _new_classifier(self) -> Any:
        return _make_random_forest(self.n_estimators, self.seed)


# --- the baselines --------------------------------------------------------------------------


class TfidfRandomForest(_RandomForestBaseline):
    """Book v1: random forest on TF-IDF of the text; the dense features are ignored."""

    name = "tfidf-rf"


class FeaturesRandomForest(_RandomForestBaseline):
    """Book v2: random forest on the handcrafted dense features only; the text is ignored."""

    name = "features-rf"
    uses_text = False
    uses_dense = True


class TfidfFeaturesRandomForest(_RandomForestBaseline):
    """Book v3: random forest on TF-IDF (5,000 terms) concatenated with the dense features."""

    name = "tfidf-features-rf"
    uses_dense = True
    tfidf_max_features = TFIDF_WITH_FEATURES_MAX_FEATURES


class TfidfLogisticRegression(_SklearnBaseline):
    """Balanced logistic regression on TF-IDF of the text; the dense features are ignored."""

    name = "tfidf-logreg"

    def _new_classifier(self) -> Any:
        require_extra("sklearn", "train")
        from sklearn.linear_model import LogisticRegression

        # `seed` is unused by the default lbfgs solver; kept so every baseline builds alike.
        return LogisticRegression(
            C=1.0, max_iter=2000, class_weight="balanced", random_state=self.seed
        )


def default_baselines(seed: int = 0, n_estimators: int = N_ESTIMATORS) -> list[Baseline]:
    """The baselines of our evaluation table, unfitted, in the order the table lists them."""
    return [
        TfidfRandomForest(seed=seed, n_estimators=n_estimators),
        FeaturesRandomForest(seed=seed, n_estimators=n_estimators),
        TfidfFeaturesRandomForest(seed=seed, n_estimators=n_estimators),
        TfidfLogisticRegression(seed=seed),
    ]
