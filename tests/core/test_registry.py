"""Model directories: missing, incomplete and incompatible ones get one clear error each."""

from __future__ import annotations

import json
import shutil

import pytest

from mleditor.core.registry import list_models, load_model_directory, resolve_model
from mleditor.errors import ModelError
from tests.helpers import write_model_dir


def test_missing_model_directory_names_the_fix(tmp_path):
    with pytest.raises(ModelError, match="not found; `mleditor models list`"):
        load_model_directory(tmp_path / "nope")


def test_directory_without_meta_is_not_a_model(tmp_path):
    with pytest.raises(ModelError, match="not a model directory"):
        load_model_directory(tmp_path)


def test_model_trained_with_another_featurizer_spec_is_refused(tmp_path):
    path = write_model_dir(tmp_path / "old", featurizer_spec="0.9")
    with pytest.raises(ModelError, match=r"featurizer spec 0.9 but this mleditor implements spec 1.0"):
        load_model_directory(path)


def test_model_with_other_dense_features_is_refused(tmp_path):
    path = write_model_dir(tmp_path / "odd", dense_features=["a", "b"])
    with pytest.raises(ModelError, match="expects other features"):
        load_model_directory(path)


def test_missing_onnx_file_is_reported(tmp_path, tiny_model_dir):
    copy = tmp_path / "copy"
    shutil.copytree(tiny_model_dir, copy)
    (copy / "model.onnx").unlink()
    with pytest.raises(ModelError, match=r"has no model.onnx"):
        load_model_directory(copy)


def test_corrupt_meta_is_reported(tmp_path, tiny_model_dir):
    copy = tmp_path / "copy"
    shutil.copytree(tiny_model_dir, copy)
    (copy / "meta.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(ModelError, match="cannot be read"):
        load_model_directory(copy)


def test_models_are_found_by_id_in_mledtior_models(tmp_path, monkeypatch, tiny_model_dir):
    shutil.copytree(tiny_model_dir, tmp_path / "mine")
    meta = json.loads((tmp_path / "mine" / "meta.json").read_text())
    meta["model_id"] = "mine"
    (tmp_path / "mine" / "meta.json").write_text(json.dumps(meta))
    monkeypatch.setenv("MLEDITOR_MODELS", str(tmp_path))
    assert resolve_model("mine").model_id == "mine"
    assert "mine" in [m.model_id for m in list_models() if not isinstance(m, tuple)]


def test_default_resolves_to_the_shipped_model():
    model = resolve_model()
    assert model.onnx_path.stat().st_size < 5 * 1024 * 1024
    assert (model.path / "card.md").read_text().count("CC BY-SA") >= 1


def test_a_model_without_training_ranges_loads_and_skips_the_unusual_input_check(tiny_model_dir):
    from mleditor.core.pipeline import Pipeline, PredictRequest
    from mleditor.core.scorer import OnnxScorer

    model = load_model_directory(tiny_model_dir)
    assert "dense_ranges" not in model.meta and model.dense_ranges is None
    answer = Pipeline(model, OnnxScorer.from_path(model.onnx_path).score).run(PredictRequest("Q?", "a" * 50_000))
    assert answer.to_dict()["out_of_distribution"] == [] and "unlike the training" not in answer.confidence


def test_broken_training_ranges_are_refused_with_the_fix(tmp_path):
    path = write_model_dir(tmp_path / "broken", dense_ranges={"questions": 10, "features": {"links": {"min": 0}}})
    with pytest.raises(ModelError, match=r"dense_ranges needs min, q001, q999 and max .*; retrain"):
        load_model_directory(path)


def test_the_shipped_model_keeps_its_training_ranges_and_its_card_says_so():
    model = resolve_model()
    assert model.dense_ranges is not None and model.dense_ranges.questions == model.meta["split_sizes"]["train"]
    assert model.meta["dense_ranges"]["quantiles"] == [0.001, 0.999]
    card = (model.path / "card.md").read_text()
    assert "`dense_ranges` keeps each dense feature's minimum, 0.1 % and 99.9 % quantiles" in card
    assert f"{model.dense_ranges.questions:,} training questions" in card


@pytest.mark.parametrize("meta", ["[1, 2, 3]", '"a string"', "42", "null", "[" * 100_000 + "]" * 100_000])
def test_a_meta_json_that_is_not_an_object_is_a_model_error(tmp_path, tiny_model_dir, meta):
    copy = tmp_path / "copy"
    shutil.copytree(tiny_model_dir, copy)
    (copy / "meta.json").write_text(meta, encoding="utf-8")
    with pytest.raises(ModelError, match=r"meta\.json (holds a JSON|cannot be read).*retrain"):
        load_model_directory(copy)


@pytest.mark.parametrize("field, value", [("typical_values", [1, 2]), ("typical_values", {"body_words": "many"}),
                                          ("v1_calibration", {"a": 1}), ("dense_features", 7)])
def test_meta_fields_of_the_wrong_type_are_a_model_error(tmp_path, field, value):
    path = write_model_dir(tmp_path / "odd", **{field: value})
    with pytest.raises(ModelError, match="retrain"):
        load_model_directory(path)
