"""Runners: how step 4 groups rows into model calls, and that grouping never changes a score."""

from __future__ import annotations

import numpy as np
import pytest

from mleditor.core.features import featurize
from mleditor.core.pipeline import Pipeline, model_input
from mleditor.core.registry import resolve_model
from mleditor.core.requests import PredictRequest
from mleditor.core.runners import BandedRunner, DirectRunner, model_batch, split_scores
from mleditor.core.scorer import OnnxScorer


@pytest.fixture(scope="module")
def model():
    return resolve_model(None)


@pytest.fixture(scope="module")
def score(model):
    return OnnxScorer.from_path(model.onnx_path).score


def inputs_for(model, questions, version="v3"):
    return [model_input(featurize(q["title"], q["body"]), version, model.typical_values) for q in questions]


def counting(score, calls):
    def counted(ids, dense):
        calls.append(ids.shape)
        return score(ids, dense)
    return counted


def test_one_model_call_per_width_band(model, score, questions):
    calls = []
    runner = BandedRunner(counting(score, calls))
    inputs = inputs_for(model, questions(50))
    scores = runner.score_inputs(inputs)
    widths = {runner.width(i.features.ngram_ids.size) for i in inputs}
    assert len(calls) == len(widths)
    assert all(ids[1] in widths and ids[1] % 32 == 0 for ids in calls)
    assert [len(s) for s in scores] == [len(i.dense) for i in inputs]


def test_band_width_rounds_up_to_a_multiple_of_32():
    runner = BandedRunner(lambda ids, dense: np.zeros(len(ids), np.float32))
    assert [runner.width(n) for n in (0, 1, 32, 33, 4096)] == [32, 32, 32, 64, 4096]
    assert np.all(np.diff([runner.width(n) for n in range(0, 5000, 7)]) >= 0)


def test_a_band_larger_than_max_cells_is_split_without_splitting_a_question(model, score, questions):
    calls = []
    inputs = inputs_for(model, questions(40))
    small = BandedRunner(counting(score, calls), max_cells=64 * 32).score_inputs(inputs)
    whole = BandedRunner(score).score_inputs(inputs)
    assert all(rows * width <= 64 * 32 or rows <= max(i.rows for i in inputs) for rows, width in calls)
    assert len(calls) > len({BandedRunner(score).width(i.features.ngram_ids.size) for i in inputs})
    assert [s.tolist() for s in small] == [s.tolist() for s in whole]


def test_a_banded_call_never_holds_a_single_row(model, score):
    calls = []
    only = inputs_for(model, [{"title": "Flat beer?", "body": "It has no bubbles."}], "v2")
    BandedRunner(counting(score, calls)).score_inputs(only)
    assert calls and all(rows >= 2 for rows, _ in calls)


def test_the_direct_runner_scores_every_row_in_one_call_padded_to_the_widest(model, score, questions):
    calls = []
    inputs = inputs_for(model, questions(5))
    scores = DirectRunner(counting(score, calls)).score_inputs(inputs)
    assert len(calls) == 1 and calls[0][0] == sum(i.rows for i in inputs)
    assert calls[0][1] == max(i.features.ngram_ids.size for i in inputs)
    assert [len(s) for s in scores] == [i.rows for i in inputs]


def test_model_batch_and_split_scores_round_trip(model, questions):
    inputs = inputs_for(model, questions(3))
    ids, dense = model_batch(inputs, width=7)
    assert ids.shape[0] == dense.shape[0] == sum(i.rows for i in inputs) and ids.shape[1] >= 7
    parts = split_scores(np.arange(len(dense), dtype=np.float32), inputs)
    assert [len(p) for p in parts] == [i.rows for i in inputs]


def test_the_pipeline_never_hands_v1_to_the_runner(model):
    def no_model(ids, dense):
        raise AssertionError("v1 must not call the model")

    pipeline = Pipeline(model, no_model)
    assert pipeline.run(PredictRequest("Flat beer?", "No bubbles.", version="v1")).prediction.model_version == "v1"
    answers = pipeline.run_many([PredictRequest("Flat beer?", "No bubbles.", version="v1")] * 3)
    assert [a.prediction.model_version for a in answers] == ["v1"] * 3
