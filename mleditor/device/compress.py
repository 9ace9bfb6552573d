"""The ONNX Runtime device variants: the source as it is, quantized, half-precision tables, pruned, fewer buckets.

Each builder writes ONE model file that takes the source's inputs and returns its outputs
(`mleditor.device.variants`); whatever it changes lives in the graph, built by
`mleditor.training.export.build_onnx` from the source's weights (`read_network`):

* `fp32` / `fp32-ort` — the source model.onnx as it is / as a pre-optimized ORT-format file.
* `int8` — onnxruntime dynamic quantization of the two tables (Gather: uint8, per tensor). The
  MLP's matrices stay float32: quantizing them (MatMulInteger) saves 0.5 KB but quantizes the
  activations per call, so a score would depend on the other questions in its batch, and it moved
  scores 14x more (max |Δscore| 0.043 against 0.003, test AUC -0.0015 against -0.00005).
* `fp16` — the two tables in float16, their rows cast back to float32 after the lookup.
* `pruned-K` / `pruned-K-int8` — the K % of buckets with the largest saliency keep their rows in
  a compact table; the sorted kept ids ship in the graph (uint16), which builds the
  bucket → row map at load time, every other bucket reading the zero padding row. Dropping
  buckets moves the scores, so each is recalibrated on the validation split (its own Platt fit,
  in its graph and in `BuiltVariant.calibration`). No ORT-format file: the converter folds the
  map into a 65,537-entry int64 constant (a 254 KB pruned-10 model.onnx became a 778 KB .ort).
* `reduced-14` / `reduced-12` — retrained (same split, same config) on ids folded into 2^k
  buckets, id' = ((id - 1) mod 2^k) + 1, the same fold inside the graph: a smaller model, not a
  compressed one. Needs torch (the `train` extra) and the data.

Saliency (`bucket_saliency`): how much the training questions' logits move, to first order, when a
bucket is dropped, summed over the questions holding it — its wide term plus its embedding row
through the MLP. Not the embedding norm: the rows barely move from their initial values (ranking by
it lost ~0.013 AUC). Against |wide| alone, at 10 % + int8: test AUC -0.0071 against -0.0091, max
|Δscore| 0.12 against 0.16.
"""

from __future__ import annotations

import logging
import math
import shutil
import tempfile
from collections.abc import Mapping
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from mleditor.core.features import N_BUCKETS
from mleditor.core.registry import ModelDirectory
from mleditor.core.scorer import OnnxScorer, pad_ngram_ids
from mleditor.device.quality import LabelledQuestions, labelled_questions
from mleditor.device.variants import BuildOptions, BuiltVariant, VariantSpec
from mleditor.errors import InvalidInputError, require_extra
from mleditor.training.calibration import fit_platt
from mleditor.training.export import (
    TABLES,
    FoldedBuckets,
    KeptBuckets,
    build_onnx,
    read_network,
    with_calibration,
)
from mleditor.training.train import FeatureTable

ONNX_FILE = "model.onnx"
ORT_FILE = "model.ort"
PRUNED_PERCENTS = (50, 20, 10)
REDUCED_BITS = (14, 12)
QUANTIZED_OPS = ("Gather",)  # the two tables: 99.9 % of the weights (see the module docstring for the MLP)


def build_fp32(source: ModelDirectory, work_dir: Path, options: BuildOptions) -> BuiltVariant:
    """The source model.onnx, copied as it is."""
    target = _target(work_dir, ONNX_FILE)
    shutil.copyfile(source.onnx_path, target)
    return BuiltVariant("fp32", target, "onnxruntime", "the source model, float32, as trained")


def build_fp32_ort(source: ModelDirectory, work_dir: Path, options: BuildOptions) -> BuiltVariant:
    """The source in ORT format: optimized once here, loaded without parsing protobuf or optimizing on device."""
    target = _target(work_dir, ORT_FILE)
    convert_to_ort(source.onnx_path, target)
    return BuiltVariant("fp32-ort", target, "onnxruntime", "the source model, float32, pre-optimized ORT format")


def build_int8(source: ModelDirectory, work_dir: Path, options: BuildOptions) -> BuiltVariant:
    """Dynamic int8 quantization of the source as exported (no pre-processing: it breaks nothing to skip it)."""
    target = _target(work_dir, ONNX_FILE)
    target.write_bytes(quantize(source.onnx_path.read_bytes()))
    return BuiltVariant("int8", target, "onnxruntime",
                        "embedding and wide tables quantized to uint8 (onnxruntime dynamic)")


def build_fp16(source: ModelDirectory, work_dir: Path, options: BuildOptions) -> BuiltVariant:
    """The two tables in float16 (cast back after the lookup); the rest of the graph float32."""
    network = read_network(source.onnx_path)
    target = _target(work_dir, ONNX_FILE)
    target.write_bytes(build_onnx(network.weights, network.calib_a, network.calib_b, network.metadata,
                                  table_dtype="float16"))
    return BuiltVariant("fp16", target, "onnxruntime", "embedding and wide tables in float16")


