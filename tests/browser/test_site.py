"""The editor's static site: what `build_site` assembles, `mleditor browser export` writes and `/editor/` serves."""

from __future__ import annotations

import hashlib
import json

import pytest

from mleditor.browser import site as site_module
from mleditor.browser.export import export_site
from mleditor.browser.site import ORT_VERSION, build_site, runtime_missing
from mleditor.errors import InvalidInputError, MissingExtraError
from tests.helpers import run_mleditor


@pytest.fixture
def runtime() -> None:
    missing = runtime_missing()
    if missing:
        pytest.skip(missing)


@pytest.mark.usefixtures("runtime")
def test_the_site_holds_the_page_runtime_model_and_a_worker_caching_the_default_variant():
    site = build_site(["int8", "fp32"])
    assert {"", "sw.js", "manifest.webmanifest", "pipeline.js", f"ort-{ORT_VERSION}/ort-wasm-simd-threaded.wasm",
            "model/int8/model.onnx", "model/fp32/model.onnx"} <= set(site.files)
    worker = site.files["sw.js"].content.decode()
    assert site.version in worker and "model/int8/model.onnx" in worker and "model/fp32/" not in worker
    assert b'data-variants="int8 fp32"' in site.files[""].content


@pytest.mark.usefixtures("runtime")
def test_every_model_file_matches_the_sha256_its_manifest_records():
    site = build_site(["int8", "fp32"])
    for variant in ("int8", "fp32"):
        manifest = json.loads(site.files[f"model/{variant}/manifest.json"].content)
        for name in ("model.onnx", "meta.json"):
            content = site.files[f"model/{variant}/{name}"].content
            assert hashlib.sha256(content).hexdigest() == manifest["files"][name]["sha256"]


@pytest.mark.usefixtures("runtime")
def test_the_wasm_runtime_goes_out_compressed_to_under_a_fifth():
    wasm = build_site(["int8"]).files[f"ort-{ORT_VERSION}/ort-wasm-simd-threaded.wasm"]
    assert min(len(data) for data in wasm.encoded.values()) < len(wasm.content) / 4


def test_without_npm_s_files_the_site_says_which_command_installs_them(monkeypatch, tmp_path):
    monkeypatch.setattr(site_module, "RUNTIME_DIR", tmp_path / "nothing")
    with pytest.raises(MissingExtraError, match=r"npm ci --prefix mleditor/browser"):
        build_site()


def test_an_unknown_variant_is_refused_naming_the_ones_there_are():
    with pytest.raises(InvalidInputError, match="expected one of int8, fp32"):
        build_site(["fp16"])


@pytest.mark.usefixtures("runtime")
def test_export_writes_a_static_site_and_refuses_a_folder_it_did_not_write(tmp_path):
    done = export_site(tmp_path / "site", ["int8"])
    assert (done.path / "index.html").is_file() and (done.path / "sw.js").is_file()
    assert (done.path / f"ort-{ORT_VERSION}" / "ort-wasm-simd-threaded.wasm.br").is_file()
    export_site(tmp_path / "site", ["int8"])  # an earlier export is replaced
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(InvalidInputError, match="not empty"):
        export_site(tmp_path / "other")


@pytest.mark.usefixtures("runtime")
def test_the_export_command_prints_one_line_and_an_unknown_variant_exits_with_one_line(tmp_path):
    done = run_mleditor("browser", "export", str(tmp_path / "site"), "--variant", "fp32")
    assert done.returncode == 0, done.stderr
    assert "variants fp32" in done.stdout
    wrong = run_mleditor("browser", "export", str(tmp_path / "bad"), "--variant", "fp16")
    assert wrong.returncode != 0 and len(wrong.stderr.strip().splitlines()) == 1
