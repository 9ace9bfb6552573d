"""The micro-batcher: concurrent submits share one model call, within max_batch_size rows; a lone request never
waits for company, and max_wait_ms applies only to a batch formed while a call was in flight."""

from __future__ import annotations

import asyncio
import threading
import time

import numpy as np
import pytest

from mleditor.errors import ShuttingDownError
from mleditor.serve.batching import MicroBatcher

pytestmark = pytest.mark.anyio
D = 3


class RecordingModel:
    """Scores each row as its first dense value / 100, and records the shape of every call."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, int]] = []

    def __call__(self, ngram_ids: np.ndarray, dense: np.ndarray) -> np.ndarray:
        self.calls.append(ngram_ids.shape)
        assert len(ngram_ids) == len(dense)
        return dense[:, 0] / 100


def rows(*values: float, width: int = 2) -> tuple[np.ndarray, np.ndarray]:
    ids = np.arange(1, 1 + width * len(values), dtype=np.int64).reshape(len(values), width)
    dense = np.array([[v] + [0.0] * (D - 1) for v in values], dtype=np.float32)
    return ids, dense


async def test_ten_concurrent_submits_to_an_idle_batcher_make_one_model_call_at_once():
    model = RecordingModel()
    batcher = MicroBatcher(model, max_batch_size=32, max_wait_ms=10_000)
    started = time.perf_counter()
    results = await asyncio.gather(*(batcher.submit(*rows(i)) for i in range(10)))
    assert model.calls == [(10, 2)] and time.perf_counter() - started < 1.0  # 10 rows < 32, yet no wait
    assert [float(r[0]) for r in results] == pytest.approx([i / 100 for i in range(10)])


async def test_a_lone_request_is_scored_without_waiting_max_wait():
    model = RecordingModel()
    batcher = MicroBatcher(model, max_batch_size=32, max_wait_ms=10_000)
    for value in (1, 2):  # the first call runs on a thread (unmeasured model), the second on the loop
        started = time.perf_counter()
        assert float((await batcher.submit(*rows(value)))[0]) == pytest.approx(value / 100)
        assert time.perf_counter() - started < 1.0
    assert model.calls == [(1, 2), (1, 2)]


def slow_first_call(release: threading.Event, calls: list[int]):
    """A score function whose first call blocks until `release` is set; it records each call's row count."""

    def score(ngram_ids, dense):
        calls.append(len(dense))
        if len(calls) == 1:
            release.wait(5)
        return dense[:, 0] / 100

    return score


async def test_requests_arriving_during_a_call_share_the_next_call():
    release = threading.Event()
    calls: list[int] = []
    batcher = MicroBatcher(slow_first_call(release, calls), max_batch_size=32, max_wait_ms=0)
    first = asyncio.ensure_future(batcher.submit(*rows(0)))
    await asyncio.sleep(0.02)  # the first call is in flight, on a thread
    later = asyncio.gather(*(asyncio.ensure_future(batcher.submit(*rows(i))) for i in range(1, 6)))
    await asyncio.sleep(0.02)
    release.set()
    assert len(await first) == 1 and len(await later) == 5
    assert calls == [1, 5]


async def test_a_batch_formed_during_a_call_waits_up_to_max_wait_for_company():
    release = threading.Event()
    calls: list[int] = []
    batcher = MicroBatcher(slow_first_call(release, calls), max_batch_size=3, max_wait_ms=10_000)
    first = asyncio.ensure_future(batcher.submit(*rows(0)))
    await asyncio.sleep(0.02)
    queued = asyncio.ensure_future(batcher.submit(*rows(1)))
    await asyncio.sleep(0)
    release.set()
    await first
    await asyncio.sleep(0.05)
    assert calls == [1] and not queued.done()  # under load: waits for the batch to fill
    await asyncio.gather(queued, batcher.submit(*rows(2)), batcher.submit(*rows(3)))
    assert calls == [1, 3]


async def test_a_fast_model_is_called_on_the_event_loop_and_a_slow_one_on_a_thread():
    threads: list[str] = []

    def model(ngram_ids, dense):
        threads.append(threading.current_thread().name)
        if len(dense) > 1:
            time.sleep(0.05)  # 50 ms: far longer than inline_below_ms
        return np.zeros(len(dense), np.float32)

    batcher = MicroBatcher(model, max_batch_size=32, max_wait_ms=0, inline_below_ms=1)
    loop_thread = threading.current_thread().name
    await batcher.submit(*rows(1))  # unmeasured: on a thread
    await batcher.submit(*rows(1))  # measured fast: on the loop
    await batcher.submit(*rows(1, 2))  # 2 rows, expected fast: on the loop, measured slow
    await batcher.submit(*rows(1))  # now expected slow: on a thread again
    assert [name == loop_thread for name in threads] == [False, True, True, False]


