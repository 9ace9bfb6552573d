"""Score questions with the exported question-quality model on onnxruntime (no torch, no onnx).

The model takes `ngram_ids` int64 [B, L] (hashed n-gram ids, right-padded with 0) and raw
`dense` float32 [B, D], and returns a calibrated `score` and the uncalibrated `logit`, both [B].
See `mleditor.training.export` for how it is built.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import cast

import numpy as np
import onnxruntime as ort

from mleditor.errors import ModelError

INPUT_IDS = "ngram_ids"
INPUT_DENSE = "dense"
OUTPUT_SCORE = "score"
OUTPUT_LOGIT = "logit"
N_BUCKETS_KEY = "mleditor.n_buckets"


def pad_ngram_ids(rows: Sequence[np.ndarray], width: int = 1) -> np.ndarray:
    """Stack 1-D id arrays into int64 [B, max(width, longest)], right-padded with 0 (an empty row is all 0).

    The one padder: every runner builds its model batches with it.
    """
    arrays = [np.asarray(row) for row in rows]
    for index, row in enumerate(arrays):
        if row.ndim != 1 or (row.size and not np.issubdtype(row.dtype, np.integer)):
            raise ValueError(f"row {index} must be a 1-D array of integer ids; got {row.dtype} {row.shape}")
    longest = max((row.size for row in arrays), default=0)
    padded = np.zeros((len(arrays), max(1, width, longest)), dtype=np.int64)
    for index, row in enumerate(arrays):
        padded[index, : row.size] = row
    return padded


class OnnxScorer:
    """One onnxruntime session for the question-quality model; `score` is thread-safe."""

    def __init__(self, session: ort.InferenceSession, source: str = "model") -> None:
        self._session = session
        self._dense_dim = _check_interface(session, source)
        self._metadata = dict(session.get_modelmeta().custom_metadata_map)
        self._n_buckets = _n_buckets(self._metadata, source)
        self._score_outputs = [OUTPUT_SCORE]
        self._both_outputs = [OUTPUT_SCORE, OUTPUT_LOGIT]
        self._logit_outputs = [OUTPUT_LOGIT]

    @classmethod
    def from_path(cls, path: Path | str, threads: int = 1) -> OnnxScorer:
        """Load a model.onnx; raise ModelError with a one-line message when it is missing or not valid."""
        path = Path(path)
        if not path.is_file():
            what = "is a directory, not a model.onnx file" if path.is_dir() else "does not exist"
            raise ModelError(f"model file {path} {what}; check the path or export the model again")
        options = _session_options(threads)
        try:
            session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own unrelated exception types
            raise ModelError(
                f"cannot load model file {path}: {_first_line(exc)}; it may be truncated or not an ONNX model, "
                "export it again"
            ) from exc
        return cls(session, source=str(path))

    @classmethod
    def from_bytes(cls, model: bytes, threads: int = 1) -> OnnxScorer:
        """Load a serialized model (as `build_onnx` returns it); ModelError when it is not valid."""
        options = _session_options(threads)
        try:
            session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own unrelated exception types
            raise ModelError(f"cannot load the model bytes: {_first_line(exc)}; export the model again") from exc
        return cls(session)

    @property
    def dense_dim(self) -> int:
        """D, the number of dense features the model expects per question."""
        return self._dense_dim

    @property
    def n_buckets(self) -> int | None:
        """V, the largest valid n-gram id (from the model metadata; None for a model exported without it)."""
        return self._n_buckets

    @property
    def metadata(self) -> Mapping[str, str]:
        """The model's ONNX metadata_props (a copy)."""
        return dict(self._metadata)

    def score(self, ngram_ids: np.ndarray, dense: np.ndarray) -> np.ndarray:
        """Calibrated probabilities float32 [B] for `ngram_ids` [B, L] and raw `dense` [B, D]."""
        feeds = self._feeds(ngram_ids, dense)
        if feeds is None:
            return np.zeros(0, dtype=np.float32)
        return self._run(self._score_outputs, feeds)[0]

    def score_and_logit(self, ngram_ids: np.ndarray, dense: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Calibrated probabilities and uncalibrated logits, both float32 [B]."""
        feeds = self._feeds(ngram_ids, dense)
        if feeds is None:
            return np.zeros(0, dtype=np.float32), np.zeros(0, dtype=np.float32)
        score, logit = self._run(self._both_outputs, feeds)
        return score, logit

    def logit(self, ngram_ids: np.ndarray, dense: np.ndarray) -> np.ndarray:
        """Uncalibrated logits float32 [B] (what a personal head shifts before the calibration)."""
        feeds = self._feeds(ngram_ids, dense)
        if feeds is None:
            return np.zeros(0, dtype=np.float32)
        return self._run(self._logit_outputs, feeds)[0]

    def _run(self, outputs: list[str], feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        """Run the session, turning onnxruntime's failures (such as an id above V) into a one-line ValueError."""
        try:
            return cast("list[np.ndarray]", self._session.run(outputs, feeds))
        except Exception as exc:  # onnxruntime raises its own unrelated exception types
            raise ValueError(f"the model could not score these inputs: {_first_line(exc)}") from exc

    def _feeds(self, ngram_ids: np.ndarray, dense: np.ndarray) -> dict[str, np.ndarray] | None:
        """Validate and convert the inputs (copying only when needed); None for an empty batch."""
        ids = ngram_ids if type(ngram_ids) is np.ndarray else np.asarray(ngram_ids)
        values = dense if type(dense) is np.ndarray else np.asarray(dense)
        if ids.ndim != 2 or values.ndim != 2:
            raise ValueError(
                f"expected ngram_ids [batch, ngrams] and dense [batch, {self._dense_dim}]; got shapes "
                f"{ids.shape} and {values.shape} (use pad_ngram_ids for a list of id arrays)"
            )
        if values.shape[1] != self._dense_dim:
            raise ValueError(
                f"dense has {values.shape[1]} features per question; this model expects {self._dense_dim}"
            )
        if ids.shape[0] != values.shape[0]:
            raise ValueError(f"ngram_ids has {ids.shape[0]} rows but dense has {values.shape[0]}; they must match")
        if ids.shape[0] == 0:
            return None
        if ids.dtype != np.int64:
            if not np.issubdtype(ids.dtype, np.integer):
                raise ValueError(f"ngram_ids must hold integer ids; got dtype {ids.dtype}")
            ids = ids.astype(np.int64)
        if values.dtype != np.float32:
            if not np.issubdtype(values.dtype, np.number):
                raise ValueError(f"dense must hold numbers; got dtype {values.dtype}")
            values = values.astype(np.float32)
        if ids.shape[1] == 0:
            ids = np.zeros((ids.shape[0], 1), dtype=np.int64)
        # Gather would silently wrap a negative id around to the last buckets. Seen as unsigned, a
        # negative id is huge, so one reduction checks both ends of 0..V.
        if self._n_buckets is not None:
            if ids.view(np.uint64).max() > self._n_buckets:
                raise _id_range_error(ids, self._n_buckets)
        elif ids.min() < 0:
            raise _id_range_error(ids, None)
        return {
            INPUT_IDS: ids if ids.flags.c_contiguous else np.ascontiguousarray(ids),
            INPUT_DENSE: values if values.flags.c_contiguous else np.ascontiguousarray(values),
        }


def _session_options(threads: int) -> ort.SessionOptions:
    """CPU options: `threads` intra-op threads (0 lets onnxruntime choose), all graph optimizations."""
    if not isinstance(threads, int) or threads < 0:
        raise ValueError(f"threads must be an integer >= 0 (0 lets onnxruntime choose); got {threads!r}")
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return options


def _check_interface(session: ort.InferenceSession, source: str) -> int:
    """Return D after checking the session has this model's inputs and outputs; ModelError otherwise."""
    inputs = {node.name: node for node in session.get_inputs()}
    outputs = {node.name for node in session.get_outputs()}
    ids, dense = inputs.get(INPUT_IDS), inputs.get(INPUT_DENSE)
    if (
        ids is None
        or dense is None
        or ids.type != "tensor(int64)"
        or dense.type != "tensor(float)"
        or len(dense.shape) != 2
        or not isinstance(dense.shape[1], int)
        or not {OUTPUT_SCORE, OUTPUT_LOGIT} <= outputs
    ):
        found = ", ".join(f"{node.name} {node.type} {node.shape}" for node in inputs.values())
        raise ModelError(
            f"{source} is not a question-quality model: expected inputs ngram_ids int64 [batch, ngrams] and "
            f"dense float [batch, D] and outputs score, logit; found inputs {found or 'none'}"
        )
    return int(dense.shape[1])


def _id_range_error(ids: np.ndarray, n_buckets: int | None) -> ValueError:
    """The error for ids outside 0..V: negative ids, or a featurizer with more buckets than the model."""
    if ids.min() < 0:
        return ValueError("ngram_ids must be >= 0 (0 is padding); got a negative id")
    return ValueError(
        f"ngram_ids go up to {int(ids.max())} but this model has {n_buckets} buckets; "
        "the featurizer and the model disagree on the number of buckets"
    )


def _n_buckets(metadata: Mapping[str, str], source: str) -> int | None:
    """V from the model metadata, None when absent; ModelError when it is not a positive integer."""
    raw = metadata.get(N_BUCKETS_KEY)
    if raw is None:
        return None
    if not raw.isdigit() or int(raw) < 1:
        raise ModelError(f"{source} has metadata {N_BUCKETS_KEY}={raw!r}, not a positive integer; export it again")
    return int(raw)


def _first_line(exc: BaseException) -> str:
    """The first non-empty line of an exception message, for one-line errors."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__
