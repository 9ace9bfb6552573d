"""A batch job: read the inputs in chunks, score them across all cores, commit each chunk with the job's progress.

Resumable: a chunk's predictions, its rejects and the job's new position (`rows_read`) commit in one
transaction, and chunks commit in input order, so everything before `rows_read` is stored and
nothing after it is. A job that dies (killed, crashed, machine lost) is resumed by the next run with
the same inputs and model: it skips the first `rows_read` rows without scoring them.

Incremental: before a chunk goes to the workers, the stored (content hash, model id, personal part)
of its questions are looked up in one query; a question whose normalized title and body, model and
personal part (`--personalized`: its author's, if any; else none) are unchanged costs a hash here
and never reaches a worker (a chunk left empty never starts one).

The engine only maps chunks to results (`ChunkExecutor`): in this process (`workers=1`), in a pool of
processes (the local engine), or on Ray Data (`mleditor.batch.engines.ray`).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from mleditor.batch.engines import ENGINES, Chunk, ChunkExecutor, make_executor
from mleditor.batch.inputs import (
    count_rows,
    digest,
    inputs_fingerprint,
    iter_rows,
    parse_inputs,
)
from mleditor.batch.scoring import InputRow, prepare_row
from mleditor.core.personal import PersonalParts, load_personal
from mleditor.core.prediction import personal_key
from mleditor.core.registry import ModelDirectory, resolve_model
from mleditor.core.validation import InputLimits, check_version
from mleditor.errors import InvalidInputError, MLEditorError, ModelError
from mleditor.stores.predictions.base import PredictionStore
from mleditor.stores.predictions.records import (
    JOB_COMPLETED,
    JOB_FAILED,
    JOB_INTERRUPTED,
    JOB_RUNNING,
    JobRecord,
    RejectRecord,
    utc_now,
)

STALE_AFTER_S = 600  # a running job on another host with no commit for this long is taken as dead


@dataclass(frozen=True)
class JobSpec:
    """What to score, with which model, and how."""

    inputs: tuple[str, ...]
    model: str | None = None  # model directory or id; None: the shipped default
    version: str = "v3"
    chunk_size: int = 1000
    workers: int = 0  # scoring processes (Ray: CPUs); 0: all cores
    engine: str = "local"
    resume: bool = True
    allow_truncated: bool = False
    limits: InputLimits = field(default_factory=InputLimits)
    personalized: bool = False  # score each question with its author's personal part, when the model has one

    def checked(self) -> JobSpec:
        check_version(self.version)
        if self.engine not in ENGINES:
            raise InvalidInputError(f"unknown engine {self.engine!r}; choose one of {', '.join(ENGINES)}")
        if self.personalized and self.engine != "local":
            raise InvalidInputError("--personalized runs on the local engine only; drop --engine ray")
        if self.chunk_size < 1 or self.workers < 0:
            raise InvalidInputError("--chunk-size must be >= 1 and --workers >= 0 (0: all cores)")
        return self

    @property
    def worker_count(self) -> int:
        return self.workers or os.cpu_count() or 1


@dataclass(frozen=True)
class JobSummary:
    """How a job ended: its final record, where it resumed from (None for a fresh job) and how long it took."""

    job: JobRecord
    resumed_from: int | None
    seconds: float

    @property
    def questions_per_second(self) -> float:
        done = self.job.rows_read - (self.resumed_from or 0)
        return done / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {**self.job.to_dict(), "resumed_from": self.resumed_from, "seconds": round(self.seconds, 3),
                "questions_per_second": round(self.questions_per_second, 1)}


ProgressFn = Callable[[JobRecord, "int | None"], None]


def run_batch_job(spec: JobSpec, store: PredictionStore, on_progress: ProgressFn | None = None,
                  on_warning: Callable[[str], None] | None = None) -> JobSummary:
    """Run (or resume) a job to the end; the store holds every chunk committed even if it fails."""
    spec = spec.checked()
    model = resolve_model(spec.model)
    sources = parse_inputs(spec.inputs)
    parts = _personal_parts(model) if spec.personalized else None
    fingerprint = digest({"inputs": inputs_fingerprint(sources, store), "model_id": model.model_id,
                          "version": spec.version, **({"personalized": True} if spec.personalized else {})})
    job, resumed_from = _start_or_resume(store, spec, model, fingerprint)
    started = time.perf_counter()
    executor: ChunkExecutor | None = None
    try:
        total = count_rows(sources, store)
        executor = make_executor(spec.engine, model, spec.version, spec.limits, spec.worker_count,
                                 spec.chunk_size, personalized=spec.personalized)
        rows = iter_rows(sources, store, allow_truncated=spec.allow_truncated, on_warning=on_warning)
        chunks = _chunks(itertools.islice(rows, job.rows_read, None), spec, store, model.model_id, parts)
        for chunk, result in executor.map_chunks(chunks):
            result.rejects.extend(chunk.rejects)
            result.skipped += chunk.skipped
            job = store.commit_chunk(job.job_id, result, chunk.end)
            if on_progress is not None:
                on_progress(job, total)
        job = store.finish_job(job.job_id, JOB_COMPLETED)
    except KeyboardInterrupt:
        _record_end(store, job.job_id, JOB_INTERRUPTED, "interrupted; run the same command again to resume")
        raise
    except BaseException as exc:
        _record_end(store, job.job_id, JOB_FAILED, f"{type(exc).__name__}: {exc}"[:2000])
        raise
    finally:
        if executor is not None:
            executor.close()
    return JobSummary(job, resumed_from, time.perf_counter() - started)


def _record_end(store: PredictionStore, job_id: str, status: str, error: str) -> None:
    """Mark the job failed or interrupted; if the store itself is what failed, the original error matters more."""
    with contextlib.suppress(MLEditorError):
        store.finish_job(job_id, status, error)


def _start_or_resume(store: PredictionStore, spec: JobSpec, model: ModelDirectory,
                     fingerprint: str) -> tuple[JobRecord, int | None]:
    """A new job, or the unfinished one with the same fingerprint resumed: one atomic step in the store."""
    host, pid = socket.gethostname(), os.getpid()
    now = utc_now()
    job = JobRecord(job_id=uuid.uuid4().hex[:16], fingerprint=fingerprint, model_id=model.model_id,
                    model_version=spec.version, inputs=list(spec.inputs), engine=spec.engine, status=JOB_RUNNING,
                    host=host, pid=pid, started_at=now, updated_at=now)
    started, previous = store.start_job(job, take_over=lambda found: spec.resume and _may_resume(found, host))
    return started, None if previous is None else previous.rows_read


def _may_resume(previous: JobRecord, host: str) -> bool:
    """True for a job that is no longer running; InvalidInputError for one that still is."""
    if previous.status == JOB_RUNNING and _still_running(previous, host):
        raise InvalidInputError(
            f"job {previous.job_id} with the same inputs and model is still running (pid {previous.pid} on "
            f"{previous.host}); wait for it, or pass --no-resume to start another job"
        )
    return True


def _still_running(job: JobRecord, host: str) -> bool:
    if job.host == host:
        if job.pid == os.getpid():
            return False
        try:
            os.kill(job.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    updated = datetime.fromisoformat(job.updated_at)
    return (datetime.now(UTC) - updated).total_seconds() < STALE_AFTER_S


def _personal_parts(model: ModelDirectory) -> PersonalParts:
    """The model's personal parts, checked before the job starts; ModelError when it has none."""
    parts = load_personal(model)
    if parts is None:
        raise ModelError(f"model {model.model_id} has no personal parts, so --personalized has nothing to apply; "
                         "use a model written by `mleditor federated run --personalize head`, or drop the flag")
    return parts


