"""The in-memory prediction store (`memory://`): dicts in this process, for tests, demos and notebooks.

It keeps the same contract as the SQL backends (upserts by (site, question_id, model_version),
one chunk committed at once, jobs and rejects) but nothing survives the process, and `query`
(read-only SQL) is refused: there are no tables to run it on.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Sequence
from typing import Any

from mleditor.errors import DataError, InvalidInputError
from mleditor.stores.predictions.base import PredictionStore
from mleditor.stores.predictions.records import (
    JOB_RUNNING,
    UNFINISHED,
    ChunkResult,
    JobRecord,
    PredictionRecord,
    QuestionKey,
    RejectRecord,
    utc_now,
)

_PredictionKey = tuple[str, int, str]  # (site, question_id, model_version)


class MemoryStore(PredictionStore):
    """A `memory://` store: every method takes one lock, so a chunk commits as a whole (as a transaction would)."""

    def __init__(self, url: str = "memory://") -> None:
        self.url = url
        self._lock = threading.RLock()
        self._predictions: dict[_PredictionKey, PredictionRecord] = {}
        self._jobs: dict[str, JobRecord] = {}
        self._rejects: dict[tuple[str, int], tuple[str, RejectRecord]] = {}  # (job, ordinal) -> (created, reject)

    def start_job(self, job: JobRecord,
                  take_over: Callable[[JobRecord], bool]) -> tuple[JobRecord, JobRecord | None]:
        with self._lock:
            found = self.find_unfinished_job(job.fingerprint)
            if found is not None and take_over(found):
                return self.claim_job(found.job_id, job.host, job.pid), found
            return self.create_job(job), None

    def create_job(self, job: JobRecord) -> JobRecord:
        with self._lock:
            if job.job_id in self._jobs:
                raise DataError(f"job {job.job_id} already exists in {self.url}")
            self._jobs[job.job_id] = job
            return job

    def get_job(self, job_id: str) -> JobRecord | None:
        with self._lock:
            return self._jobs.get(job_id)

    def find_unfinished_job(self, fingerprint: str) -> JobRecord | None:
        with self._lock:
            found = [j for j in self._jobs.values() if j.fingerprint == fingerprint and j.status in UNFINISHED]
            return max(found, key=lambda j: j.started_at, default=None)

    def list_jobs(self, limit: int = 20) -> list[JobRecord]:
        with self._lock:
            return sorted(self._jobs.values(), key=lambda j: j.started_at, reverse=True)[:limit]

    def claim_job(self, job_id: str, host: str, pid: int) -> JobRecord:
        with self._lock:
            job = self._job_or_fail(job_id)
            return self._update(job, status=JOB_RUNNING, host=host, pid=pid, resumes=job.resumes + 1,
                                updated_at=utc_now(), ended_at=None, error=None)

    def finish_job(self, job_id: str, status: str, error: str | None = None) -> JobRecord:
        with self._lock:
            now = utc_now()
            return self._update(self._job_or_fail(job_id), status=status, error=error, ended_at=now, updated_at=now)

    def commit_chunk(self, job_id: str, result: ChunkResult, rows_read: int) -> JobRecord:
        with self._lock:
            job = self._job_or_fail(job_id)
            now = utc_now()
            _check_complete(result.predictions)  # before any write: the chunk commits whole or not at all
            self._write(result.predictions, now)
            for reject in result.rejects:
                self._rejects.setdefault((job_id, reject.ordinal), (now, reject))
            return self._update(job, rows_read=rows_read, rows_scored=job.rows_scored + len(result.predictions),
                                rows_skipped=job.rows_skipped + result.skipped,
                                rows_failed=job.rows_failed + len(result.rejects), chunks_done=job.chunks_done + 1,
                                updated_at=now)

    def upsert(self, predictions: Sequence[PredictionRecord]) -> None:
        with self._lock:
            _check_complete(predictions)
            self._write(predictions, utc_now())

    def known_hashes(self, keys: Sequence[QuestionKey], version: str) -> dict[QuestionKey, tuple[str, str, str]]:
        with self._lock:
            found = {}
            for site, question_id in keys:
                record = self._predictions.get((site, question_id, version))
                if record is not None:
                    found[(site, question_id)] = (record.content_hash, record.model_id, record.personal)
            return found

    def get_prediction(self, site: str, question_id: int, version: str = "v3") -> PredictionRecord | None:
        with self._lock:
            return self._predictions.get((site, question_id, version))

    def get_by_content_hash(self, model_id: str, version: str, content_hash: str,
                            personal: str = "") -> PredictionRecord | None:
        with self._lock:
            found = [p for p in self._predictions.values()
                     if p.content_hash == content_hash and p.model_id == model_id and p.model_version == version
                     and p.personal == personal]
            return max(found, key=lambda p: p.created, default=None)

    def top_questions(self, site: str, version: str = "v3", n: int = 20,
                      max_score: float = 1.0) -> list[PredictionRecord]:
        with self._lock:
            chosen = [p for p in self._predictions.values()
                      if p.site == site and p.model_version == version and p.score <= max_score]
            return sorted(chosen, key=lambda p: (-p.best_gain, p.score, p.question_id))[:n]

    def count_predictions(self, version: str | None = None, site: str | None = None) -> int:
        with self._lock:
            return sum(1 for p in self._predictions.values()
                       if (version is None or p.model_version == version) and (site is None or p.site == site))

    def rejects(self, job_id: str | None = None, limit: int = 100) -> list[RejectRecord]:
        with self._lock:
            chosen = [(created, job, ordinal, reject) for (job, ordinal), (created, reject) in self._rejects.items()
                      if job_id is None or job == job_id]
            return [reject for *_, reject in sorted(chosen, key=lambda item: item[:3])][:limit]

    def query(self, sql: str, params: Sequence[Any] = ()) -> tuple[list[str], list[tuple[Any, ...]]]:
        raise InvalidInputError("the memory:// store has no SQL tables to query; use a sqlite:/// or postgresql:// "
                                "store for table: inputs")

    def close(self) -> None:
        return None

    def _write(self, predictions: Sequence[PredictionRecord], now: str) -> None:
        for record in predictions:
            self._predictions[(record.site, record.question_id, record.model_version)] = dataclasses.replace(
                record, created=now)

    def _update(self, job: JobRecord, **changes: Any) -> JobRecord:
        updated = dataclasses.replace(job, **changes)
        self._jobs[job.job_id] = updated
        return updated

    def _job_or_fail(self, job_id: str) -> JobRecord:
        job = self._jobs.get(job_id)
        if job is None:
            raise DataError(f"job {job_id} is not in {self.url}; was the store recreated?")
        return job


_REQUIRED = ("site", "question_id", "model_version", "model_id", "content_hash", "score", "best_gain",
             "recommendations", "title")  # the NOT NULL columns of the SQL schema


def _check_complete(predictions: Sequence[PredictionRecord]) -> None:
    """Refuse what the SQL backends' NOT NULL constraints refuse, with the same kind of error."""
    for record in predictions:
        missing = [name for name in _REQUIRED if getattr(record, name) is None]
        if missing:
            raise DataError(f"writing to the store memory:// failed: {', '.join(missing)} may not be empty "
                            f"(question {record.site}/{record.question_id})")
