"""Where batch predictions live: the records, the `PredictionStore` interface, and `open_store(url)`.

Three tables, the same on every backend:

* `predictions`: one row per (site, question_id, model_version); upserted, so re-running writes
  no duplicates. It keeps the content hash of the normalized title and body and the model id, so
  a later run can skip what has not changed and the hybrid door can look a question up by content.
* `jobs`: one row per batch job: model, inputs, counters, status, start and end.
* `rejects`: rows a job could not score, with the reason (nothing is dropped silently).

URLs: `sqlite:///relative/file.db`, `sqlite:////absolute/file.db` (the default backend, embedded,
WAL) and `postgresql://user:password@host:port/database` (a shared server; extra `postgres`).
"""

from __future__ import annotations

import json
import re
import threading
from abc import ABC, abstractmethod
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from mleditor.core.prediction import Prediction
from mleditor.core.recommend import Recommendation
from mleditor.errors import DataError, InvalidInputError

JOB_RUNNING = "running"
JOB_COMPLETED = "completed"
JOB_FAILED = "failed"
JOB_INTERRUPTED = "interrupted"
UNFINISHED = (JOB_RUNNING, JOB_FAILED, JOB_INTERRUPTED)

QuestionKey = tuple[str, int]  # (site, question_id)


@dataclass(frozen=True)
class PredictionRecord:
    """One stored prediction: which question, which content, which model, what it said."""

    site: str
    question_id: int
    model_version: str
    model_id: str
    content_hash: str
    score: float
    best_gain: float  # the largest gain among the recommendations (0 when there are none)
    recommendations: str  # JSON list of Recommendation dicts, best first
    title: str = ""
    created: str = ""  # ISO 8601 UTC, set by the store when written

    def recommendation_list(self) -> list[Recommendation]:
        return [Recommendation(**item) for item in json.loads(self.recommendations)]

    def to_prediction(self) -> Prediction:
        """The prediction as the other doors return it."""
        return Prediction(self.score, self.model_version, self.model_id, self.recommendation_list())

    def to_dict(self) -> dict[str, Any]:
        """For JSON output: the recommendations as a list, not a string."""
        return {**vars(self), "recommendations": json.loads(self.recommendations)}


@dataclass(frozen=True)
class RejectRecord:
    """A row that could not be scored: where it came from and why."""

    site: str | None
    question_id: int | None
    source: str  # e.g. "questions.csv line 12" or "beer/Posts.xml row Id=5"
    reason: str
    ordinal: int = -1  # its position in the job's input stream (set by the job)


@dataclass
class ChunkResult:
    """What scoring one chunk produced: predictions to upsert, rejects, and rows left as they were."""

    predictions: list[PredictionRecord] = field(default_factory=list)
    rejects: list[RejectRecord] = field(default_factory=list)
    skipped: int = 0  # unchanged since the stored prediction with the same model id


@dataclass(frozen=True)
class JobRecord:
    """One batch job as the `jobs` table holds it."""

    job_id: str
    fingerprint: str
    model_id: str
    model_version: str
    inputs: list[str]
    engine: str
    status: str
    rows_read: int = 0
    rows_scored: int = 0
    rows_skipped: int = 0
    rows_failed: int = 0
    chunks_done: int = 0
    resumes: int = 0
    host: str = ""
    pid: int = 0
    started_at: str = ""
    updated_at: str = ""
    ended_at: str | None = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


JOB_COLUMNS = tuple(JobRecord.__dataclass_fields__)
PREDICTION_COLUMNS = tuple(PredictionRecord.__dataclass_fields__)