def _chunks(rows: Iterator[InputRow | RejectRecord], spec: JobSpec, store: PredictionStore,
            model_id: str, parts: PersonalParts | None = None) -> Iterator[Chunk]:
    while True:
        batch = list(itertools.islice(rows, spec.chunk_size))
        if not batch:
            return
        scorable = [row for row in batch if isinstance(row, InputRow)]
        known = store.known_hashes([row.key for row in scorable], spec.version)
        changed = [row for row in scorable
                   if not _unchanged(row, known.get(row.key), (model_id, _expected_personal(row, parts)), spec.limits)]
        rejects = [row for row in batch if isinstance(row, RejectRecord)]
        yield Chunk(changed, rejects, len(scorable) - len(changed), batch[-1].ordinal + 1)


def _expected_personal(row: InputRow, parts: PersonalParts | None) -> str:
    """The personal part this job scores the row with ("" the global model), as the store records it."""
    return personal_key(parts.lookup(row.author)) if parts is not None else ""


def _unchanged(row: InputRow, stored: tuple[str, str, str] | None, made_by: tuple[str, str],
               limits: InputLimits) -> bool:
    """Whether the stored prediction was made by this model and personal part from this very text (a new row
    costs nothing here)."""
    if stored is None or stored[1:] != made_by:
        return False
    try:
        return prepare_row(row, limits)[2] == stored[0]
    except Exception:  # noqa: BLE001 - whatever fails here fails in the scorer too, which files the reject
        return False


