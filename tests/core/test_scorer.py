"""OnnxScorer loads an exported model once, scores batches like single questions, and fails with clear errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mleditor.core.scorer import OnnxScorer, pad_ngram_ids
from mleditor.errors import ModelError

V, E, H, D = 500, 8, 16, 12


def random_weights(seed: int = 0) -> dict[str, np.ndarray]:
    """Contract weights drawn with numpy alone (no torch), padding rows zero, logits of a trained model's size."""
    rng = np.random.default_rng(seed)
    embedding = rng.normal(0.0, 0.5, (V + 1, E)).astype(np.float32)
    embedding[0] = 0.0
    wide = rng.normal(0.0, 0.5, V + 1).astype(np.float32)
    wide[0] = 0.0
    return {
        "embedding": embedding,
        "wide": wide,
        "dense_mean": rng.normal(0.0, 1.0, D).astype(np.float32),
        "dense_std": rng.uniform(0.5, 2.0, D).astype(np.float32),
        "w1": rng.normal(0.0, 0.2, (E + D, H)).astype(np.float32),
        "b1": rng.normal(0.0, 0.1, H).astype(np.float32),
        "w2": rng.normal(0.0, 0.3, H).astype(np.float32),
        "b2": np.float32(0.2),
    }


@pytest.fixture(scope="module")
def model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("onnx")
    from mleditor.training.export import save_onnx

    path = tmp_path_factory.mktemp("model") / "model.onnx"
    return save_onnx(path, random_weights(), 1.5, -0.3, {"version": "test-1"})


@pytest.fixture(scope="module")
def scorer(model_path: Path) -> OnnxScorer:
    return OnnxScorer.from_path(model_path)


def questions(count: int, seed: int = 1) -> tuple[list[np.ndarray], np.ndarray]:
    rng = np.random.default_rng(seed)
    rows = [rng.integers(1, V + 1, size=rng.integers(0, 40)) for _ in range(count)]
    rows[0] = np.array([], dtype=np.int64)
    dense = rng.normal(0.0, 20.0, (count, D)).astype(np.float32)
    return rows, dense


def test_scores_are_probabilities(scorer: OnnxScorer) -> None:
    rows, dense = questions(9)

    scores = scorer.score(pad_ngram_ids(rows), dense)

    assert scores.dtype == np.float32 and scores.shape == (9,)
    assert np.all((scores > 0) & (scores < 1))


def test_batch_scores_equal_questions_scored_one_by_one(scorer: OnnxScorer) -> None:
    rows, dense = questions(9)

    batch_scores, batch_logits = scorer.score_and_logit(pad_ngram_ids(rows), dense)
    single = [scorer.score_and_logit(pad_ngram_ids([row]), dense[i : i + 1]) for i, row in enumerate(rows)]

    np.testing.assert_allclose(batch_scores, [s[0][0] for s in single], atol=1e-6)
    np.testing.assert_allclose(batch_logits, [s[1][0] for s in single], atol=1e-5)


def test_score_is_calibrated_logit(scorer: OnnxScorer) -> None:
    rows, dense = questions(5)

    scores, logits = scorer.score_and_logit(pad_ngram_ids(rows), dense)

    np.testing.assert_allclose(scores, 1.0 / (1.0 + np.exp(-(1.5 * logits - 0.3))), atol=1e-6)


def test_model_properties(scorer: OnnxScorer) -> None:
    assert scorer.dense_dim == D
    assert scorer.n_buckets == V
    assert scorer.metadata["version"] == "test-1"


def test_inputs_are_converted_when_dtype_or_layout_differ(scorer: OnnxScorer) -> None:
    rows, dense = questions(4)
    ids = pad_ngram_ids(rows)
    expected = scorer.score(ids, dense)

    wide_ids = np.asfortranarray(ids.astype(np.int32))
    np.testing.assert_array_equal(scorer.score(wide_ids, dense.astype(np.float64)), expected)
    np.testing.assert_array_equal(scorer.score(ids.tolist(), dense.tolist()), expected)


