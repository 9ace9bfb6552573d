"""The six pipeline steps, one by one, and chained."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from mleditor.core.features import featurize
from mleditor.core.pipeline import (
    AllowLocal,
    Caller,
    NoProfiles,
    Pipeline,
    PredictRequest,
    UserProfile,
    describe_confidence,
    gather,
    model_input,
    postprocess,
    preprocess,
    respond,
    run_model,
    validate,
)
from mleditor.core.prediction import Prediction
from mleditor.core.registry import load_model_directory
from mleditor.core.scorer import OnnxScorer
from mleditor.errors import AuthenticationError, InvalidInputError, ModelOutputError, PermissionDeniedError


def words(title: str, body: str) -> float:
    """The body's word count as the featurizer measures it (what the confidence caveats use)."""
    return featurize(title, body).dense_dict()["body_words"]


class OnlyV1:
    def authorize(self, api_key, version):
        if api_key is None:
            raise AuthenticationError("an API key is required")
        if version != "v1":
            raise PermissionDeniedError(f"this key may not call {version}")
        return Caller("key-1", frozenset({"v1"}))


class Profiles:
    def get_profile(self, user_id):
        return UserProfile(user_id, questions_asked=12, median_score=3.0) if user_id == "42" else None


@pytest.fixture(scope="module")
def model(tiny_model_dir):
    return load_model_directory(tiny_model_dir)


@pytest.fixture(scope="module")
def pipeline(model):
    return Pipeline(model, OnnxScorer.from_path(model.onnx_path).score)


REQUEST = PredictRequest("How do I brew a stout?", "I tried twice. It was thin. What should I change?", version="v3")


def test_validate_accepts_a_good_request_and_names_the_caller():
    valid = validate(REQUEST, AllowLocal())
    assert valid.caller.name == "local" and valid.question.title == REQUEST.title


def test_validate_refuses_a_missing_key_with_401_and_an_out_of_scope_version_with_403():
    with pytest.raises(PermissionDeniedError) as missing:
        validate(PredictRequest("t", "b", version="v1"), OnlyV1())
    assert isinstance(missing.value, AuthenticationError)
    with pytest.raises(PermissionDeniedError) as scope:
        validate(PredictRequest("t", "b", version="v3", api_key="k"), OnlyV1())
    assert not isinstance(scope.value, AuthenticationError)
    assert validate(PredictRequest("t", "b", version="v1", api_key="k"), OnlyV1()).caller.scopes == {"v1"}


def test_validate_refuses_unknown_versions_before_asking_for_permission():
    with pytest.raises(InvalidInputError, match="unknown model version"):
        validate(PredictRequest("t", "b", version="v9"), OnlyV1())


def test_validate_refuses_empty_questions():
    with pytest.raises(InvalidInputError):
        validate(PredictRequest(" ", "", version="v2"), AllowLocal())


def test_gather_finds_a_profile_and_treats_a_missing_one_as_normal():
    with_profile = gather(validate(PredictRequest("t", "b", user_id="42"), AllowLocal()), Profiles())
    assert with_profile.profile.questions_asked == 12
    assert gather(validate(PredictRequest("t", "b", user_id="7"), AllowLocal()), Profiles()).profile is None
    assert gather(validate(PredictRequest("t", "b"), AllowLocal()), NoProfiles()).profile is None


def test_preprocess_builds_one_row_for_v2_and_counterfactual_rows_for_v3(model):
    context = gather(validate(REQUEST, AllowLocal()), NoProfiles())
    v3 = preprocess(context, model.typical_values)
    assert v3.dense.shape[0] == 1 + len(v3.counterfactuals) and v3.ngram_ids.shape[0] == v3.dense.shape[0]
    v2 = model_input(v3.features, "v2", model.typical_values)
    assert v2.dense.shape[0] == 1 and v2.counterfactuals == []


def test_run_model_skips_the_model_for_v1(model):
    inputs = model_input(featurize("t", "b"), "v1", model.typical_values)
    assert run_model(inputs, lambda ids, dense: pytest.fail("v1 must not call the model")).size == 0