def build_pruned(source: ModelDirectory, work_dir: Path, options: BuildOptions, *, percent: float | None = None,
                 int8: bool = False) -> BuiltVariant:
    """Keep `percent` (else `options.keep_percent`) % of the buckets, optionally quantize, recalibrate on val."""
    percent = check_keep_percent(options.keep_percent if percent is None else percent)
    questions = labelled_questions(source, _data_dir(options, "pruned"))
    network = read_network(source.onnx_path)
    train = questions.table.rows(questions.mask("train"))
    kept = kept_buckets(bucket_saliency(network.weights, train), percent)
    model = build_onnx(pruned_weights(network.weights, kept), network.calib_a, network.calib_b,
                       network.metadata, buckets=KeptBuckets(kept, N_BUCKETS))
    model = quantize(model) if int8 else model
    calib_a, calib_b = fit_calibration(model, questions)
    target = _target(work_dir, ONNX_FILE)
    target.write_bytes(with_calibration(model, calib_a, calib_b))
    name = f"pruned-{_percent_label(percent)}{'-int8' if int8 else ''}"
    return BuiltVariant(
        name, target, "onnxruntime",
        f"{_percent_label(percent)} % of the n-gram buckets (by saliency){', uint8' if int8 else ''}, recalibrated",
        calibration=_calibration(calib_a, calib_b),
        meta_updates={"device_variant": {"kept_buckets": int(kept.size), "keep_percent": percent,
                                         "importance": "saliency on train", "quantized": int8}},
    )


def build_reduced(source: ModelDirectory, work_dir: Path, options: BuildOptions, *, bits: int) -> BuiltVariant:
    """Retrain on ids folded into 2^bits buckets (the source's split and config); the fold is in the graph."""
    require_extra("torch", "train")
    from mleditor.training.train import TrainConfig, fit_network, network_logits

    questions = labelled_questions(source, _data_dir(options, f"reduced-{bits}"))
    fold = FoldedBuckets(2**bits, N_BUCKETS)
    table = FeatureTable([fold.fold(ids) for ids in questions.table.ngram_ids], questions.table.dense)
    train, val = questions.mask("train"), questions.mask("val")
    config = TrainConfig.from_dict(source.meta["training"])
    net, report = fit_network(table.rows(train), questions.labels[train], table.rows(val),
                              questions.labels[val], config.network)
    calib_a, calib_b = fit_platt(network_logits(net, table.rows(val)).astype(np.float64), questions.labels[val])
    weights = {name: (array[: fold.table_buckets + 1] if name in TABLES else array)
               for name, array in net.to_weights().items()}
    metadata = read_network(source.onnx_path).metadata
    target = _target(work_dir, ONNX_FILE)
    target.write_bytes(build_onnx(weights, calib_a, calib_b, metadata, buckets=fold))
    return BuiltVariant(
        f"reduced-{bits}", target, "onnxruntime",
        f"retrained with 2^{bits} = {2**bits:,} n-gram buckets (ids folded in the graph)",
        calibration=_calibration(calib_a, calib_b),
        meta_updates={"device_variant": {"table_buckets": fold.table_buckets, "fold": "((id - 1) mod "
                                         f"{fold.table_buckets}) + 1", "training": {**config.to_dict(), **report}}},
    )


def check_keep_percent(percent: float | None) -> float:
    """The share of buckets to keep, checked: a number in (0, 100]."""
    if isinstance(percent, bool) or not isinstance(percent, (int, float)) or not 0 < percent <= 100:
        raise InvalidInputError(f"keep_percent must be a number in (0, 100] (the % of n-gram buckets kept); "
                                f"got {percent!r}")
    return float(percent)


def bucket_saliency(weights: Mapping[str, np.ndarray], table: FeatureTable) -> np.ndarray:
    """Per bucket [V + 1], the summed |first-order change of the logit| of `table`'s questions were it dropped.

    For question q with n ids, dropping bucket b changes its logit by about
    wide[b] / sqrt(n) + g_q · embedding[b] / n, g_q the logit's gradient in the embedding mean.
    """
    ids = [np.asarray(row, dtype=np.int64) for row in table.ngram_ids]
    count = np.array([max(row.size, 1) for row in ids], dtype=np.float64)
    embedding, w1 = weights["embedding"].astype(np.float64), weights["w1"].astype(np.float64)
    embedding_mean = np.stack([embedding[row].sum(axis=0) for row in ids]) / count[:, None]
    dense = (np.sign(table.dense) * np.log1p(np.abs(table.dense)) - weights["dense_mean"]) / weights["dense_std"]
    hidden = np.concatenate([embedding_mean, dense], axis=1) @ w1 + weights["b1"]
    gradient = ((hidden > 0) * weights["w2"]) @ w1[: embedding.shape[1]].T  # [Q, E]
    flat = np.concatenate(ids)
    owner = np.repeat(np.arange(len(ids)), [row.size for row in ids])
    change = (weights["wide"][flat] / np.sqrt(count[owner])
              + np.einsum("ij,ij->i", gradient[owner], embedding[flat]) / count[owner])
    saliency = np.zeros(embedding.shape[0])
    np.add.at(saliency, flat, np.abs(change))
    return saliency


