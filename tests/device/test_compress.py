"""The ONNX Runtime device variants: each builds one model file that loads, keeps the source's inputs and scores near it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnx")

import onnx
from onnx import numpy_helper

from mleditor.core.features import N_BUCKETS, featurize_many
from mleditor.core.registry import ModelDirectory
from mleditor.core.scorer import OnnxScorer, pad_ngram_ids
from mleditor.device.compress import SPECS, build_pruned, kept_buckets
from mleditor.device.quality import LabelledQuestions
from mleditor.device.variants import BuildOptions, BuiltVariant
from mleditor.errors import InvalidInputError
from mleditor.training.export import FoldedBuckets, KeptBuckets, build_onnx
from tests.helpers import make_questions, random_weights

SPEC = {spec.name: spec for spec in SPECS}
# The largest |variant score - source score| each variant may show on real questions (fp32: float
# rounding, since the source scores were computed in batches of another width).
TOLERANCE = {"fp32": 1e-6, "fp32-ort": 1e-6, "int8": 0.01, "fp16": 1e-3}
SAMPLE = 300


def build(name: str, source: ModelDirectory, work_dir: Path, data: Path | None = None, **options: float) -> BuiltVariant:
    return SPEC[name].build(source, work_dir / name, BuildOptions(data_dir=data, **options))  # type: ignore[arg-type]


def sample(questions: LabelledQuestions) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Ids, dense and source scores of the first SAMPLE real questions."""
    table = questions.table
    return (pad_ngram_ids(table.ngram_ids[:SAMPLE]), table.dense[:SAMPLE].astype(np.float32),
            questions.source_scores[:SAMPLE])


def large_integer_constants(path: Path, size: int) -> list[str]:
    """Initializers of `size` or more int64 values (a full bucket map would be one)."""
    model = onnx.load(str(path))
    return [init.name for init in model.graph.initializer
            if init.data_type == onnx.TensorProto.INT64 and int(np.prod(init.dims)) >= size]


def test_specs_name_every_onnx_runtime_variant() -> None:
    expected = {"fp32", "fp32-ort", "int8", "fp16", "pruned", "pruned-int8", "reduced-14", "reduced-12",
                *(f"pruned-{k}{suffix}" for k in (50, 20, 10) for suffix in ("", "-int8"))}
    assert set(SPEC) == expected
    assert all(SPEC[name].needs_data for name in expected if name.startswith(("pruned", "reduced")))


@pytest.mark.parametrize("name", sorted(TOLERANCE))
def test_a_data_free_variant_scores_real_questions_as_the_source_does(
    name: str, source_model: ModelDirectory, real_questions: LabelledQuestions, tmp_path: Path
) -> None:
    built = build(name, source_model, tmp_path)
    scorer = OnnxScorer.from_path(built.model_file)
    ids, dense, expected = sample(real_questions)
    assert built.name == name and built.model_file.parent == tmp_path / name
    assert scorer.n_buckets == N_BUCKETS
    assert np.abs(scorer.score(ids, dense) - expected).max() <= TOLERANCE[name]


def test_the_int8_variant_is_under_650_kb_and_scores_like_the_source(source_model: ModelDirectory,
                                                                     tmp_path: Path) -> None:
    built = build("int8", source_model, tmp_path)
    features = featurize_many(*zip(*[(q["title"], q["body"]) for q in make_questions(200)]))
    ids = pad_ngram_ids([f.ngram_ids for f in features])
    dense = np.array([f.dense for f in features], dtype=np.float32)
    source = OnnxScorer.from_path(source_model.onnx_path).score(ids, dense)
    assert built.model_file.stat().st_size < 650_000
    assert np.abs(OnnxScorer.from_path(built.model_file).score(ids, dense) - source).max() < 0.01


def test_the_fp16_variant_halves_the_file(source_model: ModelDirectory, tmp_path: Path) -> None:
    built = build("fp16", source_model, tmp_path)
    assert built.model_file.stat().st_size < 0.51 * source_model.onnx_path.stat().st_size


