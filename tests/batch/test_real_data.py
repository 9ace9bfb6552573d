"""The whole real data set: a batch run killed with SIGKILL resumes and ends with one prediction per question."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from mleditor.core.ingest import iter_dump_questions
from mleditor.stores.predictions.factory import open_store
from mleditor.stores.predictions.records import JOB_COMPLETED

pytestmark = [pytest.mark.slow, pytest.mark.data]


def test_full_batch_over_the_real_dumps_survives_a_kill(real_data_dir, tmp_path):
    dumps = sorted(str(p.parent) for p in real_data_dir.glob("*/Posts.xml"))
    expected = {(q.site, q.id) for dump in dumps for q in iter_dump_questions(dump)}
    url = f"sqlite:///{tmp_path / 'p.db'}"
    command = [sys.executable, "-m", "mleditor", "batch", "run", "--store", url, "--chunk-size", "200", "--json",
               *[arg for dump in dumps for arg in ("--input", dump)]]
    with (subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True) as process,
          open_store(url) as store):
        deadline = time.monotonic() + 120
        while not (store.list_jobs(1) and store.list_jobs(1)[0].rows_read >= 600):
            assert process.poll() is None and time.monotonic() < deadline, "the job ended before it could be killed"
            time.sleep(0.02)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
        killed = store.list_jobs(1)[0]
        assert 600 <= killed.rows_read < len(expected)

        result = subprocess.run(command, capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stderr[-2000:]
        summary = json.loads(result.stdout)
        assert summary["status"] == JOB_COMPLETED and summary["resumed_from"] == killed.rows_read
        assert summary["rows_read"] == summary["rows_scored"] == len(expected)
        keys = {(p.site, p.question_id) for site in {s for s, _ in expected}
                for p in store.top_questions(site, n=100_000, max_score=1.0)}
        assert keys == expected and store.count_predictions() == len(expected)
