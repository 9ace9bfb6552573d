"""A bundle records every file's hash and what it was built from, and is refused, in one line, when it cannot run."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pytest

from mleditor.core.features import SPEC_VERSION
from mleditor.core.records import Question
from mleditor.device.bundle import FORMAT, MANIFEST_FILE, load_bundle, sha256_of, write_bundle
from mleditor.device.variants import BuiltVariant
from mleditor.errors import ModelError
from tests.helpers import run_mleditor


def _edit_manifest(bundle: Path, **changes: object) -> None:
    manifest = json.loads((bundle / MANIFEST_FILE).read_text())
    manifest.update(changes)
    (bundle / MANIFEST_FILE).write_text(json.dumps(manifest))


def test_a_bundle_records_every_file_its_source_and_the_featurizer_spec(fp32_bundle, source_model):
    manifest = fp32_bundle.manifest
    assert manifest["format"] == FORMAT and manifest["featurizer_spec"] == SPEC_VERSION
    assert manifest["source_model_id"] == source_model.model_id
    assert fp32_bundle.model.model_id == f"{source_model.model_id}+fp32"
    assert set(manifest["files"]) == {"model.onnx", "meta.json", "card.md"}
    for name, entry in manifest["files"].items():
        assert entry == {"sha256": sha256_of(fp32_bundle.path / name), "bytes": (fp32_bundle.path / name).stat().st_size}
    assert "CC BY-SA" in (fp32_bundle.path / "card.md").read_text()  # the source's card, with its data credit


def test_a_missing_folder_is_refused_with_how_to_build_one(tmp_path):
    with pytest.raises(ModelError, match="not found; build one with `mleditor device build"):
        load_bundle(tmp_path / "nowhere")


def test_a_folder_without_a_manifest_is_not_a_bundle(tmp_path):
    (tmp_path / "model.onnx").write_bytes(b"\x08\x08")
    with pytest.raises(ModelError, match=r"has no manifest\.json: it is not a bundle"):
        load_bundle(tmp_path)


def test_a_partial_bundle_is_refused(fp32_bundle):
    (fp32_bundle.path / "model.onnx").unlink()
    with pytest.raises(ModelError, match=r"is missing model.onnx \(partial copy\?\)"):
        load_bundle(fp32_bundle.path)


def test_an_altered_file_is_refused_by_its_hash(fp32_bundle):
    meta = fp32_bundle.path / "meta.json"
    meta.write_text(meta.read_text().replace('"platt"', '"PLATT"'))  # same size, other bytes
    with pytest.raises(ModelError, match=r"meta\.json does not match its manifest"):
        load_bundle(fp32_bundle.path)


def test_a_manifest_of_a_newer_format_asks_for_a_newer_mleditor(fp32_bundle):
    _edit_manifest(fp32_bundle.path, format=FORMAT + 1)
    with pytest.raises(ModelError, match="made by a newer mleditor"):
        load_bundle(fp32_bundle.path)


def test_a_bundle_for_another_featurizer_spec_is_refused(fp32_bundle):
    _edit_manifest(fp32_bundle.path, featurizer_spec="0.9")
    with pytest.raises(ModelError, match=f"needs featurizer spec 0.9 but this mleditor implements {SPEC_VERSION}"):
        load_bundle(fp32_bundle.path)


def test_a_manifest_naming_a_file_outside_the_bundle_is_refused(fp32_bundle):
    manifest = json.loads((fp32_bundle.path / MANIFEST_FILE).read_text())
    manifest["files"]["../meta.json"] = manifest["files"].pop("card.md")
    (fp32_bundle.path / MANIFEST_FILE).write_text(json.dumps(manifest))
    with pytest.raises(ModelError, match="names a file outside the bundle"):
        load_bundle(fp32_bundle.path)


@pytest.mark.parametrize("name, content", [("model.onnx", b"not a model at all"), ("model.tflite", b"\x08" * 64)])
def test_a_model_file_that_is_not_its_kind_is_refused(fp32_bundle, name, content):
    path = fp32_bundle.path
    (path / "model.onnx").unlink()
    (path / name).write_bytes(content)
    manifest = json.loads((path / MANIFEST_FILE).read_text())
    manifest["files"].pop("model.onnx")
    manifest["files"][name] = {"sha256": sha256_of(path / name), "bytes": len(content)}
    manifest["model_file"] = name
    (path / MANIFEST_FILE).write_text(json.dumps(manifest))
    with pytest.raises(ModelError, match=f"is not a {Path(name).suffix[1:].upper()} model"):
        load_bundle(path)


def test_building_into_a_folder_that_holds_something_else_is_refused(tmp_path, source_model):
    from tests.device.conftest import fp32_bundle_at

    (tmp_path / "mine.txt").write_text("keep me")
    with pytest.raises(ModelError, match="is not empty and holds no bundle"):
        fp32_bundle_at(tmp_path, source_model)
    assert (tmp_path / "mine.txt").read_text() == "keep me"


def test_rebuilding_a_bundle_replaces_it(tmp_path, source_model):
    from tests.device.conftest import fp32_bundle_at

    first = fp32_bundle_at(tmp_path / "b", source_model)
    (first.path / "stray.txt").write_text("old")
    second = fp32_bundle_at(tmp_path / "b", source_model)
    assert not (second.path / "stray.txt").exists()


@pytest.mark.parametrize("args, code, message", [
    (["device", "predict", "--bundle", "{missing}", "--title", "x"], 4, "not found; build one"),
    (["device", "predict", "--bundle", "{altered}", "--title", "x"], 4, "does not match its manifest"),
    (["device", "build", "--variant", "no-such-variant", "--output", "{out}"], 2, "unknown device variant"),
    (["device", "build", "--variant", "fp32", "--keep", "0", "--output", "{out}"], 2, r"--keep must be a percentage in \(0, 100\]"),
    (["device", "build", "--variant", "fp32", "--keep", "101", "--output", "{out}"], 2, r"--keep must be a percentage in \(0, 100\]"),
    (["device", "report", "--bundles", "{out}"], 2, "no bundles under"),
])
def test_bad_bundles_and_options_get_one_line_and_the_exit_code_of_their_class(tmp_path, fp32_bundle, args, code,
                                                                               message):
    import re

    altered = tmp_path / "altered"
    shutil.copytree(fp32_bundle.path, altered)
    with open(altered / "model.onnx", "ab") as handle:
        handle.write(b"\0")
    (tmp_path / "out").mkdir()
    paths = {"missing": str(tmp_path / "missing"), "altered": str(altered), "out": str(tmp_path / "out")}
    result = run_mleditor(*(arg.format(**paths) for arg in args))
    assert result.returncode == code, result.stderr
    assert re.search(message, result.stderr) and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_bundle_carries_one_authors_part_only_when_asked(tmp_path, personal_model_dir):
    from mleditor.core.registry import load_model_directory
    from mleditor.device.runtime import load_predictor

    source = load_model_directory(personal_model_dir)
    built = BuiltVariant("fp32", source.onnx_path, "onnxruntime", "the source model as it is")
    plain = write_bundle(source, built, tmp_path / "plain", quality=None, max_abs_delta_score=0.0)
    assert plain.author is None and "personal" not in plain.model.meta and not (plain.path / "personal.json").exists()
    mine = write_bundle(source, built, tmp_path / "mine", quality=None, max_abs_delta_score=0.0, author="beer:user:7")
    assert mine.author == "beer:user:7" and mine.model.meta["personal"]["authors"] == 1
    assert load_predictor(mine.path).predict(Question("Flat beer?", "It has no bubbles at all."), "v2").personal
    with pytest.raises(ModelError, match="no personal part in model"):
        write_bundle(source, built, tmp_path / "other", quality=None, max_abs_delta_score=0.0, author="beer:user:1")
    recalibrated = dataclasses.replace(built, name="pruned-10", calibration={"method": "platt", "a": 1.0, "b": 0.0})
    with pytest.raises(ModelError, match="cannot apply a personal part"):
        write_bundle(source, recalibrated, tmp_path / "pruned", quality=None, max_abs_delta_score=0.0,
                     author="beer:user:7")
