"""Score questions with a `.tflite` variant on the LiteRT interpreter (`ai-edge-litert`, nothing heavier).

It imports numpy and, when a model is loaded, `ai_edge_litert` (~60 MB installed, no TensorFlow): a device
needs `pip install ai-edge-litert` (in `mleditor[litert]`), not the converter.

The model is called through its signature by input and output name, so no tensor order is
assumed. The scorer adapts to what the model declares: a dynamic dimension is resized per call, a
fixed n-gram length is met by right-padding with 0 (the padding id, which adds nothing), a fixed
batch by running the rows in chunks of that size, and int32 ids (what some converters make of int64)
by casting, ids being at most 65,536.

    scorer = TfliteScorer.from_path("work/model.tflite")
    scorer.score(pad_ngram_ids([f.ngram_ids for f in features]), np.stack([f.dense for f in features]))
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np

from mleditor.errors import ModelError, require_extra

INPUT_IDS = "ngram_ids"
INPUT_DENSE = "dense"
OUTPUT_SCORE = "score"
TFLITE_IDENTIFIER = b"TFL3"  # the flatbuffer file identifier, bytes 4..8 of every .tflite


class TfliteScorer:
    """One LiteRT interpreter for a `.tflite` variant; `score` is thread-safe (calls take turns)."""

    def __init__(self, interpreter: Any, source: str = "model") -> None:
        self._interpreter = interpreter
        self._lock = threading.Lock()
        self._runner, signature = _signature_runner(interpreter, source)
        inputs = self._runner.get_input_details()
        self._ids_dtype = np.dtype(inputs[INPUT_IDS]["dtype"])
        self._ids_shape = [int(n) for n in inputs[INPUT_IDS]["shape_signature"]]
        self._dense_shape = [int(n) for n in inputs[INPUT_DENSE]["shape_signature"]]
        self.signature = signature

    @classmethod
    def from_path(cls, path: Path | str, threads: int = 1) -> TfliteScorer:
        """Load a .tflite run on `threads` threads; ModelError (one line) if it is missing or not a TFLite model."""
        require_extra("ai_edge_litert", "litert")
        from ai_edge_litert.interpreter import Interpreter

        path = Path(path)
        _check_file(path)
        if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
            raise ValueError(f"threads must be a positive integer; got {threads!r}")
        try:
            interpreter = Interpreter(model_path=str(path), num_threads=threads)
        except (ValueError, RuntimeError) as exc:
            raise ModelError(f"cannot load {path}: {_first_line(exc)}; build the litert variant again") from exc
        return cls(interpreter, source=str(path))

    @property
    def dense_dim(self) -> int:
        return self._dense_shape[-1]

    def score(self, ngram_ids: np.ndarray, dense: np.ndarray) -> np.ndarray:
        """Calibrated scores float32 [B] for `ngram_ids` int [B, L] (right-padded with 0) and `dense` [B, D]."""
        ids, values = self._check(ngram_ids, dense)
        batch = self._ids_shape[0] if self._ids_shape[0] > 0 else max(len(ids), 1)
        parts = [self._run(ids[start : start + batch], values[start : start + batch])
                 for start in range(0, len(ids), batch)]
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)

    def _check(self, ngram_ids: np.ndarray, dense: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        ids = np.asarray(ngram_ids)
        values = np.asarray(dense, dtype=np.float32)
        if ids.ndim != 2 or not np.issubdtype(ids.dtype, np.integer) or values.shape != (len(ids), self.dense_dim):
            raise ValueError(
                f"expected ngram_ids int [B, L] and dense [B, {self.dense_dim}]; got {ids.dtype} {ids.shape} "
                f"and {values.shape}"
            )
        length = self._ids_shape[1]
        if length > 0 and ids.shape[1] > length:
            if np.any(ids[:, length:]):
                raise ValueError(f"this model takes at most {length} n-gram ids a question; got {ids.shape[1]}")
            ids = ids[:, :length]
        if length > 0 and ids.shape[1] < length:
            ids = np.pad(ids, ((0, 0), (0, length - ids.shape[1])))
        return ids.astype(self._ids_dtype, copy=False), values

    def _run(self, ids: np.ndarray, values: np.ndarray) -> np.ndarray:
        rows = len(ids)
        fixed_batch = self._ids_shape[0]
        if fixed_batch > 0 and rows < fixed_batch:  # the last chunk of a fixed-batch model: pad with empty rows
            ids = np.pad(ids, ((0, fixed_batch - rows), (0, 0)))
            values = np.pad(values, ((0, fixed_batch - rows), (0, 0)))
        try:
            with self._lock:
                outputs = self._runner(**{INPUT_IDS: ids, INPUT_DENSE: values})
        except (ValueError, RuntimeError) as exc:  # e.g. an id above the model's bucket count
            raise ValueError(f"the model could not score these inputs: {_first_line(exc)}") from exc
        scores: np.ndarray = np.asarray(outputs[OUTPUT_SCORE], dtype=np.float32).reshape(-1)[:rows].copy()
        return scores


def _check_file(path: Path) -> None:
    """ModelError unless `path` is a file that starts like a TFLite flatbuffer."""
    if not path.is_file():
        what = "is a directory, not a .tflite file" if path.is_dir() else "does not exist"
        raise ModelError(f"model file {path} {what}; check the path or build the litert variant")
    with path.open("rb") as handle:
        head = handle.read(8)
    if head[4:8] != TFLITE_IDENTIFIER:
        raise ModelError(f"{path} is not a TFLite model (no TFL3 identifier); build the litert variant again")


def _signature_runner(interpreter: Any, source: str) -> tuple[Any, str]:
    """The runner of the model's one signature that takes ngram_ids and dense and returns score."""
    for name, io in interpreter.get_signature_list().items():
        if {INPUT_IDS, INPUT_DENSE} <= set(io["inputs"]) and OUTPUT_SCORE in io["outputs"]:
            return interpreter.get_signature_runner(name), str(name)
    raise ModelError(
        f"{source} has no signature taking {INPUT_IDS} and {INPUT_DENSE} and returning {OUTPUT_SCORE}; "
        "build the litert variant again"
    )


def _first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__
