"""Door 2 measured: `run_batch_job` (what `mleditor batch run` runs) on a CSV of questions, a first run and a re-run.

One process (the in-process executor), a SQLite prediction store in the scratch folder: questions/s
and CPU per question on the first run, the same on a re-run where nothing changed (every question is
skipped by its content hash), then the time to read one stored prediction by id (what a reader of
the results waits for on the server). A pilot run of PILOT questions sizes the input to the share.
"""

from __future__ import annotations

import csv
import itertools
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from mleditor.advise.measure.base import DoorMeasurement, Figure, percentile
from mleditor.advise.measure.context import MeasureContext
from mleditor.core.records import Question

if TYPE_CHECKING:
    from mleditor.stores.predictions.base import PredictionStore

MIN_S = 2.0
PILOT = 100
MOST = 5000
READS = 300


def measure(ctx: MeasureContext, seconds: float) -> DoorMeasurement:
    from mleditor.batch.job import JobSpec, run_batch_job
    from mleditor.stores.predictions.factory import open_store

    deadline = time.monotonic() + seconds

    def job(count: int, name: str) -> JobSpec:
        table = write_csv(ctx.questions, count, ctx.workdir / f"{name}.csv")
        return JobSpec(inputs=(str(table),), model=ctx.model_dir, workers=1, resume=False, chunk_size=500)

    with open_store(f"sqlite:///{ctx.workdir / 'batch-pilot.db'}") as store:
        pilot = timed(lambda: run_batch_job(job(PILOT, "pilot"), store))
    rate = PILOT / pilot[0]  # questions/s, model load included: a cautious rate
    count = int(min(MOST, max(PILOT, (deadline - time.monotonic()) * 0.7 / 1.3 * rate)))  # a re-run costs ~0.3
    spec = job(count, "batch")
    with open_store(f"sqlite:///{ctx.workdir / 'batch.db'}") as store:
        first = timed(lambda: run_batch_job(spec, store))
        rerun = timed(lambda: run_batch_job(spec, store))
        reads = read_times(store, count)
    how = f"measured: run_batch_job on {count:,} questions from CSV into SQLite, 1 process"
    read = f"measured: {len(reads)} reads of a stored prediction by id"
    figures = (
        Figure("first_run_qps", count / first[0], "questions/s", how),
        Figure("first_run_cpu_ms_per_question", first[1] / count * 1000, "ms", how + " (process CPU time)"),
        Figure("rerun_qps", count / rerun[0], "questions/s", how + "; a re-run, nothing changed"),
        Figure("rerun_cpu_ms_per_question", rerun[1] / count * 1000, "ms", how + "; a re-run (process CPU time)"),
        Figure("questions", count, "questions", "measured: the input's size"),
        Figure("read_p50_ms", percentile(reads, 50), "ms", read),
        Figure("read_p99_ms", percentile(reads, 99), "ms", read),
    )
    return DoorMeasurement("batch", figures, samples_ms=tuple(reads))


def write_csv(questions: list[Question], count: int, path: Path) -> Path:
    """`count` rows (site, question_id, title, body), cycling through `questions` with numbered titles."""
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(("site", "question_id", "title", "body"))
        for n, q in zip(range(count), itertools.cycle(questions)):
            writer.writerow(("advise", n + 1, f"{q.title} ({n})"[:300], q.body))
    return path


def timed(work: Callable[[], object]) -> tuple[float, float]:
    """(wall seconds, process CPU seconds) of calling `work`."""
    wall, cpu = time.perf_counter(), time.process_time()
    work()
    return time.perf_counter() - wall, time.process_time() - cpu


def read_times(store: PredictionStore, count: int) -> list[float]:
    """Milliseconds of each of READS reads by question id."""
    times = []
    for n in range(READS):
        start = time.perf_counter()
        store.get_prediction("advise", n % count + 1, "v3")
        times.append((time.perf_counter() - start) * 1000)
    return times
