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
