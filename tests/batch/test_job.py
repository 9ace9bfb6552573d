"""Batch jobs on every store (SQLite, PostgreSQL, memory://): one prediction per question, incremental re-runs, rejects counted, resuming."""

from __future__ import annotations

import os

import pytest

from mleditor.batch.engines import local as local_engine
from mleditor.batch.job import JobSpec, run_batch_job
from mleditor.errors import InvalidInputError
from mleditor.stores.predictions.records import JOB_COMPLETED, JOB_FAILED, JOB_RUNNING, JobRecord, utc_now
from tests.helpers import on_every_store


def spec_for(*paths, **options) -> JobSpec:
    return JobSpec(inputs=tuple(str(p) for p in paths), **{"workers": 1, "chunk_size": 25, **options})


def test_a_job_writes_one_prediction_per_question_and_records_itself(store, tmp_path, csv_file, questions):
    path = csv_file(tmp_path / "q.csv", questions(120))
    summary = run_batch_job(spec_for(path), store)
    job = summary.job
    counts = (job.status, job.rows_read, job.rows_scored, job.rows_skipped, job.rows_failed)
    assert counts == (JOB_COMPLETED, 120, 120, 0, 0)
    assert job.chunks_done == 5 and job.model_id == "se15-v1" and job.model_version == "v3" and job.ended_at
    assert job.inputs == [str(path)] and summary.resumed_from is None
    assert store.count_predictions("v3") == 120


def test_rerunning_unchanged_inputs_scores_nothing_and_duplicates_nothing(store, tmp_path, csv_file, questions):
    path = csv_file(tmp_path / "q.csv", questions(60))
    first = run_batch_job(spec_for(path), store).job
    before = store.get_prediction("beer", 1).created
    second = run_batch_job(spec_for(path), store).job
    assert second.job_id != first.job_id
    assert (second.rows_scored, second.rows_skipped) == (0, 60)
    assert store.count_predictions() == 60
    assert store.get_prediction("beer", 1).created == before


def test_a_later_run_scores_only_new_or_changed_questions(store, tmp_path, csv_file, questions):
    data = questions(50)
    run_batch_job(spec_for(csv_file(tmp_path / "q.csv", data)), store)
    data[4]["body"] += "\n\nEdit: I also tried a colder fridge."
    data += questions(5, seed=9, start_id=1000)
    job = run_batch_job(spec_for(csv_file(tmp_path / "q2.csv", data)), store).job
    assert (job.rows_scored, job.rows_skipped) == (6, 49)
    assert store.count_predictions() == 55


def test_a_new_model_id_rescores_everything(store, tmp_path, csv_file, questions, tiny_model_dir):
    path = csv_file(tmp_path / "q.csv", questions(30))
    run_batch_job(spec_for(path), store)
    job = run_batch_job(spec_for(path, model=str(tiny_model_dir)), store).job
    assert job.rows_scored == 30 and job.model_id == "tiny-test-model"
    assert store.count_predictions() == 30
    assert store.get_prediction("beer", 1).model_id == "tiny-test-model"


def test_a_personalized_run_rescores_only_the_questions_of_authors_with_a_part(store, tmp_path, csv_file, questions,
                                                                                personal_model_dir):
    rows = [{**q, "owner_id": 7 if q["question_id"] <= 4 else ""} for q in questions(10)]
    path = csv_file(tmp_path / "q.csv", rows, columns=("site", "question_id", "owner_id", "title", "body"))
    run_batch_job(spec_for(path, model=str(personal_model_dir)), store)
    job = run_batch_job(spec_for(path, model=str(personal_model_dir), personalized=True), store).job
    assert (job.rows_scored, job.rows_skipped) == (4, 6)
    assert store.get_prediction("beer", 1).personal == "head:beer:user:7" and store.get_prediction("beer", 5).personal == ""
    again = run_batch_job(spec_for(path, model=str(personal_model_dir)), store).job
    assert again.rows_scored == 4  # back to the global model: the personalized rows are scored again


def test_personalized_scoring_runs_on_the_local_engine_only(tmp_path):
    with pytest.raises(InvalidInputError, match="local engine only"):
        spec_for(tmp_path / "q.csv", personalized=True, engine="ray").checked()


