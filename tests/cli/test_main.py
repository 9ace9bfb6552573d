"""The command line as a user meets it: JSON output, stdin, JSONL, and one-line errors with exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest


def mleditor(*args: str, stdin: bytes | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mleditor", *args], input=stdin, capture_output=True, timeout=120,
        env={**os.environ, **(env or {})},
    )


def assert_one_line_error(result: subprocess.CompletedProcess, code: int, fragment: str) -> None:
    stderr = result.stderr.decode()
    assert result.returncode == code, stderr
    assert "Traceback" not in stderr
    assert stderr.startswith("error: ") and stderr.count("\n") == 1, stderr
    assert fragment in stderr


def test_predict_v3_json_returns_score_recommendations_and_version():
    result = mleditor("predict", "--model", "v3", "--json", "how 2 fix my code?? it doesnt work")
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    assert 0 < payload["score"] < 1
    assert payload["model_version"] == "v3"
    assert isinstance(payload["recommendations"], list) and payload["recommendations"]
    first = payload["recommendations"][0]
    assert {"feature", "message", "current", "typical", "gain"} <= first.keys()


def test_predict_reads_the_question_from_stdin():
    result = mleditor("predict", "--json", "-m", "v2", stdin=b"Why is my beer flat?\nIt has no bubbles.")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["model_version"] == "v2"


def test_title_and_body_options_and_human_output():
    result = mleditor("predict", "-m", "v1", "--title", "Why is my beer cloudy", "--body", "Cloudy. Thanks!")
    assert result.returncode == 0, result.stderr
    assert "score" in result.stdout.decode() and "question mark" in result.stdout.decode()


def test_invalid_utf8_on_stdin_is_a_clear_error():
    assert_one_line_error(mleditor("predict", stdin=b"\xff\xfe bad bytes"), 2, "not valid UTF-8")


def test_empty_question_is_a_clear_error():
    assert_one_line_error(mleditor("predict", "--title", " ", "--body", "\n"), 2, "both empty")


def test_oversize_body_is_a_clear_error():
    result = mleditor("predict", "-m", "v2", stdin=b"Title\n" + b"x" * (5 * 1024 * 1024))
    assert_one_line_error(result, 2, "the limit is 50,000")


def test_missing_model_directory_is_a_clear_error(tmp_path):
    assert_one_line_error(mleditor("predict", "--model-dir", str(tmp_path / "none"), "q"), 4, "not found")


def test_unknown_model_version_is_a_clear_error():
    assert_one_line_error(mleditor("predict", "-m", "v7", "q"), 2, "choose one of v1, v2, v3")


def test_jsonl_keeps_ids_and_reports_bad_lines_without_stopping(tmp_path):
    lines = [
        json.dumps({"id": "a", "title": "How do I brew?", "body": "With hops."}),
        "{not json",
        json.dumps({"id": 7, "title": "", "body": ""}),
        json.dumps(["not", "an", "object"]),
        json.dumps({"id": "z", "title": "Emoji 🍺?", "body": "<p>HTML <b>body</b></p>"}),
    ]
    path = tmp_path / "in.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = mleditor("predict", "--jsonl", str(path), "-m", "v3")
    assert result.returncode == 1
    rows = [json.loads(line) for line in result.stdout.decode().splitlines()]
    assert [r.get("id") for r in rows] == ["a", None, 7, None, "z"]
    assert "score" in rows[0] and "score" in rows[4]
    assert all("error" in rows[i] for i in (1, 2, 3))
    assert rows[1]["line"] == 2
    assert "Traceback" not in result.stderr.decode()


def test_models_list_shows_the_shipped_model():
    result = mleditor("models", "list", "--json")
    assert result.returncode == 0
    assert any(row.get("model_id") == "se15-v1" for row in json.loads(result.stdout))


def test_demo_runs_on_the_shipped_model():
    result = mleditor("demo")
    assert result.returncode == 0, result.stderr
    assert result.stdout.decode().count("score") == 2


def test_help_lists_every_command():
    text = mleditor("--help").stdout.decode()
    for command in ("predict", "demo", "models", "data", "train", "evaluate"):
        assert command in text


def test_serving_imports_no_torch():
    code = (
        "import sys, mleditor.cli\n"
        "from mleditor.core.predictor import Predictor\n"
        "from mleditor.core.records import Question\n"
        "Predictor.load().predict(Question('t?', 'b'), 'v3')\n"
        "assert 'torch' not in sys.modules and 'sklearn' not in sys.modules, 'heavy import'\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=60)
    assert result.returncode == 0, result.stderr.decode()


def test_base_install_does_not_depend_on_torch():
    tomllib = pytest.importorskip("tomllib")
    from pathlib import Path

    project = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())["project"]
    assert not any(dep.startswith(("torch", "scikit-learn", "onnx>")) for dep in project["dependencies"])
    assert any(dep.startswith("torch") for dep in project["optional-dependencies"]["train"])


def test_jsonl_a_line_nested_too_deeply_is_that_lines_error_and_the_rest_are_scored(tmp_path):
    lines = [
        json.dumps({"id": "a", "title": "How do I brew?", "body": "With hops."}),
        "[" * 100_000 + "]" * 100_000,
        '{"id": ' + "[" * 100_000,
        '{"id": "deep", "title": "t", "body": "b", "x": ' + "[" * 990 + "]" * 990 + "}",
        json.dumps({"id": "z", "title": "Why is my beer flat?", "body": "No bubbles."}),
    ]
    path = tmp_path / "in.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = mleditor("predict", "--jsonl", str(path), "-m", "v2")
    assert result.returncode == 1, result.stderr
    rows = [json.loads(line) for line in result.stdout.decode().splitlines()]
    assert [r.get("id") for r in rows][:3] == ["a", None, None] and rows[-1]["id"] == "z"
    assert len(rows) == 5 and "score" in rows[0] and "score" in rows[-1]
    assert rows[1] == {"id": None, "line": 2, "error": rows[1]["error"]} and "nested too deeply" in rows[1]["error"]
    assert rows[2]["line"] == 3 and "Traceback" not in result.stderr.decode()


def test_a_missing_input_file_exits_3_like_every_missing_input(tmp_path):
    assert_one_line_error(mleditor("predict", "--jsonl", str(tmp_path / "missing.jsonl")), 3, "cannot read")


def test_a_model_whose_meta_json_is_a_list_exits_4(tmp_path, tiny_model_dir):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(tiny_model_dir, copy)
    (copy / "meta.json").write_text("[]", encoding="utf-8")
    assert_one_line_error(mleditor("predict", "--model-dir", str(copy), "q"), 4, "not an object")