@pytest.mark.parametrize("bad", [np.nan, np.inf, -0.01, 1.01])
def test_postprocess_refuses_out_of_range_scores_and_logs_an_incident(model, bad, caplog):
    inputs = model_input(featurize("t", "b"), "v2", model.typical_values)
    with (caplog.at_level(logging.ERROR, logger="mleditor.incidents"),
          pytest.raises(ModelOutputError, match="request req-9")):
        postprocess(inputs, np.array([bad]), model, "req-9")
    assert "req-9" in caplog.text


def test_postprocess_refuses_a_wrong_number_of_scores(model):
    inputs = model_input(featurize("t", "b"), "v2", model.typical_values)
    with pytest.raises(ModelOutputError):
        postprocess(inputs, np.array([0.5, 0.5]), model)


def test_confidence_in_words_mentions_short_questions():
    label, text = describe_confidence(Prediction(0.81, "v2", "m"), words("t", "short body"))
    assert label == "likely well received" and text.startswith("likely well received (0.81)")
    assert "less sure for very short questions" in text
    assert describe_confidence(Prediction(0.2, "v2", "m"), words("t", " ".join(["word"] * 30)))[1] == (
        "unlikely to be well received (0.20)"
    )


def test_respond_carries_request_id_and_step_timings():
    result = respond(Prediction(0.5, "v2", "m"), words("t", "b"), "rid", {"validate": 0.1})
    payload = result.to_dict()
    assert payload["request_id"] == "rid" and payload["timings_ms"] == {"validate": 0.1}
    assert {"score", "recommendations", "model_version", "label", "confidence"} <= payload.keys()


def test_pipeline_runs_all_six_steps_and_times_them(pipeline):
    result = pipeline.run(REQUEST)
    assert set(result.timings_ms) == {"validate", "gather", "preprocess", "model", "postprocess"}
    assert 0 <= result.prediction.score <= 1
    assert result.request_id == REQUEST.request_id


def test_pipeline_gives_the_same_score_as_the_predictor(pipeline, model):
    from mleditor.core.predictor import Predictor
    from mleditor.core.records import Question

    direct = Predictor(model).predict(Question(REQUEST.title, REQUEST.body), "v3")
    assert pipeline.run(REQUEST).prediction.score == direct.score


def test_run_many_answers_each_request_in_place_and_returns_errors_for_the_bad_ones(pipeline):
    requests = [REQUEST, PredictRequest(" ", "", version="v2"), PredictRequest("t", "b", version="v1"),
                PredictRequest("t", "b", version="v9")]
    answers = pipeline.run_many(requests)
    assert [type(a).__name__ for a in answers] == ["PipelineResult", "InvalidInputError", "PipelineResult",
                                                   "InvalidInputError"]
    assert answers[0].prediction.score == pytest.approx(pipeline.run(REQUEST).prediction.score, abs=1e-6)
    assert list(answers[0].timings_ms) == ["validate", "gather", "preprocess", "model", "postprocess"]
    assert answers[0].content_hash and answers[0].request_id == REQUEST.request_id


def test_hooks_are_called_around_the_steps_and_a_known_answer_skips_steps_three_to_five(model):
    from mleditor.core.hooks import PipelineHooks
    from mleditor.core.requests import KnownAnswer

    calls = []

    class Remember(PipelineHooks):
        def after_validate(self, valid):
            calls.append("after_validate")

        def known_answer(self, context):
            calls.append("known_answer")
            return KnownAnswer(Prediction(0.7, "v2", model.model_id), "memo") if context.valid.request.user_id else None

        def after_respond(self, context, result):
            calls.append(f"after_respond:{result.source}")

    def no_model(ids, dense):
        raise AssertionError("a known answer must not reach the model")

    pipeline = Pipeline(model, no_model, hooks=[Remember()])
    result = pipeline.run(PredictRequest("t", "b", version="v2", user_id="u"))
    assert calls == ["after_validate", "known_answer", "after_respond:live"]
    assert result.prediction.score == 0.7 and list(result.timings_ms) == ["validate", "gather", "memo"]
