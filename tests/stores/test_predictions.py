"""The prediction store, the same tests on SQLite, PostgreSQL and memory://: upserts, lookups, jobs, atomic chunks."""

from __future__ import annotations

import dataclasses
import json

import pytest

from mleditor.errors import DataError, InvalidInputError
from mleditor.stores.predictions.factory import open_store
from mleditor.stores.predictions.records import (
    JOB_COMPLETED,
    JOB_FAILED,
    JOB_RUNNING,
    ChunkResult,
    JobRecord,
    PredictionRecord,
    RejectRecord,
    redact,
    utc_now,
)
from mleditor.stores.predictions.sql import SCHEMA
from tests.helpers import on_every_store


def record(question_id: int, score: float = 0.5, gain: float = 0.0, site: str = "beer", version: str = "v3",
           model_id: str = "m1", digest: str | None = None) -> PredictionRecord:
    rec = {"feature": "body_words", "message": "Add detail", "current": 3.0, "typical": 114.0, "gain": gain}
    advice = [rec] if gain else []
    return PredictionRecord(site, question_id, version, model_id, digest or f"hash-{question_id}", score, gain,
                            json.dumps(advice), f"title {question_id}")


def new_job(store, job_id: str = "job1", fingerprint: str = "fp") -> JobRecord:
    now = utc_now()
    return store.create_job(JobRecord(job_id, fingerprint, "m1", "v3", ["a.csv"], "local", JOB_RUNNING,
                                      host="h", pid=1, started_at=now, updated_at=now))


def test_upsert_twice_keeps_one_row_per_question_and_version(store):
    store.upsert([record(1, 0.2), record(2, 0.3)])
    store.upsert([record(1, 0.9), record(1, 0.4, version="v2")])
    assert store.count_predictions() == 3
    assert store.count_predictions("v3") == 2
    assert store.get_prediction("beer", 1, "v3").score == pytest.approx(0.9)
    assert store.get_prediction("beer", 1, "v2").score == pytest.approx(0.4)


def test_get_prediction_returns_none_for_an_unknown_question(store):
    assert store.get_prediction("beer", 404, "v3") is None


def test_stored_prediction_round_trips_to_a_core_prediction(store):
    store.upsert([record(7, 0.25, gain=0.1)])
    stored = store.get_prediction("beer", 7)
    prediction = stored.to_prediction()
    assert (prediction.score, prediction.model_version, prediction.model_id) == (0.25, "v3", "m1")
    assert prediction.recommendations[0].feature == "body_words" and prediction.recommendations[0].gain == 0.1
    assert stored.created and stored.title == "title 7"


def test_get_by_content_hash_finds_the_same_text_under_another_question(store):
    store.upsert([record(1, digest="abc"), record(2, digest="other")])
    found = store.get_by_content_hash("m1", "v3", "abc")
    assert found is not None and found.question_id == 1
    assert store.get_by_content_hash("another-model", "v3", "abc") is None
    assert store.get_by_content_hash("m1", "v2", "abc") is None


def test_known_hashes_returns_hash_model_and_personal_part_for_stored_keys_only(store):
    store.upsert([record(i) for i in range(1, 1201)])  # more keys than one IN list holds
    keys = [("beer", i) for i in range(1, 1301)] + [("wine", 1)]
    known = store.known_hashes(keys, "v3")
    assert len(known) == 1200
    assert known[("beer", 5)] == ("hash-5", "m1", "")
    assert store.known_hashes(keys, "v2") == {}


def test_top_questions_orders_by_gain_then_low_score_within_max_score(store):
    store.upsert([record(1, 0.2, 0.05), record(2, 0.3, 0.2), record(3, 0.9, 0.5), record(4, 0.1, 0.2),
                  record(5, 0.1, 0.3, site="wine")])
    top = store.top_questions("beer", "v3", n=10, max_score=0.5)
    assert [p.question_id for p in top] == [4, 2, 1]
    assert [p.question_id for p in store.top_questions("beer", "v3", n=2)] == [3, 4]


def test_commit_chunk_writes_predictions_rejects_and_progress_together(store):
    job = new_job(store)
    result = ChunkResult([record(1), record(2)], [RejectRecord("beer", 3, "a.csv line 4", "empty", 2)], skipped=5)
    job = store.commit_chunk(job.job_id, result, rows_read=8)
    assert (job.rows_read, job.rows_scored, job.rows_failed, job.rows_skipped, job.chunks_done) == (8, 2, 1, 5, 1)
    assert store.rejects(job.job_id) == [RejectRecord("beer", 3, "a.csv line 4", "empty", 2)]
    job = store.commit_chunk(job.job_id, ChunkResult([record(4)]), rows_read=9)
    assert (job.rows_read, job.rows_scored, job.chunks_done) == (9, 3, 2)


