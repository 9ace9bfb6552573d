"""`mleditor batch run` killed with SIGKILL mid-way resumes from its last committed chunk, on each SQL store."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from mleditor.stores.predictions.factory import open_store
from mleditor.stores.predictions.records import JOB_COMPLETED, JOB_RUNNING
from tests.helpers import mleditor_command, on_every_store

QUESTIONS = 5000


def wait_for_progress(store, process: subprocess.Popen, rows: int, timeout: float = 90.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        jobs = store.list_jobs(1)
        if jobs and jobs[0].rows_read >= rows:
            return jobs[0]
        if process.poll() is not None:
            pytest.fail(f"the job ended before it could be killed: {process.stderr.read().decode()[-2000:]}")
        time.sleep(0.02)
    pytest.fail("the job made no progress")


@on_every_store(memory=pytest.mark.skip(reason="the job runs in another process, which cannot see a memory:// store"))
def test_a_killed_job_resumes_and_writes_each_question_once(store_url, tmp_path, csv_file, questions):
    path = csv_file(tmp_path / "q.csv", questions(QUESTIONS))
    command = mleditor_command("batch", "run", "--input", str(path), "--store", store_url, "--workers", "1",
                               "--chunk-size", "100", "--json")
    with (subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True) as process,
          open_store(store_url) as store):
        try:
            job = wait_for_progress(store, process, rows=300)
        finally:
            os.killpg(process.pid, signal.SIGKILL)  # the whole process group, as a lost machine would
            process.wait(timeout=30)
        killed = store.get_job(job.job_id)
        assert killed.status == JOB_RUNNING and 300 <= killed.rows_read < QUESTIONS
        # Each chunk's predictions and the job's progress committed together: nothing more, nothing less.
        assert store.count_predictions() == killed.rows_scored == killed.rows_read
        committed_at = store.get_prediction("beer", 1).created

        result = subprocess.run(command, capture_output=True, timeout=180)
        assert result.returncode == 0, result.stderr.decode()[-2000:]
        summary = json.loads(result.stdout)
        assert summary["job_id"] == killed.job_id and summary["resumed_from"] == killed.rows_read
        assert summary["status"] == JOB_COMPLETED and summary["resumes"] == 1
        assert summary["rows_read"] == summary["rows_scored"] == QUESTIONS
        assert store.count_predictions() == QUESTIONS
        assert store.get_prediction("beer", 1).created == committed_at  # not scored again


def children_of(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def alive(pid: int) -> bool:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return False
    return fields[0] != "Z"


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc to find the worker processes")
def test_workers_exit_when_their_job_process_is_killed(tmp_path, csv_file, questions):
    path = csv_file(tmp_path / "q.csv", questions(QUESTIONS))
    url = f"sqlite:///{tmp_path / 'p.db'}"
    command = mleditor_command("batch", "run", "--input", str(path), "--store", url, "--workers", "2",
                               "--chunk-size", "100")
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True) as process:
        try:
            with open_store(url) as store:
                wait_for_progress(store, process, rows=200)
            workers = [pid for pid in children_of(process.pid) if alive(pid)]
            assert workers, "expected worker processes"
            os.kill(process.pid, signal.SIGKILL)  # the job process only, not its group
            process.wait(timeout=30)
            deadline = time.monotonic() + 20
            while any(alive(pid) for pid in workers) and time.monotonic() < deadline:
                time.sleep(0.1)
            assert not any(alive(pid) for pid in workers)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