def test_bad_rows_are_counted_and_filed_while_the_job_goes_on(store, tmp_path, csv_file, questions):
    data = questions(40)
    data[3].update(title="", body="")
    data[7]["question_id"] = "seven"
    data[20]["body"] = "x" * 60_000
    job = run_batch_job(spec_for(csv_file(tmp_path / "q.csv", data)), store).job
    assert (job.status, job.rows_read, job.rows_scored, job.rows_failed) == (JOB_COMPLETED, 40, 37, 3)
    reasons = sorted(r.reason for r in store.rejects(job.job_id))
    assert any("both empty" in r for r in reasons) and any("not an integer" in r for r in reasons)
    assert any("the limit is 50,000" in r for r in reasons)
    assert [r.ordinal for r in store.rejects(job.job_id)] == [3, 7, 20]


def test_a_failed_job_resumes_after_its_last_committed_chunk(store, tmp_path, csv_file, questions, monkeypatch):
    path = csv_file(tmp_path / "q.csv", questions(100))
    real_executor = local_engine.InProcessExecutor.map_chunks
    scored_rows: list[int] = []

    def failing_after_two_chunks(self, chunks):
        for n, (chunk, result) in enumerate(real_executor(self, chunks)):
            if n == 2:
                raise RuntimeError("worker lost")
            scored_rows.extend(row.ordinal for row in chunk.rows)
            yield chunk, result

    monkeypatch.setattr(local_engine.InProcessExecutor, "map_chunks", failing_after_two_chunks)
    with pytest.raises(RuntimeError):
        run_batch_job(spec_for(path), store)
    failed = store.list_jobs()[0]
    assert (failed.status, failed.rows_read, failed.rows_scored) == (JOB_FAILED, 50, 50)
    assert "worker lost" in failed.error

    monkeypatch.setattr(local_engine.InProcessExecutor, "map_chunks", real_executor)
    resumed = run_batch_job(spec_for(path), store)
    assert resumed.resumed_from == 50 and resumed.job.job_id == failed.job_id
    counts = (resumed.job.status, resumed.job.rows_read, resumed.job.rows_scored, resumed.job.resumes)
    assert counts == (JOB_COMPLETED, 100, 100, 1)
    assert store.count_predictions() == 100 and len(store.list_jobs()) == 1


def test_no_resume_starts_a_fresh_job(store, tmp_path, csv_file, questions):
    path = csv_file(tmp_path / "q.csv", questions(10))
    now = utc_now()
    store.create_job(JobRecord("old", "whatever", "se15-v1", "v3", [str(path)], "local", JOB_FAILED, host="h", pid=1,
                               started_at=now, updated_at=now))
    summary = run_batch_job(spec_for(path, resume=False), store)
    assert summary.resumed_from is None and summary.job.job_id != "old"


def test_a_job_still_running_in_a_live_process_is_not_resumed_twice(store, tmp_path, csv_file, questions):
    path = csv_file(tmp_path / "q.csv", questions(10))
    run_batch_job(spec_for(path), store)  # learn the fingerprint
    fingerprint = store.list_jobs()[0].fingerprint
    now = utc_now()
    store.create_job(JobRecord("busy", fingerprint, "se15-v1", "v3", [str(path)], "local", JOB_RUNNING,
                               host=os.uname().nodename, pid=os.getppid(), started_at=now, updated_at=now))
    with pytest.raises(InvalidInputError, match="still running"):
        run_batch_job(spec_for(path), store)


def test_a_process_pool_gives_the_same_predictions_as_one_process(tmp_path, csv_file, questions):
    from mleditor.stores.predictions.factory import open_store

    path = csv_file(tmp_path / "q.csv", questions(150))
    stored = []
    for workers in (1, 2):
        with open_store(f"sqlite:///{tmp_path / f'w{workers}.db'}") as store:
            job = run_batch_job(spec_for(path, workers=workers, chunk_size=20), store).job
            assert job.rows_scored == 150
            stored.append([(p.question_id, p.score, p.recommendations)
                           for p in store.top_questions("beer", n=1000, max_score=1.0)])
    assert stored[0] == stored[1]


