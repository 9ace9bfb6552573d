"""Micro-batching: concurrent requests share one model call (step 4 of the server's pipeline).

A request submits its rows (v2: one, v3: the question plus its counterfactuals) and awaits its
scores. Batching is "natural": a request that finds the batcher idle is scored at once, together
with whatever else was submitted in the same turn of the event loop, and never waits for company
(a lone client pays nothing for batching). Requests that arrive while a model call is in flight
queue up, and when it returns they go together in the next call; only such a batch, formed under
load, may wait up to `max_wait_ms` (counted from its oldest request's arrival) to fill
`max_batch_size` rows. Their n-gram ids are padded to a common width, they are scored in ONE
call, and each request gets its own slice. Batches run one after another.

A call the model has been measured to finish within `inline_below_ms` runs on the event loop
itself: a thread hop costs about 65 µs of CPU, four times a one-row call (benchmarks). A slower
call, and the first call (nothing is measured yet), runs on a worker thread, so the loop keeps
accepting requests (and answering probes) meanwhile.

The worker exists only while there is work, and everything loop-bound is created on the loop that
submits, so one batcher serves uvicorn, a Ray Serve replica, or a test client's event loops.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from mleditor.core.requests import ModelInput
from mleditor.core.runners import DirectRunner, Runner, ScoreFn
from mleditor.core.scorer import pad_ngram_ids
from mleditor.errors import ShuttingDownError

BatchCallback = Callable[[int, float], None]


@dataclass
class _Pending:
    ngram_ids: np.ndarray
    dense: np.ndarray
    future: asyncio.Future[np.ndarray]
    arrived: float

    @property
    def rows(self) -> int:
        return len(self.dense)


class MicroBatcher:
    """Groups concurrent `submit` calls into one call of `score_fn(ngram_ids [B, L], dense [B, D]) -> [B]`."""

    def __init__(self, score_fn: ScoreFn, max_batch_size: int = 32, max_wait_ms: float = 2.0,
                 on_batch: BatchCallback | None = None, inline_below_ms: float = 0.5) -> None:
        if max_batch_size < 1 or max_wait_ms < 0 or inline_below_ms < 0:
            raise ValueError("max_batch_size must be >= 1, max_wait_ms and inline_below_ms >= 0; got "
                             f"{max_batch_size}, {max_wait_ms}, {inline_below_ms}")
        self.score_fn = score_fn
        self.max_batch_size = max_batch_size
        self.max_wait_s = max_wait_ms / 1000
        self.on_batch = on_batch  # called with (rows, seconds) after each model call, e.g. for metrics
        self.inline_below_s = inline_below_ms / 1000
        self._seconds_per_row: float | None = None  # the model's measured cost, a moving average; None: unmeasured
        self._closed = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: deque[_Pending] = deque()
        self._rows_waiting = 0
        self._submitted = 0  # requests submitted so far on this loop
        self._wakeup: asyncio.Event | None = None
        self._worker: asyncio.Task[None] | None = None

    @property
    def closed(self) -> bool:
        return self._closed

    async def submit(self, ngram_ids: np.ndarray, dense: np.ndarray) -> np.ndarray:
        """Score `dense` [n, D] rows (with their `ngram_ids` [n, L]) in the next batch; return n scores."""
        if self._closed:
            raise ShuttingDownError("the server is shutting down; retry on another instance")
        if len(dense) == 0:
            return np.zeros(0, dtype=np.float32)
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            self._bind(loop)
        assert self._wakeup is not None
        pending = _Pending(ngram_ids, dense, loop.create_future(), loop.time())
        self._queue.append(pending)
        self._submitted += 1
        self._rows_waiting += pending.rows
        if self._worker is None or self._worker.done():
            self._worker = loop.create_task(self._run())
        elif self._rows_waiting >= self.max_batch_size:
            self._wakeup.set()
        return await pending.future

    def start(self) -> None:
        """Accept work again after `close` (an app's lifespan can start and stop more than once)."""
        self._closed = False

    async def close(self) -> None:
        """Take no new work, score everything already waiting at once, and return when it is done."""
        self._closed = True
        if self._wakeup is not None:
            self._wakeup.set()
        worker = self._worker
        if worker is not None and not worker.done() and self._loop is asyncio.get_running_loop():
            await worker

    def _bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """Start afresh on a new event loop; work queued on a previous (finished) loop cannot be resumed."""
        self._loop = loop
        self._queue.clear()
        self._rows_waiting = 0
        self._wakeup = asyncio.Event()
        self._worker = None

    async def _run(self) -> None:
        """Form and score batches until nothing is waiting, then exit (the next submit starts a new worker).

        The first batch goes at once (the batcher was idle), and so does the rest of a turn's requests past
        max_batch_size; a batch of requests that arrived during a call may wait for more (`_wait_for_batch`).
        """
        under_load = False
        while self._queue:
            if under_load:
                await self._wait_for_batch()
            batch = self._take_batch()
            submitted = self._submitted
            await self._score(batch)
            under_load = self._submitted != submitted  # requests came while the call was in flight

    async def _wait_for_batch(self) -> None:
        assert self._loop is not None and self._wakeup is not None
        deadline = self._queue[0].arrived + self.max_wait_s
        while self._rows_waiting < self.max_batch_size and not self._closed:
            timeout = deadline - self._loop.time()
            if timeout <= 0:
                return
            self._wakeup.clear()
            try:
                await asyncio.wait_for(self._wakeup.wait(), timeout)
            except TimeoutError:
                return

    def _take_batch(self) -> list[_Pending]:
        """The oldest requests whose rows fit in max_batch_size (always at least one)."""
        batch = [self._queue.popleft()]
        rows = batch[0].rows
        while self._queue and rows + self._queue[0].rows <= self.max_batch_size:
            rows += self._queue[0].rows
            batch.append(self._queue.popleft())
        self._rows_waiting -= rows
        return batch

    async def _score(self, batch: list[_Pending]) -> None:
        batch = [p for p in batch if not p.future.done()]  # skip requests whose client went away
        if not batch:
            return
        ngram_ids, dense = _concatenate(batch)
        started = time.perf_counter()
        try:
            if self._inline(len(dense)):
                scores = self._timed_call(ngram_ids, dense)
            else:
                scores = await asyncio.to_thread(self._timed_call, ngram_ids, dense)
            scores = np.asarray(scores).reshape(-1)
            if scores.shape[0] != len(dense):
                raise ValueError(f"the model returned {scores.shape[0]} scores for {len(dense)} rows")
        except Exception as exc:  # noqa: BLE001 - the batch's requests get the error, the worker goes on
            for pending in batch:
                if not pending.future.done():
                    pending.future.set_exception(exc)
            return
        finally:
            if self.on_batch is not None:
                self.on_batch(len(dense), time.perf_counter() - started)
        start = 0
        for pending in batch:
            if not pending.future.done():
                pending.future.set_result(scores[start:start + pending.rows])
            start += pending.rows

    def _inline(self, rows: int) -> bool:
        """Whether a call of `rows` rows is expected to be short enough to run on the event loop."""
        return self._seconds_per_row is not None and self._seconds_per_row * rows <= self.inline_below_s

    def _timed_call(self, ngram_ids: np.ndarray, dense: np.ndarray) -> np.ndarray:
        """The model call, its duration folded into the cost per row (on whichever thread runs it)."""
        started = time.perf_counter()
        scores = self.score_fn(ngram_ids, dense)
        per_row = (time.perf_counter() - started) / len(dense)
        previous = self._seconds_per_row
        self._seconds_per_row = per_row if previous is None else 0.8 * previous + 0.2 * per_row
        return scores


def _concatenate(batch: list[_Pending]) -> tuple[np.ndarray, np.ndarray]:
    """Stack the requests' rows; n-gram ids are right-padded with 0 to the widest request (the core's padder)."""
    if len(batch) == 1:
        return batch[0].ngram_ids, batch[0].dense
    ids = pad_ngram_ids([row for pending in batch for row in pending.ngram_ids])
    return ids, np.concatenate([p.dense for p in batch]).astype(np.float32, copy=False)


class MicroBatchRunner(Runner):
    """Step 4 for the server: each request's rows join the next micro-batch (`Pipeline.arun` awaits them).

    Called synchronously (`Pipeline.run`), it scores directly, without a batch.
    """

    def __init__(self, batcher: MicroBatcher) -> None:
        self.batcher = batcher

    def score_inputs(self, inputs: Sequence[ModelInput]) -> list[np.ndarray]:
        return DirectRunner(self.batcher.score_fn).score_inputs(inputs)

    async def ascore_inputs(self, inputs: Sequence[ModelInput]) -> list[np.ndarray]:
        if len(inputs) == 1:  # the usual case: no gather, no task per input
            return [await self.batcher.submit(inputs[0].ngram_ids, inputs[0].dense)]
        return list(await asyncio.gather(*(self.batcher.submit(item.ngram_ids, item.dense) for item in inputs)))
