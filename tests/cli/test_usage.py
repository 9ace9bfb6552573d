"""A user's mistake on the command line is a usage error (exit 2, one `error:` line with click's words and the
--help hint);
only a bug is an internal error (exit 70); one option may take several values (`--input a.xml b.xml`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from mleditor.cli.options import spread_values
from tests.helpers import make_questions, run_mleditor, write_csv


def assert_usage_error(result: subprocess.CompletedProcess, fragment: str) -> None:
    """Exit 2; on stderr exactly one line: `error: <what click says>; try 'mleditor ... --help'`; no traceback."""
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr, result.stderr
    assert len(lines) == 1 and lines[0].startswith("error: ") and fragment in lines[0], result.stderr
    assert lines[0].endswith(" --help'") and "try 'mleditor" in lines[0], result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize(("args", "fragment"), [
    (["predict", "--bogus"], "No such option"),
    (["nosuch"], "No such command 'nosuch'"),
    (["models", "nosuch"], "No such command 'nosuch'"),
    (["serve", "--port", "abc"], "Invalid value for '--port'"),
    (["predict", "--model-dir"], "requires an argument"),
    (["keys", "revoke"], "Missing argument"),
    (["keys", "create"], "Missing option '--name'"),
    (["batch", "run", "--input", "a.xml", "b.xml"], "Missing option '--store'"),
    (["demo", "extra"], "unexpected extra argument"),
    (["models", "list", "extra"], "unexpected extra argument"),
], ids=["unknown-option", "unknown-command", "unknown-subcommand", "bad-value", "option-without-value",
        "missing-argument", "missing-option", "missing-option-after-several-inputs", "extra-argument",
        "extra-argument-subcommand"])
def test_a_usage_mistake_exits_2_with_one_error_line_and_no_traceback(args, fragment):
    assert_usage_error(run_mleditor(*args), fragment)


def test_a_usage_mistake_stays_one_line_with_debug_on():
    assert_usage_error(run_mleditor("predict", "--bogus", env={"MLEDITOR_DEBUG": "1"}), "No such option")


def test_no_command_prints_the_help_without_an_error():
    result = run_mleditor()
    assert result.returncode == 2
    assert "Commands" in result.stdout + result.stderr
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr


def test_help_is_a_success():
    result = run_mleditor("predict", "--help")
    assert result.returncode == 0 and "Usage: mleditor predict" in result.stdout


BUG = ("import sys\nfrom mleditor.cli.main import app, main\n\n@app.command('boom')\ndef boom() -> None:\n"
       "    raise RuntimeError('a bug')\n\nsys.argv = ['mleditor', 'boom']\nmain()\n")


def test_a_bug_is_an_internal_error_in_one_line_and_the_traceback_only_with_debug():
    env = {k: v for k, v in os.environ.items() if k != "MLEDITOR_DEBUG"}
    result = subprocess.run([sys.executable, "-c", BUG], capture_output=True, text=True, timeout=60, env=env)
    assert result.returncode == 70
    assert result.stderr.startswith("internal error: RuntimeError: a bug") and result.stderr.count("\n") == 1
    debug = subprocess.run([sys.executable, "-c", BUG], capture_output=True, text=True, timeout=60,
                           env={**env, "MLEDITOR_DEBUG": "1"})
    assert debug.returncode != 0 and "Traceback" in debug.stderr


@pytest.mark.parametrize(("args", "expected"), [
    (["--input", "a", "b", "--json"], ["--input", "a", "--input", "b", "--json"]),
    (["-i", "a", "b", "-s", "x"], ["-i", "a", "-i", "b", "-s", "x"]),
    (["--input=a", "b"], ["--input=a", "--input", "b"]),
    (["--input", "a", "--input", "b"], ["--input", "a", "--input", "b"]),
    (["--store", "x", "y"], ["--store", "x", "y"]),
    (["--input", "a", "--", "b"], ["--input", "a", "--", "b"]),
])
def test_several_values_after_one_option_become_that_option_repeated(args, expected):
    assert spread_values(args, ("--input", "-i")) == expected


@pytest.mark.parametrize("form", ["one --input", "--input repeated"])
def test_batch_run_scores_several_inputs_given_either_way(tmp_path, form):
    first = write_csv(tmp_path / "a.csv", make_questions(4, site="beer"))
    second = write_csv(tmp_path / "b.csv", make_questions(3, site="coffee", seed=1))
    inputs = ["--input", str(first), str(second)] if form == "one --input" else \
        ["--input", str(first), "-i", str(second)]
    result = run_mleditor("batch", "run", *inputs, "--store", f"sqlite:///{tmp_path / 'p.db'}", "--workers", "1",
                          "--json", timeout=180)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert (summary["rows_read"], summary["rows_scored"]) == (7, 7)


def test_batch_schedule_takes_several_inputs_after_one_option(tmp_path):
    (tmp_path / "a.xml").write_text("<posts/>", encoding="utf-8")
    write_csv(tmp_path / "b.csv", [])
    result = run_mleditor("batch", "schedule", "--input", str(tmp_path / "a.xml"), str(tmp_path / "b.csv"),
                          "--store", "sqlite:///p.db", "--format", "cron")
    assert result.returncode == 0, result.stderr
    assert "--input" in result.stdout and "a.xml" in result.stdout and "b.csv" in result.stdout
    assert result.stdout.count("--input") == 2