def test_empty_batch_scores_nothing(scorer: OnnxScorer) -> None:
    scores = scorer.score(np.zeros((0, 1), np.int64), np.zeros((0, D), np.float32))
    assert scores.shape == (0,) and scores.dtype == np.float32


def test_missing_file_raises_model_error(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="does not exist; check the path") as caught:
        OnnxScorer.from_path(tmp_path / "nope.onnx")
    assert "\n" not in str(caught.value)


def test_directory_raises_model_error(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="is a directory"):
        OnnxScorer.from_path(tmp_path)


def test_invalid_file_raises_one_line_model_error(tmp_path: Path, model_path: Path) -> None:
    garbage = tmp_path / "model.onnx"
    garbage.write_bytes(b"not a model")
    truncated = tmp_path / "truncated.onnx"
    truncated.write_bytes(model_path.read_bytes()[:1000])

    for path in (garbage, truncated):
        with pytest.raises(ModelError, match="cannot load model file") as caught:
            OnnxScorer.from_path(path)
        assert "\n" not in str(caught.value)


def test_model_with_other_interface_raises_model_error() -> None:
    onnx = pytest.importorskip("onnx")
    helper = onnx.helper
    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"])],
        "other",
        [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8

    with pytest.raises(ModelError, match="not a question-quality model"):
        OnnxScorer.from_bytes(model.SerializeToString())


def test_wrong_dense_width_raises_clear_error(scorer: OnnxScorer) -> None:
    with pytest.raises(ValueError, match=f"dense has {D + 1} features per question; this model expects {D}"):
        scorer.score(np.ones((2, 3), np.int64), np.zeros((2, D + 1), np.float32))


@pytest.mark.parametrize(
    ("ids", "dense", "message"),
    [
        (np.ones(3, np.int64), np.zeros((1, D), np.float32), r"expected ngram_ids \[batch, ngrams\]"),
        (np.ones((2, 3), np.int64), np.zeros((3, D), np.float32), "ngram_ids has 2 rows but dense has 3"),
        (np.ones((1, 3), np.float32), np.zeros((1, D), np.float32), "ngram_ids must hold integer ids"),
        (np.array([[1, -2]]), np.zeros((1, D), np.float32), "must be >= 0"),
        (np.array([[1, V + 1]]), np.zeros((1, D), np.float32), f"this model has {V} buckets"),
        (np.ones((1, 3), np.int64), np.full((1, D), "x"), "dense must hold numbers"),
    ],
)
def test_invalid_inputs_raise_clear_errors(scorer: OnnxScorer, ids, dense, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        scorer.score(ids, dense)


def test_threads_must_be_non_negative(model_path: Path) -> None:
    with pytest.raises(ValueError, match="threads must be an integer >= 0"):
        OnnxScorer.from_path(model_path, threads=-1)
    assert OnnxScorer.from_path(model_path, threads=2).dense_dim == D


def test_pad_ngram_ids_right_pads_with_zero() -> None:
    padded = pad_ngram_ids([np.array([3, 4, 5]), np.array([], dtype=np.int64), np.array([9])])

    assert padded.dtype == np.int64
    np.testing.assert_array_equal(padded, [[3, 4, 5], [0, 0, 0], [9, 0, 0]])


def test_pad_ngram_ids_of_only_empty_rows_has_width_one() -> None:
    padded = pad_ngram_ids([np.array([], dtype=np.int64), []])

    assert padded.shape == (2, 1) and padded.dtype == np.int64 and not padded.any()
    assert pad_ngram_ids([]).shape == (0, 1)


def test_pad_ngram_ids_rejects_non_integer_rows() -> None:
    with pytest.raises(ValueError, match="row 1 must be a 1-D array of integer ids"):
        pad_ngram_ids([np.array([1]), np.array([0.5])])


def test_scoring_imports_neither_torch_nor_onnx() -> None:
    import subprocess
    import sys

    code = (
        "import sys, numpy as np\n"
        "from mleditor.core.scorer import OnnxScorer, pad_ngram_ids\n"
        "heavy = sorted(m for m in ('torch', 'onnx') if m in sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