def test_the_pruned_10_int8_variant_is_under_110_kb_without_a_full_bucket_map(
    source_model: ModelDirectory, real_dataset: Path, real_questions: LabelledQuestions, tmp_path: Path
) -> None:
    built = build("pruned-10-int8", source_model, tmp_path, real_dataset)
    scorer = OnnxScorer.from_path(built.model_file)
    ids, dense, expected = sample(real_questions)
    assert built.model_file.stat().st_size < 110_000
    assert large_integer_constants(built.model_file, N_BUCKETS // 10) == []
    assert scorer.n_buckets == N_BUCKETS
    # Dropping 90 % of the buckets moves scores (recalibration re-centres them, not each one).
    assert np.abs(scorer.score(ids, dense) - expected).max() < 0.25
    assert np.corrcoef(scorer.score(ids, dense), expected)[0, 1] > 0.9


def test_a_pruned_variant_carries_its_own_calibration_in_its_graph(
    source_model: ModelDirectory, real_dataset: Path, tmp_path: Path
) -> None:
    built = build("pruned", source_model, tmp_path, real_dataset, keep_percent=50)
    model = onnx.load(str(built.model_file))
    constants = {init.name: float(numpy_helper.to_array(init)) for init in model.graph.initializer
                 if init.name in ("calib_a", "calib_b")}
    assert built.name == "pruned-50"
    assert built.calibration is not None and built.calibration["fitted_on"] == "val"
    assert constants == pytest.approx({"calib_a": built.calibration["a"], "calib_b": built.calibration["b"]})
    assert constants != pytest.approx({"calib_a": source_model.meta["calibration"]["a"],
                                       "calib_b": source_model.meta["calibration"]["b"]})
    json.dumps(built.meta_updates)


@pytest.mark.parametrize("keep_percent", [0, -5, 100.5, None, True, "10"])
def test_a_keep_percent_outside_0_to_100_is_refused(keep_percent: object, source_model: ModelDirectory,
                                                   tmp_path: Path) -> None:
    options = BuildOptions(keep_percent=keep_percent)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match=r"keep_percent must be a number in \(0, 100\]"):
        build_pruned(source_model, tmp_path, options)


def test_a_pruned_variant_without_data_says_to_pass_it(source_model: ModelDirectory, tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="needs the data"):
        build("pruned-10", source_model, tmp_path)


def test_kept_buckets_are_the_most_important_share_in_id_order() -> None:
    importance = np.array([0.0, 0.5, 3.0, 0.1, 2.0, 2.0])
    assert kept_buckets(importance, 40).tolist() == [2, 4]
    assert kept_buckets(importance, 60).tolist() == [2, 4, 5]
    assert kept_buckets(importance, 1).tolist() == [2]


def random_batch(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    ids = rng.integers(1, N_BUCKETS + 1, (16, 30))
    ids[:, 20:] = 0
    ids[0] = 0
    return ids, rng.normal(0, 3, (16, 24)).astype(np.float32)


def test_a_dropped_bucket_reads_the_zero_row_and_a_kept_one_its_own() -> None:
    weights = random_weights()
    kept = np.sort(np.random.default_rng(1).choice(np.arange(1, N_BUCKETS + 1), 5000, replace=False))
    compact = {**weights, **{name: weights[name][np.r_[0, kept]] for name in ("embedding", "wide")}}
    dropped = np.ones(N_BUCKETS + 1, dtype=bool)
    dropped[kept] = False
    zeroed = {**weights, "embedding": weights["embedding"] * ~dropped[:, None], "wide": weights["wide"] * ~dropped}
    ids, dense = random_batch()
    pruned = OnnxScorer.from_bytes(build_onnx(compact, 1.0, 0.0, buckets=KeptBuckets(kept, N_BUCKETS)))
    reference = OnnxScorer.from_bytes(build_onnx(zeroed, 1.0, 0.0))
    assert pruned.n_buckets == N_BUCKETS
    np.testing.assert_allclose(pruned.score(ids, dense), reference.score(ids, dense), atol=1e-6)


def test_folding_in_the_graph_equals_folding_the_ids() -> None:
    weights = random_weights()
    fold = FoldedBuckets(2**12, N_BUCKETS)
    small = {**weights, **{name: weights[name][: fold.table_buckets + 1] for name in ("embedding", "wide")}}
    ids, dense = random_batch()
    folded = OnnxScorer.from_bytes(build_onnx(small, 1.0, 0.0, buckets=fold))
    plain = OnnxScorer.from_bytes(build_onnx(small, 1.0, 0.0))
    assert fold.fold(np.array([0, 1, 4096, 4097, 65536])).tolist() == [0, 1, 4096, 1, 4096]
    np.testing.assert_allclose(folded.score(ids, dense), plain.score(fold.fold(ids), dense), atol=1e-6)


@pytest.mark.slow
def test_a_reduced_variant_is_retrained_with_fewer_buckets(
    source_model: ModelDirectory, real_dataset: Path, real_questions: LabelledQuestions, tmp_path: Path
) -> None:
    pytest.importorskip("torch")
    training = source_model.meta["training"]
    quick = {**training, "network": {**training["network"], "epochs": 2, "wide_steps": 5}}
    source = ModelDirectory(source_model.path, {**source_model.meta, "training": quick})
    built = build("reduced-12", source, tmp_path, real_dataset)
    model = onnx.load(str(built.model_file))
    tables = {init.name: tuple(init.dims) for init in model.graph.initializer if init.name in ("embedding", "wide")}
    scores = OnnxScorer.from_path(built.model_file).score(*sample(real_questions)[:2])
    assert tables == {"embedding": (2**12 + 1, 8), "wide": (2**12 + 1,)}
    assert built.model_file.stat().st_size < 200_000
    assert built.calibration is not None and OnnxScorer.from_path(built.model_file).n_buckets == N_BUCKETS
    assert ((scores > 0) & (scores < 1)).all() and scores.std() > 0