def test_a_failing_chunk_commit_leaves_nothing_behind(store):
    job = new_job(store)
    broken = PredictionRecord("beer", 2, "v3", "m1", "h", None, 0.0, "[]", "t")  # score NOT NULL
    with pytest.raises(DataError):
        store.commit_chunk(job.job_id, ChunkResult([record(1), broken]), rows_read=2)
    assert store.count_predictions() == 0
    assert store.get_job(job.job_id).rows_read == 0


def test_jobs_are_found_for_resuming_only_while_unfinished(store):
    job = new_job(store, "j1", "fp")
    assert store.find_unfinished_job("fp").job_id == "j1"
    store.finish_job("j1", JOB_FAILED, "boom")
    claimed = store.claim_job("j1", "host2", 42)
    state = (claimed.status, claimed.host, claimed.pid, claimed.resumes, claimed.error)
    assert state == (JOB_RUNNING, "host2", 42, 1, None)
    finished = store.finish_job("j1", JOB_COMPLETED)
    assert finished.status == JOB_COMPLETED and finished.ended_at
    assert store.find_unfinished_job("fp") is None
    assert [j.job_id for j in store.list_jobs()] == [job.job_id]
    assert store.get_job("j1").inputs == ["a.csv"]


@on_every_store(memory=pytest.mark.skip(reason="memory:// has no SQL tables: its query() refuses, by design"))
def test_query_reads_with_question_mark_placeholders_on_every_backend(store):
    store.upsert([record(1), record(2)])
    columns, rows = store.query("SELECT question_id FROM predictions WHERE site = ? ORDER BY question_id", ["beer"])
    assert columns == ["question_id"] and rows == [(1,), (2,)]


@on_every_store(memory=pytest.mark.skip(reason="memory:// keeps nothing once closed, by design"))
def test_reopening_the_store_keeps_its_predictions(store_url):
    with open_store(store_url) as first:
        first.upsert([record(1)])
    with open_store(store_url) as second:
        assert second.get_prediction("beer", 1) is not None


def test_open_store_refuses_an_unknown_scheme():
    with pytest.raises(InvalidInputError, match="sqlite:///"):
        open_store("mysql://localhost/db")


def test_error_messages_never_show_the_password():
    assert redact("postgresql://me:s3cret@db:5432/x") == "postgresql://me:***@db:5432/x"
    with pytest.raises(DataError) as caught:
        open_store("postgresql://me:s3cret@127.0.0.1:1/x")
    assert "s3cret" not in str(caught.value)


def test_threads_can_share_one_store(store):
    from concurrent.futures import ThreadPoolExecutor

    def write_and_read(n: int) -> bool:
        store.upsert([record(n)])
        return store.get_prediction("beer", n) is not None

    with ThreadPoolExecutor(8) as pool:
        assert all(pool.map(write_and_read, range(1, 81)))
    assert store.count_predictions() == 80


def refuse_running(found: JobRecord) -> bool:
    """start_job's take_over as a batch run uses it: resume a job that stopped, refuse one still running."""
    if found.status == JOB_RUNNING:
        raise InvalidInputError(f"job {found.job_id} is still running")
    return True


def job_record(job_id: str, fingerprint: str = "fp", pid: int = 1) -> JobRecord:
    now = utc_now()
    return JobRecord(job_id, fingerprint, "m1", "v3", ["a.csv"], "local", JOB_RUNNING, host="h", pid=pid,
                     started_at=now, updated_at=now)


def test_start_job_inserts_a_job_when_none_is_unfinished(store):
    started, found = store.start_job(job_record("j1"), take_over=refuse_running)
    assert (started.job_id, started.status, found) == ("j1", JOB_RUNNING, None)
    store.finish_job("j1", JOB_COMPLETED)
    started, found = store.start_job(job_record("j2"), take_over=refuse_running)
    assert (started.job_id, found) == ("j2", None)