async def test_a_full_batch_goes_at_once_without_waiting():
    model = RecordingModel()
    batcher = MicroBatcher(model, max_batch_size=10, max_wait_ms=10_000)
    started = time.perf_counter()
    await asyncio.gather(*(batcher.submit(*rows(i)) for i in range(10)))
    assert model.calls == [(10, 2)] and time.perf_counter() - started < 1.0


async def test_batches_never_exceed_max_batch_size_rows_and_requests_are_not_split():
    model = RecordingModel()
    batcher = MicroBatcher(model, max_batch_size=4, max_wait_ms=20)
    requests = [rows(1), rows(2, 3), rows(4, 5, 6), rows(7), rows(8, 9), rows(10)]
    results = await asyncio.gather(*(batcher.submit(*r) for r in requests))
    assert [shape[0] for shape in model.calls] == [3, 4, 3]  # [1]+[2,3] | [4,5,6]+[7] | [8,9]+[10]
    assert all(shape[0] <= 4 for shape in model.calls)
    assert [list(np.round(r * 100)) for r in results] == [[1], [2, 3], [4, 5, 6], [7], [8, 9], [10]]


async def test_a_request_wider_than_the_batch_goes_alone():
    model = RecordingModel()
    batcher = MicroBatcher(model, max_batch_size=2, max_wait_ms=5)
    result = await batcher.submit(*rows(1, 2, 3, 4, 5))
    assert model.calls == [(5, 2)] and len(result) == 5


async def test_ngram_ids_are_padded_to_the_widest_request():
    seen = []

    def model(ngram_ids, dense):
        seen.append(ngram_ids.copy())
        return np.zeros(len(dense), np.float32)

    batcher = MicroBatcher(model, max_batch_size=2, max_wait_ms=10_000)
    await asyncio.gather(batcher.submit(*rows(1, width=1)), batcher.submit(*rows(2, width=4)))
    assert seen[0].shape == (2, 4) and list(seen[0][0]) == [1, 0, 0, 0]


async def test_a_failing_model_call_fails_exactly_the_requests_of_that_batch():
    calls = 0

    def flaky(ngram_ids, dense):
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("onnxruntime fell over")
        return np.full(len(dense), 0.5, np.float32)

    batcher = MicroBatcher(flaky, max_batch_size=2, max_wait_ms=10_000)
    results = await asyncio.gather(*(batcher.submit(*rows(i)) for i in range(4)), return_exceptions=True)
    assert [type(r).__name__ for r in results] == ["RuntimeError", "RuntimeError", "ndarray", "ndarray"]
    again = await asyncio.gather(batcher.submit(*rows(1)), batcher.submit(*rows(2)))  # the batcher goes on
    assert [float(r[0]) for r in again] == [0.5, 0.5]


async def test_a_model_returning_the_wrong_number_of_scores_fails_the_batch():
    batcher = MicroBatcher(lambda ids, dense: np.zeros(1), max_batch_size=2, max_wait_ms=10_000)
    with pytest.raises(ValueError, match="1 scores for 2 rows"):
        await batcher.submit(*rows(1, 2))


async def test_the_event_loop_keeps_running_while_the_model_works():
    release = threading.Event()

    def slow(ngram_ids, dense):
        release.wait(5)
        return np.zeros(len(dense), np.float32)

    batcher = MicroBatcher(slow, max_batch_size=1, max_wait_ms=0)
    pending = asyncio.ensure_future(batcher.submit(*rows(1)))
    await asyncio.sleep(0.02)
    ticks = 0
    for _ in range(5):  # the loop is free: these sleeps return while the model call is blocked
        await asyncio.sleep(0.001)
        ticks += 1
    assert ticks == 5 and not pending.done()
    release.set()
    assert len(await pending) == 1


async def test_close_drains_waiting_work_and_then_refuses_new_work():
    model = RecordingModel()
    batcher = MicroBatcher(model, max_batch_size=100, max_wait_ms=60_000)
    waiting = asyncio.gather(*(batcher.submit(*rows(i)) for i in range(3)))
    await asyncio.sleep(0.01)
    started = time.perf_counter()
    await batcher.close()
    assert len(await waiting) == 3 and time.perf_counter() - started < 1.0
    with pytest.raises(ShuttingDownError):
        await batcher.submit(*rows(1))


async def test_on_batch_reports_rows_and_seconds_of_each_call():
    reports = []
    batcher = MicroBatcher(RecordingModel(), max_batch_size=3, max_wait_ms=10_000, on_batch=lambda n, s: reports.append((n, s)))
    await asyncio.gather(*(batcher.submit(*rows(i)) for i in range(3)))
    assert [n for n, _ in reports] == [3] and reports[0][1] >= 0


async def test_an_empty_request_needs_no_model_call():
    model = RecordingModel()
    result = await MicroBatcher(model).submit(np.zeros((0, 1), np.int64), np.zeros((0, D), np.float32))
    assert result.shape == (0,) and model.calls == []
