"""The batch engine family's interface: a `ChunkExecutor` maps chunks of rows to their results, in input order.

The job (`mleditor.batch.job`) reads the inputs, decides what to score and commits each chunk; an
engine only scores. Backends: `local.py` (this process, or a pool of processes) and `ray.py` (Ray
Data, extra `ray`); `make_executor` in `__init__` picks one. Each imports only this module and the
chunk transform (`mleditor.batch.scoring`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

from mleditor.batch.scoring import InputRow
from mleditor.stores.predictions.records import ChunkResult, RejectRecord

ENGINES = ("local", "ray")


@dataclass
class Chunk:
    """Consecutive input rows: those to score, those rejected on reading, and how many were unchanged."""

    rows: list[InputRow]
    rejects: list[RejectRecord]
    skipped: int
    end: int  # the job's rows_read once this chunk is committed


class ChunkExecutor(Protocol):
    def map_chunks(self, chunks: Iterator[Chunk]) -> Iterator[tuple[Chunk, ChunkResult]]:
        """Score chunks, yielding each with its result in input order."""

    def close(self) -> None:
        """Stop workers."""
