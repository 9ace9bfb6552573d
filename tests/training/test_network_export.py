"""QuestionNet (torch) and build_onnx (onnx) compute the same network; weights round-trip; padding stays zero."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from mleditor.training.export import N_BUCKETS_KEY, build_onnx, save_onnx, validate_weights  # noqa: E402
from mleditor.training.network import QuestionNet, dense_normalization, transform_dense  # noqa: E402

V, E, H, D = 1000, 8, 16, 20
CALIB_A, CALIB_B = 1.7, -0.4


def random_net(seed: int = 0) -> QuestionNet:
    """A network with every weight random (wide and biases too), except the padding rows."""
    torch.manual_seed(seed)
    net = QuestionNet(V, D, embed_dim=E, hidden=H)
    with torch.no_grad():
        net.wide.normal_(0.0, 0.5)
        net.wide[0] = 0.0
        net.hidden.bias.normal_(0.0, 0.5)
        net.output.bias.normal_(0.0, 0.5)
    rng = np.random.default_rng(seed)
    net.set_dense_normalization(rng.normal(0.0, 1.0, D), rng.uniform(0.5, 2.0, D))
    return net


def random_inputs(batch: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Ids with padding, one all-padding row and one row repeating an id; dense with negative values."""
    rng = np.random.default_rng(seed)
    length = 12
    ids = rng.integers(1, V + 1, size=(batch, length)).astype(np.int64)
    for row in range(batch):
        ids[row, rng.integers(1, length + 1) :] = 0
    ids[0] = 0
    if batch > 1:
        ids[1, :5] = 7
        ids[1, 5:] = 0
    dense = (rng.normal(0.0, 30.0, size=(batch, D))).astype(np.float32)
    dense[:, 0] = -abs(dense[:, 0])  # e.g. a negative Flesch score
    return ids, dense