def kept_buckets(importance: np.ndarray, percent: float) -> np.ndarray:
    """The sorted ids of the `percent` % of buckets (of importance[1:]) most important (ties: the lower id)."""
    n_buckets = importance.shape[0] - 1
    count = max(1, min(n_buckets, math.ceil(n_buckets * percent / 100 - 1e-9)))
    order = np.lexsort((np.arange(n_buckets), -np.asarray(importance[1:])))
    return np.sort(order[:count] + 1).astype(np.int64)


def pruned_weights(weights: Mapping[str, np.ndarray], kept: np.ndarray) -> dict[str, np.ndarray]:
    """The weights with compact tables: the padding row, then the kept buckets' rows in id order."""
    rows = np.r_[0, kept]
    return {**weights, **{name: np.asarray(weights[name])[rows] for name in TABLES}}


def quantize(model: bytes) -> bytes:
    """onnxruntime dynamic quantization (uint8, per tensor) of the Gather and MatMul weights."""
    require_extra("onnx", "device")
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with tempfile.TemporaryDirectory(prefix="mleditor-quantize-") as scratch:
        source, target = Path(scratch) / "model.onnx", Path(scratch) / "model.int8.onnx"
        source.write_bytes(model)
        logging.disable(logging.WARNING)  # it advises pre-processing on the root logger: wrong for this graph
        try:
            quantize_dynamic(source, target, op_types_to_quantize=list(QUANTIZED_OPS), per_channel=False,
                             weight_type=QuantType.QUInt8)
        finally:
            logging.disable(logging.NOTSET)
        return target.read_bytes()


def convert_to_ort(model: Path, target: Path) -> Path:
    """Save `model` in ORT format, optimized as `python -m onnxruntime.tools.convert_onnx_models_to_ort` does."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.optimized_model_filepath = str(target)
    options.add_session_config_entry("session.save_model_format", "ORT")
    # As the converter does off x86-64: no layout transformer whose output only one kind of CPU can run.
    ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"],
                         disabled_optimizers=["NchwcTransformer"])
    return target


def fit_calibration(model: bytes, questions: LabelledQuestions) -> tuple[float, float]:
    """Platt (a, b) for `model`'s logits on the validation split."""
    scorer, val = OnnxScorer.from_bytes(model), questions.mask("val")
    table = questions.table.rows(val)
    logits = [scorer.score_and_logit(pad_ngram_ids(table.ngram_ids[start : start + 256]),
                                     table.dense[start : start + 256].astype(np.float32))[1]
              for start in range(0, len(table.ngram_ids), 256)]
    return fit_platt(np.concatenate(logits).astype(np.float64), questions.labels[val])


def _calibration(calib_a: float, calib_b: float) -> dict[str, Any]:
    return {"method": "platt", "a": calib_a, "b": calib_b, "fitted_on": "val"}


def _percent_label(percent: float) -> str:
    return f"{percent:g}"


def _data_dir(options: BuildOptions, name: str) -> Path:
    if options.data_dir is None:
        raise InvalidInputError(f"the {name} variant needs the data (the dumps, $MLEDITOR_DATA, or a dataset file "
                                "from `mleditor data ingest`); pass it")
    return options.data_dir


def _target(work_dir: Path, name: str) -> Path:
    work_dir.mkdir(parents=True, exist_ok=True)
    return work_dir / name


def _pruned_specs() -> tuple[VariantSpec, ...]:
    specs = []
    for percent in PRUNED_PERCENTS:
        for int8 in (False, True):
            name = f"pruned-{percent}{'-int8' if int8 else ''}"
            summary = f"{percent} % of the buckets{' and uint8' if int8 else ''}, recalibrated"
            specs.append(VariantSpec(name, summary, partial(build_pruned, percent=percent, int8=int8),
                                     needs_data=True, extra="device"))
    return tuple(specs)


SPECS: tuple[VariantSpec, ...] = (
    VariantSpec("fp32", "the source model as it is", build_fp32),
    VariantSpec("fp32-ort", "the source model in ORT format (pre-optimized)", build_fp32_ort),
    VariantSpec("int8", "uint8 embedding and wide tables (onnxruntime dynamic quantization), fp32 MLP", build_int8,
                extra="device"),
    VariantSpec("fp16", "float16 tables", build_fp16, extra="device"),
    *_pruned_specs(),
    VariantSpec("pruned", "--keep % of the buckets, recalibrated", build_pruned, needs_data=True, extra="device"),
    VariantSpec("pruned-int8", "--keep % of the buckets and uint8, recalibrated", partial(build_pruned, int8=True),
                needs_data=True, extra="device"),
    *(VariantSpec(f"reduced-{bits}", f"retrained with 2^{bits} buckets", partial(build_reduced, bits=bits),
                  needs_data=True, extra="train") for bits in REDUCED_BITS),
)
"""Every ONNX Runtime variant, by name."""