# The tables of every backend; each fills in its integer and floating-point types. Times are ISO
# 8601 UTC text, `recommendations` and `inputs` JSON text, `content_hash` hex SHA-256.
SCHEMA = """
CREATE TABLE IF NOT EXISTS predictions (
    site TEXT NOT NULL, question_id {integer} NOT NULL, model_version TEXT NOT NULL, model_id TEXT NOT NULL,
    content_hash TEXT NOT NULL, score {real} NOT NULL, best_gain {real} NOT NULL, recommendations TEXT NOT NULL,
    title TEXT NOT NULL, created TEXT NOT NULL, PRIMARY KEY (site, question_id, model_version));
CREATE INDEX IF NOT EXISTS predictions_by_content ON predictions (content_hash, model_id, model_version);
CREATE INDEX IF NOT EXISTS predictions_by_gain ON predictions (site, model_version, best_gain);
CREATE TABLE IF NOT EXISTS jobs (
    job_id TEXT PRIMARY KEY, fingerprint TEXT NOT NULL, model_id TEXT NOT NULL, model_version TEXT NOT NULL,
    inputs TEXT NOT NULL, engine TEXT NOT NULL, status TEXT NOT NULL, rows_read {integer} NOT NULL DEFAULT 0,
    rows_scored {integer} NOT NULL DEFAULT 0, rows_skipped {integer} NOT NULL DEFAULT 0,
    rows_failed {integer} NOT NULL DEFAULT 0, chunks_done {integer} NOT NULL DEFAULT 0,
    resumes {integer} NOT NULL DEFAULT 0, host TEXT NOT NULL, pid {integer} NOT NULL, started_at TEXT NOT NULL,
    updated_at TEXT NOT NULL, ended_at TEXT, error TEXT);
CREATE INDEX IF NOT EXISTS jobs_by_fingerprint ON jobs (fingerprint, status);
CREATE TABLE IF NOT EXISTS rejects (
    job_id TEXT NOT NULL, ordinal {integer} NOT NULL, site TEXT, question_id {integer}, source TEXT NOT NULL,
    reason TEXT NOT NULL, created TEXT NOT NULL, PRIMARY KEY (job_id, ordinal))
"""


class PredictionStore(ABC):
    """The prediction store every door uses; `open_store(url)` picks the backend."""

    url: str

    @abstractmethod
    def create_job(self, job: JobRecord) -> JobRecord:
        """Insert a new job row (status running) and return it as stored."""

    @abstractmethod
    def get_job(self, job_id: str) -> JobRecord | None:
        """The job with this id, or None."""

    @abstractmethod
    def find_unfinished_job(self, fingerprint: str) -> JobRecord | None:
        """The most recent running, failed or interrupted job with this fingerprint (for resuming)."""

    @abstractmethod
    def list_jobs(self, limit: int = 20) -> list[JobRecord]:
        """The most recent jobs first."""

    @abstractmethod
    def claim_job(self, job_id: str, host: str, pid: int) -> JobRecord:
        """Mark an unfinished job running again in this process (a resume) and return it."""

    @abstractmethod
    def finish_job(self, job_id: str, status: str, error: str | None = None) -> JobRecord:
        """Set the final status (completed, failed or interrupted) and the end time."""

    @abstractmethod
    def commit_chunk(self, job_id: str, result: ChunkResult, rows_read: int) -> JobRecord:
        """In ONE transaction: upsert the chunk's predictions, add its rejects, advance the job to `rows_read`."""

    @abstractmethod
    def upsert(self, predictions: Sequence[PredictionRecord]) -> None:
        """Insert or replace predictions by (site, question_id, model_version), in one transaction."""

    @abstractmethod
    def known_hashes(self, keys: Sequence[QuestionKey], version: str) -> dict[QuestionKey, tuple[str, str]]:
        """For the keys that have a stored prediction of `version`: (content_hash, model_id)."""

    @abstractmethod
    def get_prediction(self, site: str, question_id: int, version: str = "v3") -> PredictionRecord | None:
        """The stored prediction of one question, or None (the API's lookup)."""

    @abstractmethod
    def get_by_content_hash(self, model_id: str, version: str, content_hash: str) -> PredictionRecord | None:
        """The most recent prediction of this content by this model and version, or None (the hybrid door)."""

    @abstractmethod
    def top_questions(self, site: str, version: str = "v3", n: int = 20,
                      max_score: float = 1.0) -> list[PredictionRecord]:
        """Questions that would gain most from editing: largest best_gain first, then lowest score."""

    @abstractmethod
    def count_predictions(self, version: str | None = None, site: str | None = None) -> int:
        """How many predictions are stored (for one version and site when given)."""

    @abstractmethod
    def rejects(self, job_id: str | None = None, limit: int = 100) -> list[RejectRecord]:
        """Rejected rows (of one job when given), in input order."""

    @abstractmethod
    def query(self, sql: str, params: Sequence[Any] = ()) -> tuple[list[str], list[tuple[Any, ...]]]:
        """Run one read-only statement written with `?` placeholders: the column names and all rows."""

    @abstractmethod
    def close(self) -> None:
        """Release the connection."""

    def __enter__(self) -> PredictionStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def open_store(url: str) -> PredictionStore:
    """Open (and create the tables of) the store at `url`; InvalidInputError for an unknown scheme."""
    if url.startswith("sqlite:///"):
        from mleditor.batch.sqlite_store import SqliteStore

        return SqliteStore(url)
    if url.startswith(("postgresql://", "postgres://")):
        from mleditor.batch.postgres_store import PostgresStore

        return PostgresStore(url)
    raise InvalidInputError(
        f"unknown store URL {url!r}; use sqlite:///path/to/file.db (embedded) or "
        "postgresql://user:password@host:port/database (shared server)"
    )


