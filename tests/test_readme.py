"""The README's commands work as written: each `mleditor ...` example it shows is run here and its output checked."""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess

import httpx
import pytest

from tests.helpers import REPO_ROOT, mleditor_command, run_mleditor, start_server

README = (REPO_ROOT / "README.md").read_text(encoding="utf-8")


def blocks(language: str) -> list[str]:
    """The README's fenced blocks of one language, in order."""
    return re.findall(rf"```{language}\n(.*?)```", README, flags=re.S)


def mleditor_lines(block: str) -> list[list[str]]:
    """The `mleditor ...` commands of a block (after `.venv/bin/`, env assignments and `$ `), as argv tails."""
    commands = []
    for line in block.replace("\\\n", " ").splitlines():
        for part in line.split("  #")[0].removeprefix("$ ").split("&&"):
            words = shlex.split(part)
            while words and "=" in words[0] and not words[0].startswith("-"):
                words = words[1:]
            if words and (words[0].endswith("bin/mleditor") or words[0] == "mleditor"):
                commands.append(words[1:])
    return commands


def test_the_readme_opens_with_the_setup_and_demo_command_and_the_test_command():
    first, second = blocks("bash")[:2]
    assert first.strip().endswith("mleditor demo") and "pip install -q -e ." in first
    assert second.strip().endswith("-m pytest") and "torch==2.13.0" in second
    ci = (REPO_ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert second.strip() in ci, ".ci/run must run exactly the README's test command"


def test_the_demo_command_scores_the_two_examples():
    result = run_mleditor(*mleditor_lines(blocks("bash")[0])[0])
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("score") == 2


def test_the_example_answer_is_what_the_shipped_model_says():
    console = blocks("console")[0]
    (command,) = mleditor_lines(console)
    shown = json.loads(console[console.index("{"):])
    result = run_mleditor(*command)
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["score"] == pytest.approx(shown["score"], abs=1e-4)
    assert (answer["model_version"], answer["model_id"]) == (shown["model_version"], shown["model_id"])
    assert answer["out_of_distribution"] == shown["out_of_distribution"]
    assert [(r["feature"], r["current"], r["typical"]) for r in answer["recommendations"]] == [
        (r["feature"], r["current"], r["typical"]) for r in shown["recommendations"]]
    assert [r["gain"] for r in answer["recommendations"]] == pytest.approx(
        [r["gain"] for r in shown["recommendations"]], abs=1e-3)


def test_the_streaming_api_example_answers_with_the_fields_the_readme_lists(tmp_path):
    door = README[README.index("## Door 1"):README.index("## Door 2")]
    curl = next(block for block in blocks("bash") if "curl" in block and block in door)
    request = shlex.split(curl[curl.index("curl"):].replace("\\\n", " "))
    url, payload = request[request.index("-X") + 2], json.loads(request[request.index("-d") + 1])
    server, base = start_server(tmp_path, "--workers", "1")
    with server:
        try:
            answer = httpx.post(url.replace("http://127.0.0.1:8000", base), json=payload, timeout=30).json()
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(30)
    for field in ("score", "label", "confidence", "recommendations", "model_version", "model_id", "request_id",
                  "timings_ms", "cached", "source"):
        assert field in answer, field


@pytest.mark.slow
def test_the_batch_and_data_commands_run_on_the_real_dumps(tmp_path, real_data_dir):
    env = {"MLEDITOR_DATA": str(real_data_dir.parent)}
    batch = README[README.index("## Door 2"):README.index("## Door 3")]
    reproduce = README[README.index("## Reproduce the model"):]
    commands = mleditor_lines(blocks("bash")[[b in batch for b in blocks("bash")].index(True)])
    commands += [c for c in mleditor_lines(next(b for b in blocks("bash") if b in reproduce)) if c[:2] == ["data", "ingest"]]
    assert [c[:2] for c in commands] == [["batch", "run"], ["batch", "top"], ["data", "ingest"]]
    for command in commands:
        result = subprocess.run(mleditor_command(*command), capture_output=True, text=True, timeout=600,
                                cwd=tmp_path, env={**os.environ, **env})
        assert result.returncode == 0, (command, result.stderr[-2000:])
    assert (tmp_path / "predictions.db").is_file() and (tmp_path / "data" / "questions.sqlite").is_file()

