"""`/editor/`: the in-browser editor's files, compressed as the browser accepts, under the editor's own policy."""

from __future__ import annotations

import re

import pytest

from mleditor.browser import site as site_module
from mleditor.browser.site import ORT_VERSION, runtime_missing
from mleditor.serve.editor import pick_encoding

WASM = f"/editor/ort-{ORT_VERSION}/ort-wasm-simd-threaded.wasm"
needs_runtime = pytest.mark.skipif(runtime_missing() is not None, reason=str(runtime_missing()))


@pytest.mark.anyio
@needs_runtime
async def test_the_editor_page_allows_wasm_and_its_worker_and_nothing_inline(make_client):
    async with make_client() as client:
        moved = await client.get("/editor")
        page = await client.get("/editor/")
    assert moved.status_code == 308 and moved.headers["location"] == "/editor/"
    policy = page.headers["content-security-policy"]
    assert "script-src 'self' 'wasm-unsafe-eval'" in policy and "worker-src 'self'" in policy
    assert "connect-src 'self'" in policy and page.headers["x-frame-options"] == "DENY"
    assert re.search(r"<script(?![^>]*\bsrc=)[^>]*>", page.text) is None and "<style" not in page.text
    assert "cross-origin-opener-policy" not in page.headers  # one wasm thread: no isolation needed


@pytest.mark.anyio
@needs_runtime
async def test_the_wasm_runtime_goes_out_brotli_or_gzip_with_a_long_cache(make_client):
    async with make_client() as client:
        br = await client.get(WASM, headers={"Accept-Encoding": "gzip, br"})
        plain = await client.get(WASM, headers={"Accept-Encoding": "identity"})
        missing = await client.get("/editor/nothing.js")
    assert br.headers["content-encoding"] == "br" and int(br.headers["content-length"]) < 3_000_000
    assert "immutable" in br.headers["cache-control"] and br.headers["vary"] == "Accept-Encoding"
    assert br.headers["content-type"] == "application/wasm"
    assert "content-encoding" not in plain.headers and plain.content[:4] == b"\0asm"
    assert missing.status_code == 404


@pytest.mark.anyio
async def test_without_npm_s_files_the_editor_answers_503_naming_the_command(make_client, monkeypatch, tmp_path):
    monkeypatch.setattr(site_module, "RUNTIME_DIR", tmp_path / "nothing")
    async with make_client() as client:
        answer = await client.get("/editor/")
    assert answer.status_code == 503 and "npm ci --prefix mleditor/browser" in answer.json()["error"]["message"]


@pytest.mark.parametrize(("accepted", "chosen"), [("gzip, deflate, br", "br"), ("gzip", "gzip"), ("br;q=0, gzip", "gzip"),
                                                  ("identity", None), ("", None), ("*", "br")])
def test_the_smallest_accepted_encoding_is_chosen(accepted, chosen):
    assert pick_encoding(accepted, {"br", "gzip"}) == chosen
