"""measure_quality: a variant's ROC AUC, ECE and score differences beside the source, on the source's own split."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mleditor.core.registry import ModelDirectory
from mleditor.core.scorer import OnnxScorer
from mleditor.device.quality import LabelledQuestions, load_records, measure_quality
from mleditor.errors import DataError
from tests.helpers import REPO_ROOT


def test_the_source_measured_against_itself_differs_by_nothing(source_model: ModelDirectory,
                                                               real_questions: LabelledQuestions) -> None:
    quality = measure_quality(source_model, OnnxScorer.from_path(source_model.onnx_path).score, real_questions)
    split_sizes = source_model.meta["split_sizes"]
    assert quality.holdout is not None
    assert (quality.test.n, quality.holdout.n) == (split_sizes["test"], split_sizes["holdout"])
    assert quality.n_questions == sum(split_sizes.values())
    assert quality.max_abs_delta_score == quality.p99_abs_delta_score == 0.0
    assert quality.test.delta_roc_auc == quality.test.delta_ece == quality.holdout.delta_roc_auc == 0.0


def test_the_test_figures_are_those_the_model_card_records(source_model: ModelDirectory,
                                                           real_questions: LabelledQuestions) -> None:
    quality = measure_quality(source_model, OnnxScorer.from_path(source_model.onnx_path).score, real_questions)
    recorded = {row["set"]: row for row in source_model.meta["metrics"]["rows"] if row["model"].startswith("ML Editor v2")}
    assert quality.test.source_roc_auc == pytest.approx(recorded["test (author split)"]["roc_auc"], abs=1e-4)
    assert quality.test.source_ece == pytest.approx(recorded["test (author split)"]["ece"], abs=1e-4)


def test_a_moved_score_shows_in_the_differences_and_the_calibration(source_model: ModelDirectory,
                                                                    real_questions: LabelledQuestions) -> None:
    source = OnnxScorer.from_path(source_model.onnx_path).score

    def shifted(ids: np.ndarray, dense: np.ndarray) -> np.ndarray:
        return np.clip(source(ids, dense) + 0.05, 0.0, 1.0)

    quality = measure_quality(source_model, shifted, real_questions)
    assert quality.max_abs_delta_score == pytest.approx(0.05, abs=1e-6)
    assert quality.test.delta_roc_auc == pytest.approx(0.0, abs=1e-9)  # a monotone shift keeps the ranking
    assert quality.test.delta_ece != 0.0
    assert json.loads(json.dumps(quality.to_dict()))["delta_test_auc"] == pytest.approx(0.0, abs=1e-9)


def test_a_folder_without_dumps_is_a_data_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no dataset file or dumps"):
        load_records(tmp_path)


def test_measuring_quality_imports_no_torch() -> None:
    code = "import sys, mleditor.device.quality, mleditor.device.compress; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO_ROOT)
