"""The litert variant: a .tflite built from the source's weights scores as ONNX Runtime does, within 1e-5.

Building needs the converter (TensorFlow), which CI does not install: those tests build the
.tflite once per run with the interpreter `$MLEDITOR_LITERT_PYTHON` names (or this one, when it has
TensorFlow) and skip without one. The runtime's error paths and the converter's own failures run
everywhere.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

from mleditor.core.features import featurize_many
from mleditor.core.ingest import iter_dump_questions
from mleditor.core.registry import ModelDirectory
from mleditor.core.scorer import OnnxScorer, pad_ngram_ids
from mleditor.device import litert
from mleditor.device.tflite_scorer import TfliteScorer
from mleditor.device.variants import BuildOptions
from mleditor.errors import MissingExtraError, ModelError

NEEDS_CONVERTER = "needs the litert converter (MLEDITOR_LITERT_PYTHON)"
TOLERANCE = 1e-5
REAL_QUESTIONS = 300


def has_module(name: str) -> bool:
    return importlib.util.find_spec(name) is not None


needs_runtime = pytest.mark.skipif(not has_module("ai_edge_litert"), reason="needs ai-edge-litert (mleditor[litert])")
needs_onnx = pytest.mark.skipif(not has_module("onnx"), reason="needs onnx (mleditor[litert])")


@pytest.fixture(scope="session")
def converter(developer_env: dict[str, str]) -> str:
    """The Python that converts: $MLEDITOR_LITERT_PYTHON as pytest found it, else this one if it has TensorFlow."""
    if not has_module("onnx") or not has_module("ai_edge_litert"):
        pytest.skip("needs onnx and ai-edge-litert (mleditor[litert])")
    try:
        return litert.converter_python({key: value for key, value in developer_env.items() if key == litert.PYTHON_ENV})
    except MissingExtraError:
        pytest.skip(NEEDS_CONVERTER)


@pytest.fixture(scope="session")
def tflite_model(converter: str, source_model: ModelDirectory, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The source model converted once per run."""
    return litert.convert(source_model.onnx_path, tmp_path_factory.mktemp("litert") / "model.tflite", python=converter)


@pytest.fixture(scope="session")
def tflite_scorer(tflite_model: Path) -> TfliteScorer:
    return TfliteScorer.from_path(tflite_model)


# The runtime: runs wherever ai-edge-litert is installed --------------------------------------------


def test_without_ai_edge_litert_the_scorer_names_the_litert_extra(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "ai_edge_litert", None)  # find_spec answers None: not installed
    with pytest.raises(MissingExtraError, match=r"^this command needs the 'ai_edge_litert' package: pip install 'mleditor\[litert\]'$"):
        TfliteScorer.from_path(tmp_path / "model.tflite")


@needs_runtime
@pytest.mark.parametrize("content", [b"not a model at all", b"\x08" * 64, b""])
def test_a_file_that_is_not_tflite_is_a_one_line_model_error(tmp_path, content):
    path = tmp_path / "model.tflite"
    path.write_bytes(content)
    with pytest.raises(ModelError, match=r"is not a TFLite model \(no TFL3 identifier\); build the litert variant again$") as caught:
        TfliteScorer.from_path(path)
    assert "\n" not in str(caught.value)


@needs_runtime
def test_an_onnx_model_given_as_a_tflite_is_refused(source_model):
    with pytest.raises(ModelError, match=r"is not a TFLite model"):
        TfliteScorer.from_path(source_model.onnx_path)


@needs_runtime
def test_a_truncated_tflite_is_a_one_line_model_error(tmp_path):
    path = tmp_path / "model.tflite"
    path.write_bytes(b"\x1c\x00\x00\x00TFL3" + b"\x00" * 200)
    with pytest.raises(ModelError, match=r"^cannot load .*model\.tflite: .*; build the litert variant again$") as caught:
        TfliteScorer.from_path(path)
    assert "\n" not in str(caught.value)


@needs_runtime
@pytest.mark.parametrize("where", ["missing", "directory"])
def test_a_missing_model_file_says_to_build_the_variant(tmp_path, where):
    path = tmp_path / "model.tflite"
    if where == "directory":
        path.mkdir()
    with pytest.raises(ModelError, match=r"^model file .* (does not exist|is a directory, not a \.tflite file); check the path or build the litert variant$"):
        TfliteScorer.from_path(path)


@needs_runtime
@pytest.mark.parametrize("threads", [0, -1, True, 1.5])
def test_threads_must_be_a_positive_integer(tmp_path, threads):
    path = tmp_path / "model.tflite"
    path.write_bytes(b"\x1c\x00\x00\x00TFL3" + b"\x00" * 200)
    with pytest.raises(ValueError, match=r"^threads must be a positive integer"):
        TfliteScorer.from_path(path, threads=threads)


