"""The Ray Data engine (`mleditor batch run --engine ray`, extra `ray`): the same chunk transform, scaled out.

The job (`mleditor.batch.job`) still reads the inputs, looks up the stored hashes and commits each
chunk with its progress; this engine only replaces the process pool. It turns a window of chunks
into a `ray.data` dataset, runs `map_batches` with the local engine's `ChunkScorer` on Ray's
workers (each worker process loads the model once and keeps it), and hands the results back per
chunk, in input order, so resuming works exactly as with the local engine.

With `RAY_ADDRESS` set (or `ray.init` called before) it joins that cluster; otherwise it starts a
local Ray with `workers` CPUs and stops it when the job ends. On a cluster of several machines the
model directory must be at the same path on each (a shared file system). Chunks commit when their
window is done, so a killed job loses at most one window (`4 x workers` chunks) of work.
"""

from __future__ import annotations

import functools
import itertools
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from mleditor.batch.engines.base import Chunk
from mleditor.batch.scoring import ChunkScorer, InputRow
from mleditor.core.registry import ModelDirectory, load_model_directory
from mleditor.core.validation import InputLimits
from mleditor.errors import require_extra
from mleditor.stores.predictions.records import (
    ChunkResult,
    PredictionRecord,
    RejectRecord,
)


def _import_ray() -> Any:
    require_extra("ray", "ray")
    import ray

    return ray


class RayExecutor:
    """Maps chunks to results with `ray.data`; `window` chunks form one dataset."""

    def __init__(self, model: ModelDirectory, version: str, limits: InputLimits, cpus: int, chunk_size: int,
                 window: int | None = None) -> None:
        self.ray = _import_ray()
        self.started_ray = not self.ray.is_initialized()
        if self.started_ray:
            # "local": never attach by surprise to whatever cluster this machine last ran (ray_current_cluster).
            address = os.environ.get("RAY_ADDRESS") or "local"
            resources = {"num_cpus": cpus, "include_dashboard": False} if address == "local" else {}
            self.ray.init(address=address, log_to_driver=False, logging_level=logging.WARNING, **resources)
        context = self.ray.data.DataContext.get_current()
        logging.getLogger("ray.data").setLevel(logging.ERROR)  # after import: its per-dataset lines are noise here
        context.execution_options.preserve_order = True
        context.enable_progress_bars = False
        self.scorer_args = {"model_path": str(model.path), "version": version, "limits": limits}
        self.chunk_size = chunk_size
        self.window = window or max(8, 4 * cpus)

    def map_chunks(self, chunks: Iterator[Chunk]) -> Iterator[tuple[Chunk, ChunkResult]]:
        while True:
            window = list(itertools.islice(chunks, self.window))
            if not window:
                return
            yield from zip(window, self._score_window(window))

    def _score_window(self, window: list[Chunk]) -> list[ChunkResult]:
        results = [ChunkResult() for _ in window]
        items = [_row_item(index, row) for index, chunk in enumerate(window) for row in chunk.rows]
        if not items:
            return results
        dataset = self.ray.data.from_items(items).map_batches(
            score_batch, fn_kwargs=self.scorer_args, batch_size=self.chunk_size, batch_format="numpy", num_cpus=1)
        for batch in dataset.iter_batches(batch_size=None, batch_format="numpy"):
            _collect(batch, results)
        return results

    def close(self) -> None:
        if self.started_ray:
            self.ray.shutdown()


def _row_item(index: int, row: InputRow) -> dict[str, Any]:
    return {"chunk": index, "site": row.site, "question_id": row.question_id, "title": row.title, "body": row.body,
            "source": row.source, "ordinal": row.ordinal, "markdown": row.markdown}


@functools.lru_cache(maxsize=2)
def _scorer(model_path: str, version: str, limits: InputLimits) -> ChunkScorer:
    """One scorer per Ray worker process, kept across batches and windows."""
    return ChunkScorer(load_model_directory(Path(model_path)), version, limits)


def score_batch(batch: dict[str, np.ndarray], model_path: str, version: str,
                limits: InputLimits) -> dict[str, np.ndarray]:
    """The `map_batches` function: rows in, one output row per prediction or reject."""
    scorer = _scorer(model_path, version, limits)
    out: dict[str, list[Any]] = {name: [] for name in _OUT_COLUMNS}
    chunk_ids = batch["chunk"]
    for chunk in sorted(set(chunk_ids.tolist())):
        at = np.flatnonzero(chunk_ids == chunk)
        rows = [InputRow(str(batch["site"][i]), int(batch["question_id"][i]), str(batch["title"][i]),
                         str(batch["body"][i]), str(batch["source"][i]), int(batch["ordinal"][i]),
                         bool(batch["markdown"][i])) for i in at]
        _append(out, int(chunk), scorer(rows))
    return {name: np.array(values, dtype=object if name not in _NUMERIC else None)
            for name, values in out.items()}


_OUT_COLUMNS = ("chunk", "kind", "site", "question_id", "model_version", "model_id", "content_hash", "score",
                "best_gain", "recommendations", "title", "personal", "source", "reason", "ordinal")
_NUMERIC = frozenset({"chunk", "question_id", "score", "best_gain", "ordinal"})


def _append(out: dict[str, list[Any]], chunk: int, result: ChunkResult) -> None:
    blank = {"site": "", "question_id": -1, "model_version": "", "model_id": "", "content_hash": "",
             "score": 0.0, "best_gain": 0.0, "recommendations": "", "title": "", "personal": "", "source": "",
             "reason": "",
             "ordinal": -1}
    rows = [{**blank, **vars(p), "kind": "scored"} for p in result.predictions]
    rows += [{**blank, **vars(r), "kind": "rejected", "site": r.site or "",
              "question_id": -1 if r.question_id is None else r.question_id} for r in result.rejects]
    for row in rows:
        for name in _OUT_COLUMNS:
            out[name].append(chunk if name == "chunk" else row[name])


def _collect(batch: dict[str, np.ndarray], results: list[ChunkResult]) -> None:
    """Add one output batch to the per-chunk results."""
    for i, kind in enumerate(batch["kind"]):
        result = results[int(batch["chunk"][i])]
        if kind == "rejected":
            question_id = int(batch["question_id"][i])
            result.rejects.append(RejectRecord(str(batch["site"][i]) or None, None if question_id < 0 else question_id,
                                               str(batch["source"][i]), str(batch["reason"][i]),
                                               int(batch["ordinal"][i])))
        else:
            result.predictions.append(PredictionRecord(
                site=str(batch["site"][i]), question_id=int(batch["question_id"][i]),
                model_version=str(batch["model_version"][i]), model_id=str(batch["model_id"][i]),
                content_hash=str(batch["content_hash"][i]), score=float(batch["score"][i]),
                best_gain=float(batch["best_gain"][i]), recommendations=str(batch["recommendations"][i]),
                title=str(batch["title"][i]), personal=str(batch["personal"][i])))
