"""Export the question-quality network to ONNX, built node by node from its named numpy weights.

The graph is written with the `onnx` helper API rather than `torch.onnx.export`, so any set of
weights that follows the contract below can be exported: a trained `QuestionNet`, federated
averages, a pruned copy. This module never imports torch.

The weight contract (float32; V buckets, E embedding width, D dense features, H hidden units)::

    embedding [V+1, E]   row 0 is the padding row and must be zero
    wide      [V+1]      entry 0 is the padding entry and must be zero
    dense_mean [D], dense_std [D] (all > 0)
    w1 [E+D, H], b1 [H], w2 [H], b2 []

The graph takes `ngram_ids` int64 [batch, ngrams] (ids in 1..V, right-padded with 0) and
`dense` float32 [batch, D], and returns `score` (calibrated probability) and `logit`, both
float32 [batch].

A variant may change what sits between the ids and the tables, inside the same graph
(`build_onnx(..., buckets=..., table_dtype=...)`): `KeptBuckets` (a pruned table: kept bucket ids,
the rest reach the zero padding row), `FoldedBuckets` (fewer buckets: id' = ((id - 1) mod V') + 1),
float16 tables cast back to float32 after the lookup. The input is still ids 1..65,536 and the
metadata's `mleditor.n_buckets` names that input range.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np

from mleditor.errors import require_extra

if TYPE_CHECKING:
    from onnx import GraphProto, ModelProto, NodeProto

WEIGHT_NAMES = ("embedding", "wide", "dense_mean", "dense_std", "w1", "b1", "w2", "b2")
INPUT_IDS = "ngram_ids"
INPUT_DENSE = "dense"
OUTPUT_SCORE = "score"
OUTPUT_LOGIT = "logit"
# Written into every model's metadata so the scorer can reject out-of-range ids before running.
N_BUCKETS_KEY = "mleditor.n_buckets"
# Opset 17 with IR version 8 loads in every onnxruntime since 1.13, onnxruntime-web included.
OPSET = 17
IR_VERSION = 8
TABLES = ("embedding", "wide")  # the per-bucket weights: what pruning, folding and fp16 change
TableDtype = Literal["float32", "float16"]


@dataclass(frozen=True)
class NetworkShape:
    """The sizes a set of weights implies."""

    n_buckets: int
    embed_dim: int
    dense_dim: int
    hidden: int


@dataclass(frozen=True)
class KeptBuckets:
    """A pruned table: input bucket `kept[i]` reads table row i + 1; every other bucket the zero row 0.

    The graph ships the sorted kept ids (as id - 1 in uint16 when they fit) and builds the
    [input_buckets + 1] map with ScatterElements into zeros, so the file never holds the full map
    (onnxruntime folds it into a constant in memory when the session loads).
    """

    kept: np.ndarray  # sorted distinct bucket ids in 1..input_buckets
    input_buckets: int

    def __post_init__(self) -> None:
        kept = np.asarray(self.kept)
        if kept.ndim != 1 or kept.size == 0 or not np.issubdtype(kept.dtype, np.integer):
            raise ValueError(f"kept must be a non-empty 1-D array of bucket ids; got {kept.dtype} {kept.shape}")
        if kept[0] < 1 or kept[-1] > self.input_buckets or np.any(np.diff(kept) <= 0):
            raise ValueError(f"kept must be sorted distinct ids in 1..{self.input_buckets}")

    @property
    def table_buckets(self) -> int:
        return int(np.asarray(self.kept).size)

    def nodes(self, rows: str) -> tuple[list[NodeProto], dict[str, np.ndarray]]:
        """Nodes turning `ngram_ids` into table rows named `rows`, and the constants they read."""
        from onnx import TensorProto, helper

        kept = np.asarray(self.kept, dtype=np.int64)
        stored = (kept - 1).astype(np.uint16 if self.input_buckets <= 2**16 else np.int32)
        map_value = helper.make_tensor("map_zero", TensorProto.INT64, [1], [0])
        nodes = [
            helper.make_node("Cast", ["kept_buckets"], ["kept_minus_one"], to=TensorProto.INT64),
            helper.make_node("Add", ["kept_minus_one", "one_id"], ["kept_ids"]),
            helper.make_node("Range", ["one_id", "kept_rows_end", "one_id"], ["kept_rows"]),
            helper.make_node("ConstantOfShape", ["map_shape"], ["map_zeros"], value=map_value),
            helper.make_node("ScatterElements", ["map_zeros", "kept_ids", "kept_rows"], ["bucket_map"], axis=0),
            helper.make_node("Gather", ["bucket_map", INPUT_IDS], [rows], axis=0),
        ]
        constants = {
            "kept_buckets": stored,
            "one_id": np.array(1, dtype=np.int64),
            "kept_rows_end": np.array(kept.size + 1, dtype=np.int64),
            "map_shape": np.array([self.input_buckets + 1], dtype=np.int64),
        }
        return nodes, constants


@dataclass(frozen=True)
class FoldedBuckets:
    """Fewer buckets: input id > 0 reads row ((id - 1) mod table_buckets) + 1, 0 stays 0.

    When table_buckets divides input_buckets this is hashing into table_buckets buckets.
    """

    table_buckets: int
    input_buckets: int

    def __post_init__(self) -> None:
        if not 1 <= self.table_buckets <= self.input_buckets:
            raise ValueError(f"table_buckets must be in 1..{self.input_buckets}; got {self.table_buckets}")

    def fold(self, ids: np.ndarray) -> np.ndarray:
        """The same fold in numpy, for training on folded ids."""
        ids = np.asarray(ids, dtype=np.int64)
        folded: np.ndarray = np.where(ids > 0, (ids - 1) % self.table_buckets + 1, 0)
        return folded

    def nodes(self, rows: str) -> tuple[list[NodeProto], dict[str, np.ndarray]]:
        """Nodes turning `ngram_ids` into table rows named `rows`, and the constants they read."""
        from onnx import helper

        nodes = [
            helper.make_node("Sub", [INPUT_IDS, "one_id"], ["ids_minus_one"]),
            helper.make_node("Mod", ["ids_minus_one", "fold_buckets"], ["ids_folded_minus_one"]),
            helper.make_node("Add", ["ids_folded_minus_one", "one_id"], ["ids_folded"]),
            helper.make_node("Where", ["is_ngram", "ids_folded", "zero_id"], [rows]),
        ]
        constants = {
            "one_id": np.array(1, dtype=np.int64),
            "fold_buckets": np.array(self.table_buckets, dtype=np.int64),
        }
        return nodes, constants


BucketRows = KeptBuckets | FoldedBuckets


@dataclass(frozen=True)
class ExportedNetwork:
    """What `read_network` finds in a plain export: the weights, the calibration, the metadata."""

    weights: dict[str, np.ndarray]
    calib_a: float
    calib_b: float
    metadata: dict[str, str]


def validate_weights(weights: Mapping[str, np.ndarray]) -> tuple[dict[str, np.ndarray], NetworkShape]:
    """Check names, shapes, finiteness and the zero padding rows; return float32 copies and the sizes.

    Raises ValueError naming the offending weight, its shape and what was expected.
    """
    missing = [name for name in WEIGHT_NAMES if name not in weights]
    unexpected = sorted(set(weights) - set(WEIGHT_NAMES))
    if missing or unexpected:
        raise ValueError(
            f"weights must be exactly {', '.join(WEIGHT_NAMES)}; "
            f"missing: {', '.join(missing) or 'none'}; unexpected: {', '.join(unexpected) or 'none'}"
        )
    arrays: dict[str, np.ndarray] = {}
    for name in WEIGHT_NAMES:
        try:
            array = np.array(weights[name], dtype=np.float32)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"weight {name} is not a numeric array: {exc}") from exc
        if not np.isfinite(array).all():
            raise ValueError(f"weight {name} contains NaN or infinite values")
        arrays[name] = array
    arrays["b2"] = _scalar_b2(arrays["b2"])

    embedding = arrays["embedding"]
    if embedding.ndim != 2 or embedding.shape[0] < 2 or embedding.shape[1] < 1:
        raise ValueError(
            f"embedding has shape {embedding.shape}; expected (n_buckets + 1, embed_dim) with both >= 1"
        )
    n_buckets, embed_dim = embedding.shape[0] - 1, embedding.shape[1]
    dense_mean = arrays["dense_mean"]
    if dense_mean.ndim != 1 or dense_mean.shape[0] < 1:
        raise ValueError(f"dense_mean has shape {dense_mean.shape}; expected (dense_dim,) with dense_dim >= 1")
    dense_dim = dense_mean.shape[0]
    w1 = arrays["w1"]
    if w1.ndim != 2 or w1.shape[1] < 1:
        raise ValueError(f"w1 has shape {w1.shape}; expected (embed_dim + dense_dim, hidden) with hidden >= 1")
    hidden = w1.shape[1]

    expected = {
        "wide": ((n_buckets + 1,), "(n_buckets + 1,)"),
        "dense_std": ((dense_dim,), "(dense_dim,)"),
        "w1": ((embed_dim + dense_dim, hidden), "(embed_dim + dense_dim, hidden)"),
        "b1": ((hidden,), "(hidden,)"),
        "w2": ((hidden,), "(hidden,)"),
    }
    for name, (shape, formula) in expected.items():
        if arrays[name].shape != shape:
            raise ValueError(
                f"{name} has shape {arrays[name].shape}; expected {shape} = {formula} "
                f"for n_buckets={n_buckets}, embed_dim={embed_dim}, dense_dim={dense_dim}, hidden={hidden}"
            )
    if not (arrays["dense_std"] > 0).all():
        raise ValueError("dense_std must be > 0 everywhere (use 1.0 for a constant feature)")
    if np.any(embedding[0] != 0):
        raise ValueError(
            f"embedding row 0 (the padding row) must be all zeros; its largest |value| is "
            f"{float(np.abs(embedding[0]).max()):.3g} (train with padding_idx=0 or zero it before export)"
        )
    if arrays["wide"][0] != 0:
        raise ValueError(f"wide[0] (the padding entry) must be 0; it is {float(arrays['wide'][0]):.3g}")
    return arrays, NetworkShape(n_buckets, embed_dim, dense_dim, hidden)


def build_onnx(
    weights: Mapping[str, np.ndarray],
    calib_a: float,
    calib_b: float,
    metadata: Mapping[str, str] | None = None,
    *,
    buckets: BucketRows | None = None,
    table_dtype: TableDtype = "float32",
) -> bytes:
    """Serialize the network with calibration `sigmoid(calib_a * logit + calib_b)` as a checked ONNX model.

    `metadata` goes into the model's metadata_props, plus `mleditor.n_buckets` set here: V, or the
    input range of `buckets` when the ids reach the tables through a map or a fold (see the module
    docstring); `table_dtype="float16"` stores the two tables in half precision.
    """
    require_extra("onnx", "train")
    import onnx

    arrays, shape = validate_weights(weights)
    if buckets is not None and buckets.table_buckets != shape.n_buckets:
        raise ValueError(f"the bucket map leads to {buckets.table_buckets} table rows but the tables have "
                         f"{shape.n_buckets} (plus the padding row)")
    if table_dtype not in ("float32", "float16"):
        raise ValueError(f"table_dtype must be 'float32' or 'float16'; got {table_dtype!r}")
    input_buckets = shape.n_buckets if buckets is None else buckets.input_buckets
    calibration = {"calib_a": _finite_float("calib_a", calib_a), "calib_b": _finite_float("calib_b", calib_b)}
    metadata = dict(metadata or {})
    bad = [key for key, value in metadata.items() if not isinstance(key, str) or not isinstance(value, str)]
    if bad:
        raise ValueError(f"metadata keys and values must be strings; offending keys: {bad!r}")
    # Re-exporting with metadata read from an earlier model is fine, as long as V has not changed.
    if metadata.setdefault(N_BUCKETS_KEY, str(input_buckets)) != str(input_buckets):
        raise ValueError(
            f"metadata {N_BUCKETS_KEY}={metadata[N_BUCKETS_KEY]!r} contradicts the weights "
            f"(n_buckets={input_buckets}); leave the key out, build_onnx sets it"
        )

    model = onnx.helper.make_model(
        _graph(arrays, calibration, shape, buckets, table_dtype),
        opset_imports=[onnx.helper.make_opsetid("", OPSET)],
        producer_name="mleditor",
        doc_string="Question-quality score: calibrated probability that a question is well received.",
    )
    model.ir_version = IR_VERSION
    onnx.helper.set_model_props(model, metadata)
    onnx.checker.check_model(model, full_check=True)
    data: bytes = model.SerializeToString()
    return data


def save_onnx(
    path: Path | str,
    weights: Mapping[str, np.ndarray],
    calib_a: float,
    calib_b: float,
    metadata: Mapping[str, str] | None = None,
) -> Path:
    """Build the model and write it to `path` atomically (parents created); return the path."""
    data = build_onnx(weights, calib_a, calib_b, metadata)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Write beside the target and rename, so a reader never sees a half-written model.
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; a model is meant to be shared
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _graph(
    arrays: dict[str, np.ndarray],
    calibration: dict[str, float],
    shape: NetworkShape,
    buckets: BucketRows | None = None,
    table_dtype: TableDtype = "float32",
) -> GraphProto:
    """The ONNX graph of the network math, one block of nodes per step."""
    from onnx import TensorProto, helper, numpy_helper

    node = helper.make_node
    # The count (and so the means) always comes from the input ids: a pruned bucket still counts.
    rows = INPUT_IDS
    bucket_nodes: list[NodeProto] = []
    bucket_constants: dict[str, np.ndarray] = {}
    if buckets is not None:
        rows = "bucket_rows"
        bucket_nodes, bucket_constants = buckets.nodes(rows)
    nodes = [
        # mask = ids > 0; count = max(sum(mask), 1), kept as [B, 1] to broadcast over features.
        node("Greater", [INPUT_IDS, "zero_id"], ["is_ngram"]),
        node("Cast", ["is_ngram"], ["mask"], to=TensorProto.FLOAT),
        node("ReduceSum", ["mask", "axis_ngrams"], ["ngram_count_raw"], keepdims=1),
        node("Max", ["ngram_count_raw", "one"], ["ngram_count"]),
        *bucket_nodes,
        # Mean of the n-gram embeddings (the zero padding row adds nothing).
        *_lookup("embedding", rows, "ngram_vectors", table_dtype),
        node("ReduceSum", ["ngram_vectors", "axis_ngrams"], ["embedding_sum"], keepdims=0),
        node("Div", ["embedding_sum", "ngram_count"], ["embedding_mean"]),
        # Wide term: sum of per-bucket weights over sqrt(count).
        *_lookup("wide", rows, "ngram_wide", table_dtype),
        node("ReduceSum", ["ngram_wide", "axis_ngrams"], ["wide_sum"], keepdims=1),
        node("Sqrt", ["ngram_count"], ["ngram_count_sqrt"]),
        node("Div", ["wide_sum", "ngram_count_sqrt"], ["wide_term_column"]),
        node("Squeeze", ["wide_term_column", "axis_ngrams"], ["wide_term"]),
        # Dense: sign(x) * log1p(|x|), then standardize.
        node("Sign", [INPUT_DENSE], ["dense_sign"]),
        node("Abs", [INPUT_DENSE], ["dense_abs"]),
        node("Add", ["dense_abs", "one"], ["dense_abs_plus_one"]),
        node("Log", ["dense_abs_plus_one"], ["dense_log1p"]),
        node("Mul", ["dense_sign", "dense_log1p"], ["dense_transformed"]),
        node("Sub", ["dense_transformed", "dense_mean"], ["dense_centered"]),
        node("Div", ["dense_centered", "dense_std"], ["dense_normalized"]),
        # MLP head plus the wide term.
        node("Concat", ["embedding_mean", "dense_normalized"], ["mlp_input"], axis=1),
        node("Gemm", ["mlp_input", "w1", "b1"], ["hidden_pre"]),
        node("Relu", ["hidden_pre"], ["hidden"]),
        node("MatMul", ["hidden", "w2"], ["mlp_out"]),
        node("Add", ["mlp_out", "b2"], ["mlp_logit"]),
        node("Add", ["mlp_logit", "wide_term"], [OUTPUT_LOGIT]),
        # Calibration.
        node("Mul", [OUTPUT_LOGIT, "calib_a"], ["calibrated_scaled"]),
        node("Add", ["calibrated_scaled", "calib_b"], ["calibrated_logit"]),
        node("Sigmoid", ["calibrated_logit"], [OUTPUT_SCORE]),
    ]
    constants: dict[str, np.ndarray] = {
        "zero_id": np.array(0, dtype=np.int64),
        "axis_ngrams": np.array([1], dtype=np.int64),
        "one": np.array(1.0, dtype=np.float32),
        **{name: np.array(value, dtype=np.float32) for name, value in calibration.items()},
        **bucket_constants,
    }
    if table_dtype == "float16":
        arrays = {**arrays, **{name: arrays[name].astype(np.float16) for name in TABLES}}
    initializers = [numpy_helper.from_array(array, name) for name, array in {**arrays, **constants}.items()]
    inputs = [
        helper.make_tensor_value_info(INPUT_IDS, TensorProto.INT64, ["batch", "ngrams"]),
        helper.make_tensor_value_info(INPUT_DENSE, TensorProto.FLOAT, ["batch", shape.dense_dim]),
    ]
    outputs = [
        helper.make_tensor_value_info(OUTPUT_SCORE, TensorProto.FLOAT, ["batch"]),
        helper.make_tensor_value_info(OUTPUT_LOGIT, TensorProto.FLOAT, ["batch"]),
    ]
    return helper.make_graph(nodes, "question_quality", inputs, outputs, initializers)


def _lookup(table: str, rows: str, output: str, table_dtype: TableDtype) -> list[NodeProto]:
    """Gather rows of a table; a float16 table's rows are cast back to float32 (the table stays half)."""
    from onnx import TensorProto, helper

    if table_dtype == "float32":
        return [helper.make_node("Gather", [table, rows], [output], axis=0)]
    return [
        helper.make_node("Gather", [table, rows], [f"{output}_half"], axis=0),
        helper.make_node("Cast", [f"{output}_half"], [output], to=TensorProto.FLOAT),
    ]


