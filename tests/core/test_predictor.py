"""The predictor: v1/v2/v3 on one model directory, batch = one by one, v3 advice from one model call."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mleditor.core.predictor import Predictor
from mleditor.core.records import Question
from mleditor.core.registry import load_model_directory
from mleditor.errors import InvalidInputError, ModelError

QUESTIONS = [
    Question("How do I brew a citra IPA?", "I tried brewing with citra hops. It tasted bitter. What did I do wrong?"),
    Question("beer", "help!!! thanks"),
    Question("Why is my bread dense?", "```\ncode\n```\n\n- flour\n- water\n\nSee [this](https://x.org)."),
]


@pytest.fixture(scope="module")
def predictor(tiny_model_dir) -> Predictor:
    return Predictor(load_model_directory(tiny_model_dir))


@pytest.mark.parametrize("version", ["v1", "v2", "v3"])
def test_every_version_returns_a_probability_and_its_version(predictor, version):
    prediction = predictor.predict(QUESTIONS[0], version)
    assert 0.0 <= prediction.score <= 1.0
    assert prediction.model_version == version
    assert prediction.model_id == "tiny-test-model"


def test_v2_has_no_recommendations_and_v3_has_the_same_score(predictor):
    for question in QUESTIONS:
        v2 = predictor.predict(question, "v2")
        v3 = predictor.predict(question, "v3")
        assert v2.recommendations == []
        assert v3.score == pytest.approx(v2.score, abs=1e-6)


def test_batch_scores_equal_one_by_one_scores(predictor):
    batch = [p.score for p in predictor.predict_many(QUESTIONS, "v2")]
    single = [predictor.predict(q, "v2").score for q in QUESTIONS]
    assert batch == pytest.approx(single, abs=1e-6)


def test_v3_scores_all_counterfactuals_in_one_model_call(predictor, monkeypatch):
    calls = []
    original = predictor.scorer.score
    monkeypatch.setattr(predictor.scorer, "score", lambda ids, dense: calls.append(len(dense)) or original(ids, dense))
    predictor.predict(QUESTIONS[1], "v3")
    assert len(calls) == 1 and calls[0] > 1


def test_v3_recommendations_carry_positive_gains_sorted(predictor):
    recs = predictor.predict(QUESTIONS[1], "v3").recommendations
    gains = [r.gain for r in recs]
    assert all(g is not None and g > 0 for g in gains)
    assert gains == sorted(gains, reverse=True)


def test_v1_score_follows_the_rule_calibration(predictor):
    prediction = predictor.predict(QUESTIONS[1], "v1")
    assert prediction.score == [0.6, 0.5, 0.4, 0.3, 0.2, 0.15, 0.1][len(prediction.recommendations)]
    assert all(r.gain is None for r in prediction.recommendations)


def test_unknown_version_is_refused(predictor):
    with pytest.raises(InvalidInputError, match="choose one of v1, v2, v3"):
        predictor.predict(QUESTIONS[0], "v4")


def test_out_of_range_scores_are_refused_not_returned(predictor, monkeypatch):
    for bad in (np.nan, 1.5, -0.1, np.inf):
        monkeypatch.setattr(predictor.scorer, "score", lambda ids, dense, bad=bad: np.full(len(dense), bad, np.float32))
        with pytest.raises(ModelError, match="invalid score"):
            predictor.predict(QUESTIONS[0], "v2")


def test_prediction_json_has_score_recommendations_and_version(predictor):
    payload = json.loads(json.dumps(predictor.predict(QUESTIONS[1], "v3").to_dict()))
    assert {"score", "recommendations", "model_version", "model_id"} <= payload.keys()


def test_shipped_model_loads_and_scores_without_torch():
    shipped = Predictor.load()
    prediction = shipped.predict(QUESTIONS[0], "v3")
    assert 0 < prediction.score < 1
