"""Shared fixtures: a small model directory built from random weights, and the real data when present."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from mleditor.core.features import DENSE_FEATURES, N_BUCKETS, SPEC_VERSION
from mleditor.config import data_dir


def random_weights(seed: int = 0, embed_dim: int = 4, hidden: int = 8) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    d = len(DENSE_FEATURES)
    embedding = rng.normal(0, 0.1, (N_BUCKETS + 1, embed_dim)).astype(np.float32)
    embedding[0] = 0
    wide = rng.normal(0, 0.05, N_BUCKETS + 1).astype(np.float32)
    wide[0] = 0
    return {
        "embedding": embedding,
        "wide": wide,
        "dense_mean": np.zeros(d, np.float32),
        "dense_std": np.full(d, 2.0, np.float32),
        "w1": rng.normal(0, 0.3, (embed_dim + d, hidden)).astype(np.float32),
        "b1": np.zeros(hidden, np.float32),
        "w2": rng.normal(0, 0.3, hidden).astype(np.float32),
        "b2": np.array(0.0, np.float32),
    }


def write_model_dir(path: Path, weights: dict[str, np.ndarray] | None = None, **meta_overrides) -> Path:
    """A complete model directory (model.onnx + meta.json) that the registry accepts."""
    pytest.importorskip("onnx")
    from mleditor.training.export import save_onnx

    path.mkdir(parents=True, exist_ok=True)
    save_onnx(path / "model.onnx", weights or random_weights(), 1.0, 0.0)
    typical = {name: 1.0 for name in DENSE_FEATURES}
    typical.update(title_has_question_mark=1.0, body_words=120.0, words_per_sentence=17.0, paragraphs=3.0)
    meta = {
        "model_id": path.name,
        "created": "2026-11-25T00:00:00+00:00",
        "featurizer_spec": SPEC_VERSION,
        "n_buckets": N_BUCKETS,
        "dense_features": list(DENSE_FEATURES),
        "typical_values": typical,
        "v1_calibration": [0.6, 0.5, 0.4, 0.3, 0.2, 0.15, 0.1],
        "metrics": {},
    }
    meta.update(meta_overrides)
    (path / "meta.json").write_text(json.dumps(meta), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    return write_model_dir(tmp_path_factory.mktemp("models") / "tiny-test-model")


@pytest.fixture(scope="session")
def real_data_dir() -> Path:
    root = data_dir() / "stackexchange"
    if not root.is_dir():
        pytest.skip(f"Stack Exchange dumps not found at {root} (set MLEDITOR_DATA)")
    return root
