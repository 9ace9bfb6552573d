"""Batch engines: where chunks are scored. `make_executor` picks the backend; Ray is imported only when asked for."""

from __future__ import annotations

from mleditor.batch.engines.base import ENGINES, Chunk, ChunkExecutor
from mleditor.core.registry import ModelDirectory
from mleditor.core.validation import InputLimits

__all__ = ["ENGINES", "Chunk", "ChunkExecutor", "make_executor"]


def make_executor(engine: str, model: ModelDirectory, version: str, limits: InputLimits, workers: int,
                  chunk_size: int, *, personalized: bool = False) -> ChunkExecutor:
    """The executor for `engine` ("local" or "ray") with `workers` processes (Ray: CPUs).

    `personalized` (local only): each row is scored with its author's personal part (`ChunkScorer`).
    """
    if personalized and engine != "local":
        raise ValueError("personalized scoring runs on the local engine only")
    if engine == "ray":
        from mleditor.batch.engines.ray import RayExecutor

        return RayExecutor(model, version, limits, workers, chunk_size)
    from mleditor.batch.engines.local import InProcessExecutor, ProcessPoolChunkExecutor
    from mleditor.batch.scoring import ChunkScorer

    if workers == 1:
        return InProcessExecutor(ChunkScorer(model, version, limits, personalized))
    return ProcessPoolChunkExecutor(model, version, limits, workers, personalized)
