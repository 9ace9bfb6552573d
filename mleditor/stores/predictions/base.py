"""The interface of the prediction store family: `PredictionStore`, which every backend implements.

Backends: `sqlite.py` (embedded, the default), `postgres.py` (a shared server, extra `postgres`),
`memory.py` (a process's own dict, for tests and demos); `open_store(url)` in `factory.py` picks one.
Each backend imports only this module, the records and (for SQL) `sql.py`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Any

from mleditor.stores.predictions.records import (
    ChunkResult,
    JobRecord,
    PredictionRecord,
    QuestionKey,
    RejectRecord,
)


class PredictionStore(ABC):
    """The prediction store every door uses; `open_store(url)` picks the backend.

    A backend implements every abstract method below with these guarantees: `commit_chunk` and
    `upsert` are atomic (all of a chunk or none of it), predictions are keyed by (site,
    question_id, model_version) so writing twice never duplicates, and every method may be called
    from several threads. Errors of the backend itself become `DataError` with a one-line message.
    The parametrized suite in `tests/stores/test_predictions.py` holds each backend to this.

    Example::

        from mleditor.stores.predictions import PredictionRecord, open_store

        with open_store("memory://") as store:     # or sqlite:///predictions.db, postgresql://...
            store.upsert([PredictionRecord("beer", 1, "v3", "se15-v1", "ab12", 0.62, 0.04, "[]", "Flat beer?")])
            store.get_prediction("beer", 1, "v3").score        # 0.62
            store.top_questions("beer", "v3", n=5)             # most to gain from an edit first
    """

    url: str

    @abstractmethod
    def start_job(self, job: JobRecord,
                  take_over: Callable[[JobRecord], bool]) -> tuple[JobRecord, JobRecord | None]:
        """Start `job`, or resume the unfinished job it repeats, as ONE atomic step: two runs never both start it.

        In one transaction (under the store's write lock), the most recent unfinished job with
        `job.fingerprint` is looked up. If there is one and `take_over(found)` is true, it is claimed
        for `job.host` and `job.pid` (status running, `resumes` + 1) and `(claimed, found)` is
        returned; otherwise `job` is inserted and `(job as stored, None)` returned. `take_over` may
        raise to refuse (`found` is still running elsewhere): nothing is written and its error
        propagates. `take_over=lambda found: False` always inserts `job` (a deliberate second job).

        Example::

            started, found = store.start_job(job, take_over=lambda found: True)
            resume_from = found.rows_read if found is not None else 0
        """

    @abstractmethod
    def create_job(self, job: JobRecord) -> JobRecord:
        """Insert a new job row (status running) and return it as stored, whatever else is running (no check)."""

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
    def known_hashes(self, keys: Sequence[QuestionKey], version: str) -> dict[QuestionKey, tuple[str, str, str]]:
        """For the keys that have a stored prediction of `version`: (content_hash, model_id, personal)."""

    @abstractmethod
    def get_prediction(self, site: str, question_id: int, version: str = "v3") -> PredictionRecord | None:
        """The stored prediction of one question, or None (the API's lookup)."""

    @abstractmethod
    def get_by_content_hash(self, model_id: str, version: str, content_hash: str,
                            personal: str = "") -> PredictionRecord | None:
        """The most recent prediction of this content by this model and version, or None (the hybrid door).

        `personal` ("" the global model, else `kind:author`): only a prediction made with that
        author's personal part, so a personalized score is never reused for anyone else.
        """

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


