"""Door 3 measured: `HybridService` over the serve door's `PredictionService`, in process, SQLite store.

The first pass over N distinct questions misses and computes live (cache off, written back); the
second finds each one stored and fresh: hit and miss latency and CPU per request (what
bench_hybrid measures). The hit ratio is the scenario's (known in advance, then repeats).
"""

from __future__ import annotations

import asyncio
import time

from mleditor.advise.measure.base import DoorMeasurement, Figure, mixture_percentile, percentile, thin
from mleditor.advise.measure.context import MeasureContext
from mleditor.core.records import Question

MIN_S = 2.0
MOST = 1000
LEAST = 20


def measure(ctx: MeasureContext, seconds: float) -> DoorMeasurement:
    deadline = time.monotonic() + seconds
    questions = [Question(f"{q.title} ({n})"[:300], q.body) for n, q in zip(range(MOST), cycle(ctx.questions))]
    (miss, miss_cpu), (hit, hit_cpu) = asyncio.run(passes(ctx, questions, deadline))
    count = len(hit)
    how = f"measured: {count:,} distinct questions through HybridService in process (SQLite store, cache off)"
    ratio = ctx.scenario.hit_ratio
    mixed = f"measured hits and misses, mixed at the scenario's hit ratio ({ratio:.0%})"
    figures = (
        Figure("hit_p50_ms", percentile(hit, 50), "ms", how + ", second pass: stored and fresh"),
        Figure("hit_p99_ms", percentile(hit, 99), "ms", how + ", second pass: stored and fresh"),
        Figure("miss_p50_ms", percentile(miss, 50), "ms", how + ", first pass: live, written back"),
        Figure("miss_p99_ms", percentile(miss, 99), "ms", how + ", first pass: live, written back"),
        Figure("hit_cpu_ms_per_request", hit_cpu / count * 1000, "ms", how + " (process CPU time)"),
        Figure("miss_cpu_ms_per_request", miss_cpu / count * 1000, "ms", how + " (process CPU time)"),
        Figure("hit_ratio", ratio, "share",
               f"scenario: {ctx.scenario.known_in_advance:.0%} known in advance, then {ctx.scenario.repeat_rate:.0%} "
               "of the rest repeats"),
        Figure("p50_ms", mixture_percentile(hit, miss, ratio, 50), "ms", mixed),
        Figure("p99_ms", mixture_percentile(hit, miss, ratio, 99), "ms", mixed),
    )
    return DoorMeasurement("hybrid", figures, samples_ms=thin(hit + miss))


def cycle(questions: list[Question]) -> list[Question]:
    return questions * (1000 // max(1, len(questions)) + 1)


async def passes(ctx: MeasureContext, questions: list[Question],
                 deadline: float) -> tuple[tuple[list[float], float], ...]:
    """(latencies ms, CPU s) of the live pass (until 60 % of the time left is used), then of the stored pass."""
    from mleditor.core.requests import PredictRequest
    from mleditor.hybrid.lookup import StoreLookup
    from mleditor.hybrid.service import HybridService
    from mleditor.serve.service import PredictionService
    from mleditor.serve.settings import ServeSettings

    settings = ServeSettings(store_path=str(ctx.workdir / "hybrid-serve.db"), cache_size=0, rate_limit_per_minute=0,
                             max_wait_ms=0.0, model=ctx.model_dir)
    service = PredictionService.from_settings(settings)
    service.start()
    hybrid = HybridService(service, StoreLookup.open(f"sqlite:///{ctx.workdir / 'hybrid.db'}"))
    results: list[tuple[list[float], float]] = []
    live_until = time.monotonic() + (deadline - time.monotonic()) * 0.6  # misses cost ~4x a hit
    try:
        for _ in range(2):
            times, cpu = [], time.process_time()
            for n, q in enumerate(questions):
                if n >= LEAST and not results and time.monotonic() > live_until:
                    questions = questions[:n]  # the stored pass asks the same ones
                    break
                start = time.perf_counter()
                await hybrid.predict(PredictRequest(q.title, q.body, version="v3"))
                times.append((time.perf_counter() - start) * 1000)
            await hybrid.drain()
            results.append((times, time.process_time() - cpu))
    finally:
        await hybrid.close()
        await service.close()
    return tuple(results)