def test_a_rerun_with_nothing_changed_never_starts_a_worker(tmp_path, csv_file, questions, monkeypatch):
    from concurrent.futures import ProcessPoolExecutor

    from mleditor.stores.predictions.factory import open_store

    path = csv_file(tmp_path / "q.csv", questions(40))
    with open_store(f"sqlite:///{tmp_path / 'p.db'}") as store:
        run_batch_job(spec_for(path), store)
        submitted = []
        monkeypatch.setattr(ProcessPoolExecutor, "submit", lambda self, *a, **k: submitted.append(a))
        job = run_batch_job(spec_for(path, workers=2), store).job
    assert (job.rows_skipped, job.rows_scored, submitted) == (40, 0, [])


def test_a_bad_engine_or_chunk_size_is_refused():
    with pytest.raises(InvalidInputError, match="unknown engine"):
        JobSpec(("x",), engine="spark").checked()
    with pytest.raises(InvalidInputError, match="chunk-size"):
        JobSpec(("x",), chunk_size=0).checked()


def test_a_row_with_an_id_beyond_64_bits_is_a_reject_and_the_job_completes(store, tmp_path, csv_file, questions):
    data = questions(30)
    data[12]["question_id"] = str(2**63)
    job = run_batch_job(spec_for(csv_file(tmp_path / "q.csv", data), chunk_size=10), store).job
    assert (job.status, job.rows_read, job.rows_scored, job.rows_failed) == (JOB_COMPLETED, 30, 29, 1)
    [reject] = store.rejects(job.job_id)
    assert reject.ordinal == 12 and reject.question_id is None and "out of range" in reject.reason
    assert store.count_predictions() == 29 and store.get_prediction("beer", 12) is not None


def test_an_unexpected_error_scoring_one_row_does_not_stop_the_job(store, tmp_path, csv_file, questions,
                                                                   monkeypatch):
    from mleditor.core.pipeline import Pipeline

    real_run_many = Pipeline.run_many

    def run_many(self, requests):
        if any(request.title == "poison" for request in requests):
            raise RecursionError("maximum recursion depth exceeded")
        return real_run_many(self, requests)

    monkeypatch.setattr(Pipeline, "run_many", run_many)
    data = questions(20)
    data[5]["title"] = "poison"
    job = run_batch_job(spec_for(csv_file(tmp_path / "q.csv", data), chunk_size=10), store).job
    assert (job.status, job.rows_scored, job.rows_failed) == (JOB_COMPLETED, 19, 1)
    [reject] = store.rejects(job.job_id)
    assert reject.question_id == 6
    assert reject.reason == "could not be scored (RecursionError: maximum recursion depth exceeded)"


def start_in_a_process(store_url: str, spec: JobSpec, ready, done, outcomes) -> None:
    """One `batch run` starting its job (in a spawned process): report started or refused, then wait for the rest."""
    from mleditor.batch.job import _start_or_resume
    from mleditor.core.registry import resolve_model
    from mleditor.stores.predictions.factory import open_store

    model = resolve_model(None)
    with open_store(store_url) as store:
        ready.wait(timeout=60)
        try:
            _start_or_resume(store, spec, model, "same-inputs-same-model")
            outcomes.put("started")
        except InvalidInputError:
            outcomes.put("refused")
        done.wait(timeout=60)  # stay alive: the others must see the winner's pid still running


@on_every_store(memory=pytest.mark.skip(reason="other processes cannot see a memory:// store"))
def test_batch_runs_started_at_the_same_instant_run_one_job(store_url, store):
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    runs = 6
    ready, done, outcomes = context.Barrier(runs), context.Barrier(runs), context.Queue()
    processes = [context.Process(target=start_in_a_process, args=(store_url, spec_for("x.csv"), ready, done,
                                                                  outcomes)) for _ in range(runs)]
    for process in processes:
        process.start()
    results = sorted(outcomes.get(timeout=120) for _ in range(runs))
    for process in processes:
        process.join(timeout=60)
    assert results == ["refused"] * (runs - 1) + ["started"]
    assert [job.status for job in store.list_jobs()] == [JOB_RUNNING]