class FakeInterpreter:
    """A stand-in for the LiteRT interpreter with one signature of the given input shapes; it records its calls."""

    def __init__(self, ids_shape: list[int], ids_dtype: type = np.int32) -> None:
        self.details = {"ngram_ids": {"dtype": ids_dtype, "shape_signature": np.array(ids_shape)},
                        "dense": {"dtype": np.float32, "shape_signature": np.array([ids_shape[0], 24])}}
        self.calls: list[dict[str, np.ndarray]] = []

    def get_signature_list(self):
        return {"other": {"inputs": ["x"], "outputs": ["y"]}, "serving_default": {"inputs": ["dense", "ngram_ids"], "outputs": ["score"]}}

    def get_signature_runner(self, name):
        assert name == "serving_default"
        return self

    def get_input_details(self):
        return self.details

    def __call__(self, **inputs):
        self.calls.append(inputs)
        return {"score": inputs["ngram_ids"].sum(axis=1).astype(np.float32)}


def test_a_model_of_fixed_length_and_int32_ids_gets_padded_int32_ids():
    fake = FakeInterpreter([-1, 8], np.int32)
    scores = TfliteScorer(fake).score(np.array([[3, 4, 0], [5, 0, 0]]), np.zeros((2, 24)))
    (call,) = fake.calls
    assert call["ngram_ids"].dtype == np.int32 and call["ngram_ids"].shape == (2, 8)
    assert call["dense"].dtype == np.float32
    assert scores.tolist() == [7.0, 5.0]


def test_ids_longer_than_a_fixed_length_are_refused_unless_only_padding():
    scorer = TfliteScorer(FakeInterpreter([-1, 2]))
    assert scorer.score(np.array([[3, 4, 0, 0]]), np.zeros((1, 24))).tolist() == [7.0]
    with pytest.raises(ValueError, match=r"^this model takes at most 2 n-gram ids a question; got 3$"):
        scorer.score(np.array([[3, 4, 5]]), np.zeros((1, 24)))


def test_a_model_of_fixed_batch_runs_the_rows_in_chunks():
    fake = FakeInterpreter([2, -1], np.int64)
    scores = TfliteScorer(fake).score(np.arange(1, 6)[:, None], np.zeros((5, 24)))
    assert [call["ngram_ids"].shape for call in fake.calls] == [(2, 1), (2, 1), (2, 1)]
    assert scores.tolist() == [1.0, 2.0, 3.0, 4.0, 5.0]


@pytest.mark.parametrize("ids, dense", [(np.zeros((2, 3)), np.zeros((2, 24))), (np.zeros(3, dtype=np.int64), np.zeros((1, 24))),
                                        (np.zeros((2, 3), dtype=np.int64), np.zeros((2, 23)))])
def test_inputs_of_the_wrong_shape_or_type_are_a_value_error(ids, dense):
    with pytest.raises(ValueError, match=r"^expected ngram_ids int \[B, L\] and dense \[B, 24\]"):
        TfliteScorer(FakeInterpreter([-1, -1])).score(ids, dense)


def test_a_model_without_the_scoring_signature_is_a_model_error():
    fake = FakeInterpreter([-1, -1])
    fake.get_signature_list = lambda: {"serving_default": {"inputs": ["x"], "outputs": ["y"]}}
    with pytest.raises(ModelError, match=r"^m.tflite has no signature taking ngram_ids and dense and returning score"):
        TfliteScorer(fake, source="m.tflite")


# The builder's failures: run without TensorFlow ---------------------------------------------------


def test_without_a_converter_the_builder_says_how_to_get_one(monkeypatch):
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "tensorflow" else real_find_spec(name, *a))
    with pytest.raises(MissingExtraError, match=r"pip install 'mleditor\[litert\]', or set \$MLEDITOR_LITERT_PYTHON to a Python that has tensorflow-cpu$"):
        litert.converter_python({})


def test_a_converter_python_that_does_not_exist_is_named(tmp_path):
    missing = tmp_path / "bin" / "python"
    with pytest.raises(MissingExtraError, match=rf"^\$MLEDITOR_LITERT_PYTHON={missing} does not exist"):
        litert.converter_python({litert.PYTHON_ENV: str(missing)})


def test_the_converter_python_is_the_one_the_environment_names(tmp_path):
    python = tmp_path / "python"
    python.write_text("")
    assert litert.converter_python({litert.PYTHON_ENV: str(python)}) == str(python)


@needs_onnx
@pytest.mark.skipif(has_module("tensorflow"), reason="checks a Python without TensorFlow")
def test_a_converter_without_tensorflow_fails_with_its_last_line(source_model, tmp_path):
    output = tmp_path / "out" / "model.tflite"
    with pytest.raises(ModelError, match=r"^the litert converter \(.*\) failed: ModuleNotFoundError: No module named 'tensorflow'$"):
        litert.convert(source_model.onnx_path, output, python=sys.executable)
    assert not output.exists() and list(output.parent.iterdir()) == []  # the scratch folder is gone