def read_network(model: Path | str | bytes) -> ExportedNetwork:
    """The weights, calibration and metadata of a plain `build_onnx` export (fp32, no bucket map).

    Raises ValueError when the model lacks one of them (a quantized, pruned or foreign model).
    """
    loaded = _load_model(model)
    from onnx import numpy_helper

    found = {init.name: numpy_helper.to_array(init) for init in loaded.graph.initializer}
    missing = [name for name in (*WEIGHT_NAMES, "calib_a", "calib_b") if name not in found]
    if missing or any(found[name].dtype != np.float32 for name in WEIGHT_NAMES):
        raise ValueError(f"not a plain float32 export of the network: missing {', '.join(missing) or 'none'}")
    weights, _ = validate_weights({name: found[name] for name in WEIGHT_NAMES})
    metadata = {prop.key: prop.value for prop in loaded.metadata_props}
    return ExportedNetwork(weights, float(found["calib_a"]), float(found["calib_b"]), metadata)


def with_calibration(model: Path | str | bytes, calib_a: float, calib_b: float) -> bytes:
    """The model with its calibration constants replaced (any graph `build_onnx` made, quantized too)."""
    from onnx import numpy_helper

    loaded = _load_model(model)
    values = {"calib_a": _finite_float("calib_a", calib_a), "calib_b": _finite_float("calib_b", calib_b)}
    replaced = 0
    for init in loaded.graph.initializer:
        if init.name in values:
            init.CopyFrom(numpy_helper.from_array(np.array(values[init.name], dtype=np.float32), init.name))
            replaced += 1
    if replaced != len(values):
        raise ValueError("the model has no calib_a and calib_b constants; it was not built by build_onnx")
    data: bytes = loaded.SerializeToString()
    return data


def _load_model(model: Path | str | bytes) -> ModelProto:
    require_extra("onnx", "train")
    import onnx

    return onnx.load_from_string(model) if isinstance(model, bytes) else onnx.load(str(model))


def _scalar_b2(b2: np.ndarray) -> np.ndarray:
    """b2 is a scalar; accept a one-element array too, since frameworks often store a bias of size 1."""
    if b2.size != 1:
        raise ValueError(f"b2 has shape {b2.shape}; expected a scalar (shape ())")
    return b2.reshape(())


def _finite_float(name: str, value: float) -> float:
    """Return `value` as a float, or raise ValueError when it is not a finite number."""
    try:
        number = float(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a finite number; got {value!r}") from exc
    if not np.isfinite(number):
        raise ValueError(f"{name} must be a finite number; got {number}")
    return number
