"""Security headers: a Content-Security-Policy, nosniff, no framing and no referrer on every HTML page; a route may
bring its own policy."""

from __future__ import annotations

import base64
import doctest
import hashlib
import re

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse

import mleditor.serve.middleware
from mleditor.serve.middleware import SecurityHeadersMiddleware, content_security_policy
from mleditor.serve.pages import page

pytestmark = pytest.mark.anyio
EDITOR_CSP = content_security_policy(script_src="'self' 'wasm-unsafe-eval'", worker_src="'self'")


def _assert_html_headers(response: httpx.Response) -> None:
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]


async def test_every_page_and_page_error_carries_the_default_policy_and_headers(make_client):
    async with make_client() as client:
        pages = [await client.get("/"), await client.get("/v1"),
                 await client.post("/v3", data={"title": "how 2 fix??", "body": "it doesnt work"}),
                 await client.post("/v2", data={"title": "", "body": ""}),
                 await client.get("/nowhere", headers={"Accept": "text/html"})]
    assert [p.status_code for p in pages] == [200, 200, 200, 422, 404]
    for response in pages:
        _assert_html_headers(response)
        assert response.headers["Content-Security-Policy"] == content_security_policy()
        assert "script-src 'self'" in response.headers["Content-Security-Policy"]


async def test_the_pages_need_nothing_the_policy_forbids(make_client):
    async with make_client() as client:
        result = await client.post("/v3", data={"title": "how 2 fix??", "body": "it doesnt work"})
        script = await client.get("/static/page.js")
    assert 'id="score"' in result.text
    assert re.search(r"<script(?![^>]*\bsrc=)[^>]*>", result.text) is None  # no inline script
    assert re.search(r"\sstyle=", result.text) is None and "<style" not in result.text  # no inline style
    assert script.status_code == 200 and script.headers["content-type"].startswith("text/javascript")
    assert "Scoring" in script.text


async def test_json_answers_are_nosniff_without_a_page_policy(make_client, question):
    async with make_client() as client:
        answer = await client.post("/predict/v2", json=question)
    assert answer.headers["X-Content-Type-Options"] == "nosniff" and "Content-Security-Policy" not in answer.headers


async def test_the_api_docs_page_has_its_own_policy_allowing_its_cdn_and_its_inline_script(make_client):
    async with make_client() as client:
        docs = await client.get("/docs")
    _assert_html_headers(docs)
    policy = docs.headers["Content-Security-Policy"]
    [inline] = re.findall(r"<script>(.*?)</script>", docs.text, flags=re.DOTALL)
    digest = base64.b64encode(hashlib.sha256(inline.encode()).digest()).decode()
    assert f"script-src https://cdn.jsdelivr.net 'sha256-{digest}'" in policy and "unsafe-eval" not in policy


async def test_a_route_brings_its_own_policy_and_keeps_the_other_headers():
    # How the coming /editor page allows its wasm and its worker.
    app = FastAPI()
    app.add_middleware(SecurityHeadersMiddleware)

    @app.get("/editor")
    async def editor() -> HTMLResponse:
        return HTMLResponse("<p>editor</p>", headers={"Content-Security-Policy": EDITOR_CSP})

    @app.get("/editor-page")
    async def editor_page(request: Request) -> HTMLResponse:
        return page(request, "index.html", csp=EDITOR_CSP)

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://testserver") as client:
        answers = [await client.get("/editor"), await client.get("/editor-page")]
    for response in answers:
        _assert_html_headers(response)
        policy = response.headers["Content-Security-Policy"]
        assert policy == EDITOR_CSP and "'wasm-unsafe-eval'" in policy and "worker-src 'self'" in policy


def test_the_middleware_docstring_examples_run():
    results = doctest.testmod(mleditor.serve.middleware)
    assert results.failed == 0 and results.attempted >= 2