@needs_onnx
def test_the_weights_read_from_the_onnx_are_the_contract_weights_and_the_calibration(source_model):
    weights = litert.read_weights(source_model.onnx_path)
    assert set(weights) == {"embedding", "wide", "dense_mean", "dense_std", "w1", "b1", "w2", "b2", "calib_a", "calib_b"}
    assert all(array.dtype == np.float32 for array in weights.values())
    assert float(weights["calib_a"]) == pytest.approx(source_model.meta["calibration"]["a"], rel=1e-6)


@needs_onnx
def test_an_onnx_without_calibration_is_a_model_error(tmp_path, source_model):
    import onnx

    model = onnx.load(str(source_model.onnx_path))
    kept = [init for init in model.graph.initializer if init.name != "calib_b"]
    del model.graph.initializer[:]
    model.graph.initializer.extend(kept)
    path = tmp_path / "model.onnx"
    onnx.save(model, str(path))
    with pytest.raises(ModelError, match=r"has no calib_b initializer; export it with build_onnx again$"):
        litert.read_weights(path)


@needs_onnx
def test_a_file_that_is_not_onnx_cannot_be_converted(tmp_path):
    path = tmp_path / "model.onnx"
    path.write_bytes(b"\xff" * 64)
    with pytest.raises(ModelError, match=r"^cannot read .*model\.onnx: .*; export the model again$"):
        litert.read_weights(path)


def test_the_litert_spec_names_its_extra():
    (spec,) = litert.SPECS
    assert (spec.name, spec.extra, spec.needs_data, spec.build) == ("litert", "litert", False, litert.build)


# Conversion and parity: need the converter ---------------------------------------------------------


def test_build_writes_model_tflite_for_the_litert_runtime(converter, source_model, tmp_path, monkeypatch):
    monkeypatch.setenv(litert.PYTHON_ENV, converter)
    built = litert.build(source_model, tmp_path / "work", BuildOptions())
    assert (built.name, built.runtime, built.model_file) == ("litert", "litert", tmp_path / "work" / "model.tflite")
    assert built.model_file.read_bytes()[4:8] == b"TFL3"
    assert sorted(path.name for path in (tmp_path / "work").iterdir()) == ["model.tflite"]


def test_the_tflite_takes_int64_ids_of_any_length_and_returns_score(tflite_scorer):
    inputs = tflite_scorer._runner.get_input_details()
    assert inputs["ngram_ids"]["dtype"] == np.int64
    assert list(inputs["ngram_ids"]["shape_signature"]) == [-1, -1]
    assert list(inputs["dense"]["shape_signature"]) == [-1, 24]
    assert list(tflite_scorer._runner.get_output_details()) == ["score"]


def test_the_tflite_scores_synthetic_inputs_as_onnx_runtime_does(tflite_scorer, source_model):
    rng = np.random.default_rng(0)
    ids = rng.integers(1, 65_537, size=(64, 300))
    lengths = rng.integers(0, 301, size=64)
    ids[np.arange(300)[None, :] >= lengths[:, None]] = 0  # right-padded to 300, some rows empty
    dense = rng.gamma(1.0, 50.0, size=(64, 24)).astype(np.float32)
    expected = OnnxScorer.from_path(source_model.onnx_path).score(ids, dense)
    np.testing.assert_allclose(tflite_scorer.score(ids, dense), expected, rtol=0, atol=TOLERANCE)


def test_one_question_at_a_time_scores_as_in_a_batch(tflite_scorer):
    rng = np.random.default_rng(1)
    rows = [rng.integers(1, 65_537, size=n) for n in (1, 40, 4_096, 7)]
    dense = rng.gamma(1.0, 20.0, size=(4, 24)).astype(np.float32)
    batch = tflite_scorer.score(pad_ngram_ids(rows), dense)
    alone = [tflite_scorer.score(pad_ngram_ids([row]), dense[i : i + 1])[0] for i, row in enumerate(rows)]
    np.testing.assert_allclose(alone, batch, rtol=0, atol=1e-6)


def test_an_id_above_the_bucket_count_is_a_one_line_value_error(tflite_scorer):
    with pytest.raises(ValueError, match=r"^the model could not score these inputs: gather index out of bounds"):
        tflite_scorer.score(np.array([[70_000]]), np.zeros((1, 24), dtype=np.float32))


@pytest.mark.slow
@pytest.mark.data
def test_the_tflite_scores_real_questions_as_onnx_runtime_does_within_1e_5(tflite_scorer, source_model, real_dump_dirs):
    records = [record for dump in real_dump_dirs for record in iter_dump_questions(dump, on_warning=lambda _: None)]
    step = max(1, len(records) // REAL_QUESTIONS)
    sample = records[::step][:REAL_QUESTIONS]
    features = featurize_many([record.title for record in sample], [record.body for record in sample])
    ids = pad_ngram_ids([feature.ngram_ids for feature in features])
    dense = np.stack([feature.dense for feature in features]).astype(np.float32)
    expected = OnnxScorer.from_path(source_model.onnx_path).score(ids, dense)
    np.testing.assert_allclose(tflite_scorer.score(ids, dense), expected, rtol=0, atol=TOLERANCE)
