"""Personal model parts: kept inside the model directory, checked at load, served exactly by step 4."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from mleditor.core.features import featurize_many
from mleditor.core.personal import PersonalScorer, add_personal, head_scores, load_personal
from mleditor.core.pipeline import Pipeline
from mleditor.core.registry import load_model_directory
from mleditor.core.requests import PredictRequest
from mleditor.core.scorer import OnnxScorer, pad_ngram_ids
from mleditor.errors import ModelError
from mleditor.training.calibration import apply_platt
from tests.helpers import GOOD_QUESTION, PERSONAL_CALIBRATION, PERSONAL_HEADS, make_questions, write_model_dir

AUTHOR = "beer:user:7"


@pytest.fixture(scope="module")
def model(personal_model_dir):
    return load_model_directory(personal_model_dir)


@pytest.fixture(scope="module")
def pipeline(model):
    scorer = OnnxScorer.from_path(model.onnx_path)
    return Pipeline(model, scorer.score, personal=PersonalScorer.for_model(model, scorer.logit))


@pytest.fixture
def copy_of(tmp_path, personal_model_dir):
    """copy_of() -> a copy of the personal model directory to break."""
    return lambda: Path(shutil.copytree(personal_model_dir, tmp_path / "model"))


def logits_of(model, questions):
    features = featurize_many([q["title"] for q in questions], [q["body"] for q in questions], normalized=False)
    ids = pad_ngram_ids([f.ngram_ids for f in features])
    dense = np.stack([f.dense for f in features]).astype(np.float32)
    return OnnxScorer.from_path(model.onnx_path).logit(ids, dense).astype(np.float64)


def test_the_parts_live_inside_the_model_directory_recorded_with_their_checksum(model):
    entry = model.meta["personal"]
    assert entry["file"] == "personal.json" and entry["kind"] == "head" and entry["authors"] == 2
    assert (model.path / "personal.json").is_file() and len(entry["sha256"]) == 64
    parts = load_personal(model)
    assert parts is not None and parts.model_id == model.model_id and dict(parts.authors) == PERSONAL_HEADS


def test_a_head_is_the_federated_formula_apply_heads_then_platt_within_1e_6(model):
    questions = make_questions(40, seed=3)
    logits = logits_of(model, questions)
    authors = np.array([AUTHOR, "beer:user:8", "beer:user:999", AUTHOR] * 10)
    # personalize.apply_heads: the global logit plus the author's bias (0 without one), then Platt.
    offsets = np.array([PERSONAL_HEADS.get(a, 0.0) for a in authors])
    expected = apply_platt(logits + offsets, *PERSONAL_CALIBRATION)
    served = np.array([head_scores(logits[i:i + 1], PERSONAL_HEADS.get(a, 0.0), *PERSONAL_CALIBRATION)[0]
                       for i, a in enumerate(authors)])
    assert np.max(np.abs(served - expected)) < 1e-6


def test_a_head_agrees_with_the_federated_apply_heads_itself(model):
    pytest.importorskip("flwr")
    from mleditor.federated.personalize import apply_heads

    logits = logits_of(model, make_questions(20, seed=4))
    authors = np.array([AUTHOR, "beer:user:8"] * 10)
    expected = apply_platt(apply_heads(logits, authors, PERSONAL_HEADS), *PERSONAL_CALIBRATION)
    served = np.concatenate([head_scores(logits[i:i + 1], PERSONAL_HEADS[a], *PERSONAL_CALIBRATION)
                             for i, a in enumerate(authors)])
    assert np.max(np.abs(served - expected)) < 1e-6


def test_the_authors_request_is_personalized_and_says_so_and_others_get_the_global_score(pipeline):
    global_answer = pipeline.run(PredictRequest(**GOOD_QUESTION, version="v2"))
    mine = pipeline.run(PredictRequest(**GOOD_QUESTION, version="v2", author=AUTHOR))
    stranger = pipeline.run(PredictRequest(**GOOD_QUESTION, version="v2", author="beer:user:999"))
    assert mine.to_dict()["personalized"] is True and mine.to_dict()["personalization"] == "head"
    assert global_answer.to_dict()["personalized"] is False and global_answer.to_dict()["personalization"] is None
    assert stranger.prediction.score == global_answer.prediction.score and stranger.prediction.personal is None
    assert mine.prediction.score > global_answer.prediction.score  # a positive bias, a positive Platt slope


def test_v3_advice_is_computed_from_the_personalized_scores(pipeline, model):
    v2 = pipeline.run(PredictRequest(**GOOD_QUESTION, version="v2", author=AUTHOR)).prediction
    v3 = pipeline.run(PredictRequest(**GOOD_QUESTION, version="v3", author=AUTHOR)).prediction
    glob = pipeline.run(PredictRequest(**GOOD_QUESTION, version="v3")).prediction
    assert abs(v3.score - v2.score) < 1e-6 and v3.personal is not None
    assert [r.gain for r in v3.recommendations] != [r.gain for r in glob.recommendations]


def test_v1_uses_rules_only_so_it_is_never_personalized(pipeline):
    assert pipeline.run(PredictRequest(**GOOD_QUESTION, version="v1", author=AUTHOR)).prediction.personal is None


def test_a_chunk_mixing_authors_scores_each_as_alone(pipeline):
    authors = [AUTHOR, None, "beer:user:8", "beer:user:999"]
    questions = make_questions(4, seed=5)
    together = pipeline.run_many([PredictRequest(q["title"], q["body"], version="v3", author=a)
                                  for q, a in zip(questions, authors)])
    for answer, question, author in zip(together, questions, authors):
        alone = pipeline.run(PredictRequest(question["title"], question["body"], version="v3", author=author))
        assert abs(answer.prediction.score - alone.prediction.score) < 1e-6  # type: ignore[union-attr]


def test_a_corrupted_personal_file_is_refused_at_load_with_a_clear_message(copy_of):
    path = copy_of()
    data = (path / "personal.json").read_text(encoding="utf-8").replace("0.8", "0.9")
    (path / "personal.json").write_text(data, encoding="utf-8")
    with pytest.raises(ModelError, match=r"does not match the sha256 in meta\.json"):
        load_personal(load_model_directory(path))


def test_a_missing_personal_file_is_refused_at_load(copy_of):
    path = copy_of()
    (path / "personal.json").unlink()
    with pytest.raises(ModelError, match=r"personal parts .* are missing"):
        load_personal(load_model_directory(path))


@pytest.mark.parametrize(("authors", "message"), [
    ({"beer:user:7": float("nan")}, "not a finite number"),
    ({"beer:user:7": "0.5"}, "must be a number"),
    ({"beer:user:7": True}, "must be a number"),
])
def test_a_part_with_a_bad_value_is_refused_when_written_and_when_loaded(tmp_path, authors, message):
    path = write_model_dir(tmp_path / "m")
    with pytest.raises(ModelError, match=message):
        add_personal(path, "head", authors)


def test_parts_of_another_model_are_refused(copy_of):
    path = copy_of()
    document = json.loads((path / "personal.json").read_text(encoding="utf-8"))
    document["model_id"] = "someone-else"
    data = json.dumps(document).encode()
    (path / "personal.json").write_bytes(data)
    meta = json.loads((path / "meta.json").read_text(encoding="utf-8"))
    meta["personal"]["sha256"] = hashlib.sha256(data).hexdigest()  # intact, but another model's
    (path / "meta.json").write_text(json.dumps(meta), encoding="utf-8")
    with pytest.raises(ModelError, match="personal parts of model 'someone-else', not of"):
        load_personal(load_model_directory(path))


def test_finetune_parts_of_the_wrong_shape_are_refused(tmp_path):
    path = write_model_dir(tmp_path / "m")
    with pytest.raises(ModelError, match="wrong shape"):
        add_personal(path, "finetune", {AUTHOR: {"w1": [[0.0] * 3] * 4, "b1": [0.0] * 3, "w2": [0.0] * 3,
                                                 "b2": 0.0}})


def test_valid_finetune_parts_are_refused_at_load_because_they_cannot_be_served_without_torch(tmp_path):
    path = write_model_dir(tmp_path / "m")
    rows = 4 + 24
    add_personal(path, "finetune", {AUTHOR: {"w1": [[0.1] * 8] * rows, "b1": [0.0] * 8, "w2": [0.1] * 8,
                                             "b2": 0.0}})
    model = load_model_directory(path)
    assert load_personal(model) is not None  # checked and readable...
    with pytest.raises(ModelError, match=r"kind 'finetune'.*cannot serve"):  # ...but not servable
        PersonalScorer.for_model(model, OnnxScorer.from_path(model.onnx_path).logit)


def test_a_model_without_parts_has_no_personal_scorer(tiny_model_dir):
    model = load_model_directory(tiny_model_dir)
    assert PersonalScorer.for_model(model, OnnxScorer.from_path(model.onnx_path).logit) is None