def test_start_job_resumes_the_job_it_repeats_once_it_has_stopped(store):
    store.start_job(job_record("j1"), take_over=refuse_running)
    store.commit_chunk("j1", ChunkResult([record(1)]), rows_read=10)
    store.finish_job("j1", JOB_FAILED, "boom")
    started, found = store.start_job(job_record("j2", pid=42), take_over=refuse_running)
    assert (found.job_id, found.status, found.rows_read) == ("j1", JOB_FAILED, 10)
    assert (started.job_id, started.status, started.pid, started.resumes, started.error) == ("j1", JOB_RUNNING, 42,
                                                                                            1, None)
    assert store.get_job("j2") is None


def test_start_job_refused_by_take_over_writes_nothing_and_false_starts_another(store):
    store.start_job(job_record("j1"), take_over=refuse_running)
    with pytest.raises(InvalidInputError, match="still running"):
        store.start_job(job_record("j2"), take_over=refuse_running)
    assert [j.job_id for j in store.list_jobs()] == ["j1"]
    started, found = store.start_job(job_record("j3"), take_over=lambda found: False)  # --no-resume
    assert (started.job_id, found) == ("j3", None)
    assert {j.job_id for j in store.list_jobs()} == {"j1", "j3"}


def test_many_threads_starting_the_same_job_at_once_start_it_once(store_url, store):
    """Each thread has its own connection (as separate `batch run`s would); a barrier lines them up."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    starters = 8
    barrier = threading.Barrier(starters)

    def start(n: int) -> str:
        own = store if store_url == "memory://" else open_store(store_url)
        try:
            barrier.wait(timeout=30)
            own.start_job(job_record(f"j{n}", pid=n), take_over=refuse_running)
            return "started"
        except InvalidInputError:
            return "refused"
        finally:
            if own is not store:
                own.close()

    with ThreadPoolExecutor(starters) as pool:
        outcomes = list(pool.map(start, range(starters)))
    assert sorted(outcomes) == ["refused"] * (starters - 1) + ["started"]
    assert len(store.list_jobs()) == 1


@on_every_store(memory=pytest.mark.skip(reason="memory:// is a new, empty store in every process: nothing to find"))
def test_opening_an_existing_store_only_creates_nothing(store_url, tmp_path):
    with pytest.raises(DataError, match=r"no store at .*check --store"):
        open_store(store_url, create=False)
    assert not (tmp_path / "predictions.db").exists()
    with open_store(store_url) as created:
        created.upsert([record(1)])
    with open_store(store_url, create=False) as existing:
        assert existing.get_prediction("beer", 1) is not None


def test_a_missing_sqlite_store_is_not_created_nor_its_folder(tmp_path):
    with pytest.raises(DataError, match="no store at"):
        open_store(f"sqlite:///{tmp_path / 'typo' / 'p.db'}", create=False)
    assert not (tmp_path / "typo").exists()


def test_a_sqlite_file_that_is_not_a_store_is_refused_and_left_as_it_was(tmp_path):
    import sqlite3

    other = tmp_path / "dataset.db"
    with sqlite3.connect(other) as connection:
        connection.execute("CREATE TABLE questions (id INTEGER)")
    connection.close()
    with pytest.raises(DataError, match="is not a prediction store"):
        open_store(f"sqlite:///{other}", create=False)
    with sqlite3.connect(other) as connection:
        tables = [row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    connection.close()
    assert tables == ["questions"]


def test_a_personalized_prediction_is_found_by_content_only_with_the_same_personal_part(store):
    store.upsert([record(1, digest="same"), dataclasses.replace(record(2, digest="same"), personal="head:beer:user:7")])
    assert store.get_by_content_hash("m1", "v3", "same").question_id == 1
    assert store.get_by_content_hash("m1", "v3", "same", "head:beer:user:7").question_id == 2
    assert store.get_by_content_hash("m1", "v3", "same", "head:beer:user:8") is None
    assert store.get_prediction("beer", 2, "v3").to_prediction().personal.author == "beer:user:7"


def test_a_sqlite_store_from_before_personal_parts_gains_the_column_and_keeps_its_rows(tmp_path):
    import sqlite3

    path = tmp_path / "old.db"
    old_schema = SCHEMA.replace("personal TEXT NOT NULL DEFAULT '', ", "").format(integer="INTEGER", real="REAL")
    with sqlite3.connect(path) as connection:
        connection.executescript(old_schema)
        connection.execute("INSERT INTO predictions VALUES ('beer', 1, 'v3', 'm1', 'h', 0.5, 0.0, '[]', 't', 'now')")
    with open_store(f"sqlite:///{path}", create=False) as store:
        found = store.get_prediction("beer", 1, "v3")
    assert found is not None and found.personal == "" and found.to_prediction().personal is None
