"""The browser's score is Python's: 200 real questions through `window.mleditorEditor.score` on /editor.

Node (tests/browser/parity.test.mjs) first loads the page and saves the model file it fetched; Python
scores the questions with that very file (`OnnxScorer`, with the meta.json the page fetched) and writes its answers to a JSON file; Node scores them in the page and compares:
the score within 1e-5, v3's recommendations the same features in the same order. A question whose
Python gains lie within the tolerance of MIN_GAIN, of a rounding step or of each other may order
either way; it is counted, not failed, and must stay rare.

Needs node, /usr/bin/chromium, `npm ci` in tests/browser and the Stack Exchange dumps; skips without
them, except in CI where a missing browser piece is a failure.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mleditor.core.features import featurize_normalized
from mleditor.core.ingest import iter_dump_questions
from mleditor.core.pipeline import model_input, run_model
from mleditor.core.predictor import Predictor
from mleditor.core.recommend import MIN_GAIN
from mleditor.core.records import Question
from mleditor.core.registry import ModelDirectory
from mleditor.core.scorer import OnnxScorer
from mleditor.core.validation import prepare_question
from mleditor.errors import InvalidInputError
from tests.helpers import chromium_missing, skip_unless_present, start_server, stop_server

HERE = Path(__file__).parent
RUNTIME = HERE.parents[1] / "mleditor" / "browser" / "node_modules" / "onnxruntime-web"
EDITOR_PATH = "/editor/"  # the page's ?variant= picks the model (int8 is the default)
N_QUESTIONS = 200
TOLERANCE = 1e-5
GAIN_TOLERANCE = 2 * TOLERANCE  # a gain is the difference of two scores
ROUNDING_STEP = 1e-4  # gains are rounded to 4 decimals before they are sorted
NODE_TIMEOUT_S = 240
MAX_BORDERLINE = N_QUESTIONS // 20


@pytest.fixture
def browser_ready() -> None:
    missing = chromium_missing(editor_runtime=True)
    if missing is None and not (RUNTIME / "package.json").is_file():
        missing = "onnxruntime-web is not installed, so /editor cannot score (npm ci --prefix mleditor/browser)"
    skip_unless_present(missing, "the browser parity test")


def real_questions(dump_dirs: list[Path], count: int) -> list[dict[str, Any]]:
    """`count` questions the server accepts, taken in turn from every site (file order), with their keys."""
    def accepted(folder: Path) -> Iterator[dict[str, Any]]:
        for record in iter_dump_questions(folder, on_warning=lambda _: None):
            try:
                prepare_question(record.title, record.body, body_format="markdown")
            except InvalidInputError:
                continue
            yield {"key": f"{record.site}/{record.id}", "title": record.title, "body": record.body}

    sites = [accepted(folder) for folder in dump_dirs]
    turns = (question for row in itertools.zip_longest(*sites) for question in row if question is not None)
    unique = {question["key"]: question for question in itertools.islice(turns, 2 * count)}  # ai and ai-2017 overlap
    return list(unique.values())[:count]


def _borderline(gains: np.ndarray) -> bool:
    """Whether float noise of GAIN_TOLERANCE could change which gains pass MIN_GAIN or how they sort."""
    live = np.sort(gains[gains >= MIN_GAIN - GAIN_TOLERANCE])
    if np.any(np.abs(live - MIN_GAIN) < GAIN_TOLERANCE) or np.any(np.diff(live) < GAIN_TOLERANCE):
        return True
    steps = live / ROUNDING_STEP
    near_half_step = np.abs(steps - np.floor(steps) - 0.5) * ROUNDING_STEP < GAIN_TOLERANCE
    has_neighbour = np.array([np.sum(np.abs(live - gain) <= ROUNDING_STEP) > 1 for gain in live], dtype=bool)
    return bool(np.any(near_half_step & has_neighbour))


def expected_answers(questions: list[dict[str, Any]], model_file: Path, model: ModelDirectory) -> dict[str, Any]:
    """Python's v3 answers with `model_file`, and which recommendation orders are borderline."""
    scorer = OnnxScorer.from_path(model_file, threads=1)
    predictor = Predictor(model, scorer=scorer)
    answers = []
    for question in questions:
        prediction = predictor.predict(Question(question["title"], question["body"]), "v3", body_format="markdown")
        answers.append({**question, "score": prediction.score,
                        "recommendations": {"features": [rec.feature for rec in prediction.recommendations],
                                            "borderline": _borderline(_gains(question, model, scorer))}})
    return {"model_sha256": hashlib.sha256(model_file.read_bytes()).hexdigest(), "questions": answers}


def _gains(question: dict[str, Any], model: ModelDirectory, scorer: OnnxScorer) -> np.ndarray:
    """Every counterfactual's unrounded gain over the question's own score."""
    valid = prepare_question(question["title"], question["body"], body_format="markdown")
    rows = model_input(featurize_normalized(valid.title, valid.body), "v3", model.typical_values)
    scores = np.asarray(run_model(rows, scorer.score), dtype=np.float64)
    gains: np.ndarray = scores[1:] - scores[0]
    return gains


def _node(env: dict[str, str]) -> dict[str, Any]:
    result = subprocess.run(["node", "parity.test.mjs"], cwd=HERE, capture_output=True, text=True,
                            timeout=NODE_TIMEOUT_S, env={**os.environ, **env})
    assert result.returncode == 0, result.stderr + result.stdout
    summary: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return summary


def _page_model(capture: Path) -> tuple[Path, ModelDirectory]:
    """The model file and the meta.json (typical values, ranges) the page fetched, as Python's model directory."""
    files = json.loads((capture / "capture.json").read_text(encoding="utf-8"))["files"]
    model_file = next(capture / f["name"] for f in files if f["name"].endswith((".onnx", ".ort")))
    meta = capture / "meta.json"
    assert meta.is_file(), f"the page fetched no meta.json: {files}"
    return model_file, ModelDirectory(capture, json.loads(meta.read_text(encoding="utf-8")))


@pytest.mark.slow
@pytest.mark.data
@pytest.mark.parametrize("variant", ["int8", "fp32"])
def test_the_browser_scores_200_real_questions_as_python_does_with_the_same_model_file(
        browser_ready, real_dump_dirs, tmp_path, variant):
    questions = real_questions(real_dump_dirs, N_QUESTIONS)
    assert len(questions) == N_QUESTIONS, f"only {len(questions)} usable questions in the dumps"
    page = {"EDITOR_PATH": f"{EDITOR_PATH}?variant={variant}"}
    server, url = start_server(tmp_path)
    try:
        capture = tmp_path / "capture"
        _node({"MLEDITOR_URL": url, "PARITY_CAPTURE": str(capture), **page})
        model_file, model = _page_model(capture)
        expected = tmp_path / "expected.json"
        expected.write_text(json.dumps(expected_answers(questions, model_file, model)), encoding="utf-8")
        summary = _node({"MLEDITOR_URL": url, "PARITY_EXPECTED": str(expected), **page})
    finally:
        stop_server(server)
    assert summary["variant"] == variant, summary
    assert summary["questions"] == N_QUESTIONS and summary["misses"] == 0, summary
    assert summary["max_abs_delta_score"] <= TOLERANCE, summary
    assert summary["borderline_orders"] <= MAX_BORDERLINE, summary
