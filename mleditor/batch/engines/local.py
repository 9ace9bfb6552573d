"""The local engine: score chunks in this process (one core) or in a pool of spawned processes (all cores)."""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path

from mleditor.batch.engines.base import Chunk
from mleditor.batch.scoring import ChunkScorer, InputRow
from mleditor.core.registry import ModelDirectory, load_model_directory
from mleditor.core.validation import InputLimits
from mleditor.stores.predictions.records import ChunkResult


class InProcessExecutor:
    """Scores each chunk in this process: no start-up cost, one core."""

    def __init__(self, scorer: ChunkScorer) -> None:
        self.scorer = scorer

    def map_chunks(self, chunks: Iterator[Chunk]) -> Iterator[tuple[Chunk, ChunkResult]]:
        for chunk in chunks:
            yield chunk, self.scorer(chunk.rows)

    def close(self) -> None:
        return None


class ProcessPoolChunkExecutor:
    """Scores chunks in `workers` processes, at most two chunks in flight per worker (memory stays flat).

    This process reads the input and writes the store while the workers featurize and score; results
    come back in input order, so the commits stay a prefix of the input.
    """

    def __init__(self, model: ModelDirectory, version: str, limits: InputLimits, workers: int,
                 personalized: bool = False) -> None:
        # spawn, not fork: this process may hold a database connection and threads (the progress bar).
        self.pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                                        initializer=_init_worker,
                                        initargs=(str(model.path), version, limits, os.getpid(), personalized))
        self.in_flight = 2 * workers

    def map_chunks(self, chunks: Iterator[Chunk]) -> Iterator[tuple[Chunk, ChunkResult]]:
        pending: deque[tuple[Chunk, Future[ChunkResult]]] = deque()
        for chunk in chunks:
            pending.append((chunk, self.pool.submit(_score_in_worker, chunk.rows) if chunk.rows else _done()))
            if len(pending) >= self.in_flight:
                done, future = pending.popleft()
                yield done, future.result()
        while pending:
            done, future = pending.popleft()
            yield done, future.result()

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


_WORKER_SCORER: ChunkScorer | None = None  # one per worker process, built by _init_worker


def _init_worker(model_path: str, version: str, limits: InputLimits, parent_pid: int,
                 personalized: bool = False) -> None:
    global _WORKER_SCORER
    _WORKER_SCORER = ChunkScorer(load_model_directory(Path(model_path)), version, limits, personalized)
    threading.Thread(target=_exit_with_parent, args=(parent_pid,), daemon=True).start()


def _exit_with_parent(parent_pid: int) -> None:
    """A killed job must not leave its workers behind: they exit once their parent is gone."""
    while os.getppid() == parent_pid:
        time.sleep(0.5)
    os._exit(1)


def _score_in_worker(rows: Sequence[InputRow]) -> ChunkResult:
    assert _WORKER_SCORER is not None, "worker not initialized"
    return _WORKER_SCORER(rows)


def _done() -> Future[ChunkResult]:
    """The result of a chunk with nothing to score, without bothering (or starting) a worker."""
    future: Future[ChunkResult] = Future()
    future.set_result(ChunkResult())
    return future

