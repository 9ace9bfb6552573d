"""The SQL that the SQLite and PostgreSQL backends share: one schema, one set of statements."""

from __future__ import annotations

import json
import threading
from abc import abstractmethod
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import Any

from mleditor.errors import DataError
from mleditor.stores.predictions.base import PredictionStore
from mleditor.stores.predictions.records import (
    JOB_COLUMNS,
    JOB_RUNNING,
    PREDICTION_COLUMNS,
    UNFINISHED,
    ChunkResult,
    JobRecord,
    PredictionRecord,
    QuestionKey,
    RejectRecord,
    redact,
    utc_now,
)

# The tables of every backend; each fills in its integer and floating-point types. Times are ISO
# 8601 UTC text, `recommendations` and `inputs` JSON text, `content_hash` hex SHA-256.
SCHEMA = """
CREATE TABLE IF NOT EXISTS predictions (
    site TEXT NOT NULL, question_id {integer} NOT NULL, model_version TEXT NOT NULL, model_id TEXT NOT NULL,
    content_hash TEXT NOT NULL, score {real} NOT NULL, best_gain {real} NOT NULL, recommendations TEXT NOT NULL,
    title TEXT NOT NULL, personal TEXT NOT NULL DEFAULT '', created TEXT NOT NULL,
    PRIMARY KEY (site, question_id, model_version));
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
# Columns added after the first release, added to an older store's predictions table when it is opened.
ADDED_COLUMNS = (("personal", "TEXT NOT NULL DEFAULT ''"),)


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

    def _lock_jobs(self, cursor: Any, fingerprint: str) -> None:
        """Inside `start_job`'s transaction: let no other start of this fingerprint in until it commits.

        SQLite needs nothing more: `_transaction` begins with the database's write lock held.
        """

    def start_job(self, job: JobRecord,
                  take_over: Callable[[JobRecord], bool]) -> tuple[JobRecord, JobRecord | None]:
        with self._transaction() as cursor:
            self._lock_jobs(cursor, job.fingerprint)
            cursor.execute(self._sql(f"SELECT {', '.join(JOB_COLUMNS)} FROM jobs WHERE fingerprint = ? AND status IN "
                                     f"({_marks(UNFINISHED)}) ORDER BY started_at DESC LIMIT 1"),
                           [job.fingerprint, *UNFINISHED])
            found = next(iter(_job_records(cursor.fetchall())), None)
            if found is not None and take_over(found):
                self._claim(cursor, found.job_id, job.host, job.pid)
            else:
                found = None
                self._insert_job(cursor, job)
        return self._job_or_fail(job.job_id if found is None else found.job_id), found

    def create_job(self, job: JobRecord) -> JobRecord:
        with self._transaction() as cursor:
            self._insert_job(cursor, job)
        return self._job_or_fail(job.job_id)

    def _insert_job(self, cursor: Any, job: JobRecord) -> None:
        values = [json.dumps(v) if name == "inputs" else v for name, v in job.to_dict().items()]
        cursor.execute(self._sql(f"INSERT INTO jobs ({', '.join(JOB_COLUMNS)}) VALUES ({_marks(JOB_COLUMNS)})"),
                       values)

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
            self._claim(cursor, job_id, host, pid)
        return self._job_or_fail(job_id)

    def _claim(self, cursor: Any, job_id: str, host: str, pid: int) -> None:
        cursor.execute(self._sql("UPDATE jobs SET status = ?, host = ?, pid = ?, resumes = resumes + 1, "
                                 "updated_at = ?, ended_at = NULL, error = NULL WHERE job_id = ?"),
                       [JOB_RUNNING, host, pid, utc_now(), job_id])

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

    def known_hashes(self, keys: Sequence[QuestionKey], version: str) -> dict[QuestionKey, tuple[str, str, str]]:
        by_site: dict[str, list[int]] = {}
        for site, question_id in keys:
            by_site.setdefault(site, []).append(question_id)
        found: dict[QuestionKey, tuple[str, str, str]] = {}
        for site, ids in by_site.items():
            for start in range(0, len(ids), 500):
                part = ids[start:start + 500]
                _, rows = self._read(self._sql(
                    "SELECT question_id, content_hash, model_id, personal FROM predictions WHERE model_version = ? "
                    f"AND site = ? AND question_id IN ({_marks(part)})"), [version, site, *part])
                found.update({(site, int(qid)): (digest, model_id, personal)
                              for qid, digest, model_id, personal in rows})
        return found

    def get_prediction(self, site: str, question_id: int, version: str = "v3") -> PredictionRecord | None:
        found = self._predictions("WHERE site = ? AND question_id = ? AND model_version = ?",
                                  [site, question_id, version])
        return found[0] if found else None

    def get_by_content_hash(self, model_id: str, version: str, content_hash: str,
                            personal: str = "") -> PredictionRecord | None:
        found = self._predictions("WHERE content_hash = ? AND model_id = ? AND model_version = ? AND personal = ? "
                                  "ORDER BY created DESC LIMIT 1", [content_hash, model_id, version, personal])
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
        return _job_records(rows)

    def _job_or_fail(self, job_id: str) -> JobRecord:
        job = self.get_job(job_id)
        if job is None:
            raise DataError(f"job {job_id} is not in {redact(self.url)}; was the jobs table cleared?")
        return job

    def _predictions(self, clause: str, params: Sequence[Any]) -> list[PredictionRecord]:
        _, rows = self._read(self._sql(f"SELECT {', '.join(PREDICTION_COLUMNS)} FROM predictions {clause}"), params)
        return [PredictionRecord(*row) for row in rows]



def _job_records(rows: Sequence[Sequence[Any]]) -> list[JobRecord]:
    return [JobRecord(**{**dict(zip(JOB_COLUMNS, row)), "inputs": json.loads(row[4])}) for row in rows]


def _marks(values: Sequence[Any]) -> str:
    return ", ".join("?" * len(values))


def _values(record: PredictionRecord) -> tuple[Any, ...]:
    return tuple(getattr(record, name) for name in PREDICTION_COLUMNS)