def onnx_outputs(model: bytes, ids: np.ndarray, dense: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    score, logit = session.run(["score", "logit"], {"ngram_ids": ids, "dense": dense})
    return score, logit


@pytest.mark.parametrize("batch", [1, 7])
def test_onnx_matches_torch_forward_and_calibration(batch: int) -> None:
    net = random_net()
    ids, dense = random_inputs(batch)
    with torch.no_grad():
        expected_logit = net(torch.from_numpy(ids), torch.from_numpy(dense))
    expected_score = torch.sigmoid(CALIB_A * expected_logit + CALIB_B).numpy()

    score, logit = onnx_outputs(build_onnx(net.to_weights(), CALIB_A, CALIB_B), ids, dense)

    assert score.dtype == np.float32 and logit.dtype == np.float32
    assert score.shape == logit.shape == (batch,)
    np.testing.assert_allclose(logit, expected_logit.numpy(), rtol=0, atol=1e-5)
    np.testing.assert_allclose(score, expected_score, rtol=0, atol=1e-5)


def test_onnx_matches_reference_numpy_math() -> None:
    net = random_net(seed=3)
    weights = net.to_weights()
    ids, dense = random_inputs(7, seed=4)

    mask = (ids > 0).astype(np.float32)
    count = np.maximum(mask.sum(axis=1), 1.0)
    emb_mean = weights["embedding"][ids].sum(axis=1) / count[:, None]
    wide_term = weights["wide"][ids].sum(axis=1) / np.sqrt(count)
    dense_n = (transform_dense(dense) - weights["dense_mean"]) / weights["dense_std"]
    hidden = np.maximum(np.concatenate([emb_mean, dense_n], axis=1) @ weights["w1"] + weights["b1"], 0.0)
    expected_logit = hidden @ weights["w2"] + weights["b2"] + wide_term

    _, logit = onnx_outputs(build_onnx(weights, CALIB_A, CALIB_B), ids, dense)
    np.testing.assert_allclose(logit, expected_logit, rtol=0, atol=1e-5)


def test_all_padding_row_uses_only_dense_features() -> None:
    net = random_net()
    dense = np.random.default_rng(5).normal(size=(1, D)).astype(np.float32)
    short = np.zeros((1, 1), dtype=np.int64)
    long = np.zeros((1, 50), dtype=np.int64)
    model = build_onnx(net.to_weights(), CALIB_A, CALIB_B)

    np.testing.assert_allclose(onnx_outputs(model, short, dense)[1], onnx_outputs(model, long, dense)[1], atol=1e-6)


def test_to_weights_and_from_weights_round_trip() -> None:
    net = random_net()
    weights = net.to_weights()

    rebuilt = QuestionNet.from_weights(weights)
    again = rebuilt.to_weights()

    assert set(weights) == {"embedding", "wide", "dense_mean", "dense_std", "w1", "b1", "w2", "b2"}
    assert weights["embedding"].shape == (V + 1, E) and weights["w1"].shape == (E + D, H)
    assert weights["b2"].shape == ()
    for name, array in weights.items():
        assert array.dtype == np.float32
        np.testing.assert_array_equal(again[name], array, err_msg=name)
    ids, dense = random_inputs(7)
    with torch.no_grad():
        np.testing.assert_array_equal(
            rebuilt(torch.from_numpy(ids), torch.from_numpy(dense)).numpy(),
            net(torch.from_numpy(ids), torch.from_numpy(dense)).numpy(),
        )


def test_padding_rows_stay_zero_after_training_steps() -> None:
    net = random_net()
    optimizer = torch.optim.AdamW(net.parameters(), lr=0.05, weight_decay=0.01)
    for step in range(5):
        ids, dense = random_inputs(7, seed=10 + step)
        target = torch.from_numpy((np.arange(7) % 2).astype(np.float32))
        loss = torch.nn.functional.binary_cross_entropy_with_logits(
            net(torch.from_numpy(ids), torch.from_numpy(dense)), target
        )
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    weights = net.to_weights()
    assert not np.any(weights["embedding"][0])
    assert weights["wide"][0] == 0.0
    assert np.any(weights["embedding"][1:])  # the rest did train
    build_onnx(weights, CALIB_A, CALIB_B)  # and the trained weights still export


def test_dense_normalization_standardizes_transformed_features() -> None:
    rng = np.random.default_rng(6)
    dense = rng.normal(0.0, 50.0, size=(500, D)).astype(np.float32)
    dense[:, 3] = 4.0  # constant feature

    mean, std = dense_normalization(dense)

    normalized = (transform_dense(dense) - mean) / std
    np.testing.assert_allclose(normalized.mean(axis=0), 0.0, atol=1e-4)
    assert std[3] == 1.0
    np.testing.assert_allclose(np.delete(normalized.std(axis=0), 3), 1.0, atol=1e-3)


def test_save_onnx_writes_metadata_and_bucket_count(tmp_path) -> None:
    path = save_onnx(tmp_path / "models" / "model.onnx", random_net().to_weights(), 1.0, 0.0, {"version": "7"})

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    meta = session.get_modelmeta().custom_metadata_map
    assert meta == {"version": "7", N_BUCKETS_KEY: str(V)}
    assert [node.name for node in session.get_inputs()] == ["ngram_ids", "dense"]
    assert session.get_inputs()[0].shape == ["batch", "ngrams"]
    assert session.get_inputs()[1].shape == ["batch", D]
    assert list(tmp_path.joinpath("models").iterdir()) == [path]  # no temporary file left behind


def test_exported_weights_are_float32_under_contract_names() -> None:
    import onnx

    model = onnx.load_from_string(build_onnx(random_net().to_weights(), CALIB_A, CALIB_B))
    initializers = {init.name: init for init in model.graph.initializer}

    assert model.opset_import[0].version == 17
    for name in ("embedding", "wide", "dense_mean", "dense_std", "w1", "b1", "w2", "b2", "calib_a", "calib_b"):
        assert initializers[name].data_type == onnx.TensorProto.FLOAT, name
    assert list(initializers["w1"].dims) == [E + D, H]


def with_change(name: str, value: np.ndarray) -> dict[str, np.ndarray]:
    weights = random_net().to_weights()
    weights[name] = value
    return weights


@pytest.mark.parametrize(
    ("weights", "message"),
    [
        (with_change("w1", np.zeros((E + D + 1, H), np.float32)), r"w1 has shape \(29, 16\); expected \(28, 16\)"),
        (with_change("wide", np.zeros(V, np.float32)), r"wide has shape \(1000,\); expected \(1001,\)"),
        (with_change("w2", np.zeros((H, 1), np.float32)), r"w2 has shape \(16, 1\); expected \(16,\)"),
        (with_change("b2", np.zeros(2, np.float32)), r"b2 has shape \(2,\); expected a scalar"),
        (with_change("embedding", np.zeros(5, np.float32)), r"embedding has shape \(5,\)"),
        (with_change("dense_std", np.zeros(D, np.float32)), r"dense_std must be > 0"),
        (with_change("embedding", np.ones((V + 1, E), np.float32)), r"embedding row 0 \(the padding row\)"),
        (with_change("wide", np.ones(V + 1, np.float32)), r"wide\[0\] \(the padding entry\) must be 0"),
        (with_change("b1", np.full(H, np.nan, np.float32)), r"b1 contains NaN"),
        ({"embedding": np.zeros((3, 2), np.float32)}, r"missing: wide, dense_mean"),
        ({**random_net().to_weights(), "calib_a": np.float32(1)}, r"unexpected: calib_a"),
    ],
)
def test_build_onnx_rejects_invalid_weights_with_clear_message(weights: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build_onnx(weights, CALIB_A, CALIB_B)


def test_build_onnx_rejects_bad_calibration_and_metadata() -> None:
    weights = random_net().to_weights()
    with pytest.raises(ValueError, match="calib_a must be a finite number"):
        build_onnx(weights, float("nan"), 0.0)
    with pytest.raises(ValueError, match="metadata keys and values must be strings"):
        build_onnx(weights, 1.0, 0.0, {"epochs": 3})  # type: ignore[dict-item]
    with pytest.raises(ValueError, match="contradicts the weights"):
        build_onnx(weights, 1.0, 0.0, {N_BUCKETS_KEY: "65536"})


def test_from_weights_rejects_what_build_onnx_rejects() -> None:
    weights = random_net().to_weights()
    weights["embedding"][0, 0] = 0.5
    with pytest.raises(ValueError, match="padding row"):
        QuestionNet.from_weights(weights)
    assert validate_weights(random_net().to_weights())[1].n_buckets == V


def test_forward_rejects_wrong_dense_width() -> None:
    net = random_net()
    with pytest.raises(ValueError, match=r"dense \[B, 20\]"):
        net(torch.ones((2, 3), dtype=torch.int64), torch.zeros((2, D + 1)))


def test_export_works_without_importing_torch() -> None:
    import subprocess
    import sys

    code = (
        "import sys, numpy as np\n"
        "from mleditor.training.export import build_onnx\n"
        "V, E, D, H = 10, 2, 3, 4\n"
        "w = dict(embedding=np.zeros((V + 1, E)), wide=np.zeros(V + 1), dense_mean=np.zeros(D),\n"
        "         dense_std=np.ones(D), w1=np.ones((E + D, H)), b1=np.zeros(H), w2=np.ones(H), b2=0.0)\n"
        "assert build_onnx(w, 1.0, 0.0)\n"
        "assert 'torch' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