class SqlPredictionStore(PredictionStore):
    """The SQL both backends share: SQLite and PostgreSQL both speak `ON CONFLICT ... DO UPDATE` and row values.

    A backend supplies a connection through `_transaction` (a cursor inside one transaction) and
    `_read`, both holding `_lock` (one connection, shared by threads), and `_sql` to turn the `?`
    placeholders written here into its own.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self._lock = threading.RLock()

    @abstractmethod
    def _transaction(self) -> AbstractContextManager[Any]:
        """A cursor whose statements commit together, or roll back together on an exception."""

    @abstractmethod
    def _read(self, sql: str, params: Sequence[Any] = ()) -> tuple[list[str], list[tuple[Any, ...]]]:
        """Run one query: the column names and all rows."""

    def _sql(self, sql: str) -> str:
        return sql

    def create_job(self, job: JobRecord) -> JobRecord:
        values = [json.dumps(v) if name == "inputs" else v for name, v in job.to_dict().items()]
        with self._transaction() as cursor:
            cursor.execute(self._sql(f"INSERT INTO jobs ({', '.join(JOB_COLUMNS)}) VALUES ({_marks(JOB_COLUMNS)})"),
                           values)
        return self._job_or_fail(job.job_id)

    def get_job(self, job_id: str) -> JobRecord | None:
        jobs = self._jobs("WHERE job_id = ?", [job_id])
        return jobs[0] if jobs else None

    def find_unfinished_job(self, fingerprint: str) -> JobRecord | None:
        jobs = self._jobs(f"WHERE fingerprint = ? AND status IN ({_marks(UNFINISHED)}) "
                          "ORDER BY started_at DESC LIMIT 1", [fingerprint, *UNFINISHED])
        return jobs[0] if jobs else None

    def list_jobs(self, limit: int = 20) -> list[JobRecord]:
        return self._jobs("ORDER BY started_at DESC LIMIT ?", [limit])

    def claim_job(self, job_id: str, host: str, pid: int) -> JobRecord:
        with self._transaction() as cursor:
            cursor.execute(self._sql("UPDATE jobs SET status = ?, host = ?, pid = ?, resumes = resumes + 1, "
                                     "updated_at = ?, ended_at = NULL, error = NULL WHERE job_id = ?"),
                           [JOB_RUNNING, host, pid, utc_now(), job_id])
        return self._job_or_fail(job_id)

    def finish_job(self, job_id: str, status: str, error: str | None = None) -> JobRecord:
        now = utc_now()
        with self._transaction() as cursor:
            cursor.execute(self._sql("UPDATE jobs SET status = ?, error = ?, ended_at = ?, updated_at = ? "
                                     "WHERE job_id = ?"), [status, error, now, now, job_id])
        return self._job_or_fail(job_id)

    def commit_chunk(self, job_id: str, result: ChunkResult, rows_read: int) -> JobRecord:
        now = utc_now()
        with self._transaction() as cursor:
            self._write_predictions(cursor, result.predictions, now)
            if result.rejects:
                cursor.executemany(self._sql(
                    "INSERT INTO rejects (job_id, ordinal, site, question_id, source, reason, created) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (job_id, ordinal) DO NOTHING"),
                    [(job_id, r.ordinal, r.site, r.question_id, r.source, r.reason, now) for r in result.rejects])
            cursor.execute(self._sql(
                "UPDATE jobs SET rows_read = ?, rows_scored = rows_scored + ?, rows_skipped = rows_skipped + ?, "
                "rows_failed = rows_failed + ?, chunks_done = chunks_done + 1, updated_at = ? WHERE job_id = ?"),
                [rows_read, len(result.predictions), result.skipped, len(result.rejects), now, job_id])
        return self._job_or_fail(job_id)

    def upsert(self, predictions: Sequence[PredictionRecord]) -> None:
        with self._transaction() as cursor:
            self._write_predictions(cursor, predictions, utc_now())

    def _write_predictions(self, cursor: Any, predictions: Sequence[PredictionRecord], now: str) -> None:
        if not predictions:
            return
        updates = ", ".join(f"{c} = excluded.{c}" for c in PREDICTION_COLUMNS[4:])
        cursor.executemany(self._sql(
            f"INSERT INTO predictions ({', '.join(PREDICTION_COLUMNS)}) VALUES ({_marks(PREDICTION_COLUMNS)}) "
            f"ON CONFLICT (site, question_id, model_version) DO UPDATE SET model_id = excluded.model_id, {updates}"),
            [(*_values(p)[:-1], now) for p in predictions])

    def known_hashes(self, keys: Sequence[QuestionKey], version: str) -> dict[QuestionKey, tuple[str, str]]:
        by_site: dict[str, list[int]] = {}
        for site, question_id in keys:
            by_site.setdefault(site, []).append(question_id)
        found: dict[QuestionKey, tuple[str, str]] = {}
        for site, ids in by_site.items():
            for start in range(0, len(ids), 500):
                part = ids[start:start + 500]
                _, rows = self._read(self._sql(
                    "SELECT question_id, content_hash, model_id FROM predictions WHERE model_version = ? AND site = ? "
                    f"AND question_id IN ({_marks(part)})"), [version, site, *part])
                found.update({(site, int(qid)): (digest, model_id) for qid, digest, model_id in rows})
        return found

    def get_prediction(self, site: str, question_id: int, version: str = "v3") -> PredictionRecord | None:
        found = self._predictions("WHERE site = ? AND question_id = ? AND model_version = ?",
                                  [site, question_id, version])
        return found[0] if found else None

    def get_by_content_hash(self, model_id: str, version: str, content_hash: str) -> PredictionRecord | None:
        found = self._predictions("WHERE content_hash = ? AND model_id = ? AND model_version = ? "
                                  "ORDER BY created DESC LIMIT 1", [content_hash, model_id, version])
        return found[0] if found else None

    def top_questions(self, site: str, version: str = "v3", n: int = 20,
                      max_score: float = 1.0) -> list[PredictionRecord]:
        return self._predictions("WHERE site = ? AND model_version = ? AND score <= ? "
                                 "ORDER BY best_gain DESC, score ASC, question_id ASC LIMIT ?",
                                 [site, version, max_score, n])

    def count_predictions(self, version: str | None = None, site: str | None = None) -> int:
        where = [(c, v) for c, v in (("model_version", version), ("site", site)) if v is not None]
        clause = " AND ".join(f"{c} = ?" for c, _ in where)
        _, rows = self._read(self._sql("SELECT COUNT(*) FROM predictions" + (f" WHERE {clause}" if clause else "")),
                             [v for _, v in where])
        return int(rows[0][0])

    def rejects(self, job_id: str | None = None, limit: int = 100) -> list[RejectRecord]:
        where, params = ("WHERE job_id = ? ", [job_id]) if job_id else ("", [])
        _, rows = self._read(self._sql("SELECT site, question_id, source, reason, ordinal FROM rejects "
                                       f"{where}ORDER BY created, job_id, ordinal LIMIT ?"), [*params, limit])
        return [RejectRecord(*row) for row in rows]

    def query(self, sql: str, params: Sequence[Any] = ()) -> tuple[list[str], list[tuple[Any, ...]]]:
        return self._read(self._sql(sql), params)

    def _jobs(self, clause: str, params: Sequence[Any]) -> list[JobRecord]:
        _, rows = self._read(self._sql(f"SELECT {', '.join(JOB_COLUMNS)} FROM jobs {clause}"), params)
        return [JobRecord(**{**dict(zip(JOB_COLUMNS, row)), "inputs": json.loads(row[4])}) for row in rows]

    def _job_or_fail(self, job_id: str) -> JobRecord:
        job = self.get_job(job_id)
        if job is None:
            raise DataError(f"job {job_id} is not in {redact(self.url)}; was the jobs table cleared?")
        return job

    def _predictions(self, clause: str, params: Sequence[Any]) -> list[PredictionRecord]:
        _, rows = self._read(self._sql(f"SELECT {', '.join(PREDICTION_COLUMNS)} FROM predictions {clause}"), params)
        return [PredictionRecord(*row) for row in rows]


def _marks(values: Sequence[Any]) -> str:
    return ", ".join("?" * len(values))


def _values(record: PredictionRecord) -> tuple[Any, ...]:
    return tuple(getattr(record, name) for name in PREDICTION_COLUMNS)


def utc_now() -> str:
    """Now, as ISO 8601 UTC with milliseconds: sortable as text on every backend."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def redact(url: str) -> str:
    """The URL without its password, for messages."""
    return re.sub(r"(://[^:/@]+):[^@]*@", r"\1:***@", url)
