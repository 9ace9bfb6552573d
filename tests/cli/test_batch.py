"""`mleditor batch` as a user meets it: run, top, jobs, rejects; JSON for machines; one-line errors."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.helpers import run_mleditor


def mleditor(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return run_mleditor(*args, env=env, timeout=180)


@pytest.fixture
def scored_store(tmp_path, csv_file, questions):
    data = questions(80)
    data[5].update(title="", body="")
    path = csv_file(tmp_path / "q.csv", data)
    url = f"sqlite:///{tmp_path / 'p.db'}"
    result = mleditor("batch", "run", "--input", str(path), "--store", url, "--workers", "1", "--json")
    assert result.returncode == 0, result.stderr
    return url, json.loads(result.stdout)


def test_batch_run_prints_a_summary_that_counts_rejects(scored_store):
    _, summary = scored_store
    assert (summary["rows_read"], summary["rows_scored"], summary["rows_failed"]) == (80, 79, 1)
    assert summary["status"] == "completed" and summary["questions_per_second"] > 0


def test_batch_run_without_json_says_what_happened(tmp_path, csv_file, questions):
    path = csv_file(tmp_path / "q.csv", questions(5))
    store = {"MLEDITOR_STORE": f"sqlite:///{tmp_path / 'p.db'}"}
    result = mleditor("batch", "run", "-i", str(path), "--workers", "1", env=store)
    assert result.returncode == 0, result.stderr
    assert "5 rows read, 5 scored, 0 unchanged, 0 rejected" in " ".join(result.stdout.split())


def test_batch_top_lists_questions_with_most_to_gain_as_json(scored_store):
    url, _ = scored_store
    result = mleditor("batch", "top", "--site", "beer", "--n", "5", "--store", url, "--json", "--max-score", "1")
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(rows) == 5
    gains = [row["best_gain"] for row in rows]
    assert gains == sorted(gains, reverse=True)
    assert {"site", "question_id", "title", "score", "recommendations", "model_id"} <= rows[0].keys()


def test_batch_top_prints_a_table(scored_store):
    url, _ = scored_store
    result = mleditor("batch", "top", "--site", "beer", "-n", "3", "--store", url, "--max-score", "1")
    assert result.returncode == 0, result.stderr
    assert "most to gain from editing" in result.stdout and "gain" in result.stdout


def test_batch_top_for_an_unscored_site_says_how_to_score_it(scored_store):
    url, _ = scored_store
    result = mleditor("batch", "top", "--site", "wine", "--store", url)
    assert result.returncode == 2 and "run `mleditor batch run`" in result.stderr


def test_batch_jobs_and_rejects_show_the_stored_records(scored_store):
    url, summary = scored_store
    jobs = [json.loads(line) for line in mleditor("batch", "jobs", "--store", url, "--json").stdout.splitlines()]
    assert [j["job_id"] for j in jobs] == [summary["job_id"]]
    rejects = mleditor("batch", "rejects", "--store", url, "--job", summary["job_id"], "--json")
    [reject] = [json.loads(line) for line in rejects.stdout.splitlines()]
    assert reject["question_id"] == 6 and "both empty" in reject["reason"]
    path, line = reject["source"].rsplit(" line ", 1)  # the physical line: bodies span several lines
    assert Path(path).read_text(encoding="utf-8").splitlines()[int(line) - 1].startswith("beer,6,")


@pytest.mark.parametrize("args, code, fragment", [
    (["--input", "x.csv", "--store", "mysql://db/x"], 2, "unknown store URL"),
    (["--input", "missing.csv", "--store", "sqlite:///{tmp}/p.db"], 3, "does not exist"),
    (["--input", "{tmp}", "--store", "sqlite:///{tmp}/p.db"], 3, "no Posts.xml"),
    (["--input", "x.csv", "--store", "sqlite:///{tmp}/p.db", "--model", "v9"], 2, "unknown model version"),
])
def test_batch_run_errors_are_one_line_with_an_exit_code(tmp_path, args, code, fragment):
    result = mleditor("batch", "run", *[a.format(tmp=tmp_path) for a in args])
    assert result.returncode == code, result.stderr
    assert result.stderr.startswith("error: ") and "Traceback" not in result.stderr
    assert fragment in result.stderr


@pytest.mark.parametrize("command", [["jobs"], ["rejects"], ["top", "--site", "beer"]])
def test_reading_commands_never_create_a_store_at_a_mistyped_path(tmp_path, command):
    typo = tmp_path / "predictons.db"
    result = mleditor("batch", *command, "--store", f"sqlite:///{typo}")
    assert result.returncode == 3, result.stderr
    assert result.stderr.startswith(f"error: no store at {typo}; check --store") and result.stderr.count("\n") == 1
    assert not typo.exists()
