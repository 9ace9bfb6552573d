"""The web page: forms that work without JavaScript, results and errors rendered in the page."""

from __future__ import annotations

import re

import numpy as np
import pytest

pytestmark = pytest.mark.anyio


async def test_the_index_explains_the_three_versions_and_links_to_them(make_client):
    async with make_client() as client:
        page = await client.get("/")
        css = await client.get("/static/style.css")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    for version in ("v1", "v2", "v3"):
        assert f'href="/{version}"' in page.text
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")


@pytest.mark.parametrize("version", ["v1", "v2", "v3"])
async def test_each_version_page_shows_an_empty_form_posting_to_itself(make_client, version):
    async with make_client() as client:
        page = await client.get(f"/{version}")
    assert page.status_code == 200
    assert f'action="/{version}"' in page.text and 'method="post"' in page.text
    for element in ('id="title"', 'id="body"', 'type="submit"'):
        assert element in page.text
    assert 'id="score"' not in page.text and 'id="error"' not in page.text


async def test_submitting_the_v3_form_shows_score_confidence_and_recommendations(make_client):
    form = {"title": "how 2 fix??", "body": "it doesnt work. help!!!"}
    async with make_client() as client:
        page = await client.post("/v3", data=form)
    assert page.status_code == 200
    score = re.search(r'id="score"[^>]*>(\d+)%<', page.text)
    assert score and 0 <= int(score.group(1)) <= 100
    assert 'id="confidence"' in page.text and page.text.count('class="recommendation"') >= 1
    assert "how 2 fix??" in page.text  # the form keeps what was typed


async def test_user_text_is_escaped_in_the_page(make_client):
    async with make_client() as client:
        page = await client.post("/v2", data={"title": "<script>alert(1)</script>", "body": "a body"})
    assert "<script>alert(1)</script>" not in page.text and "&lt;script&gt;" in page.text


async def test_an_empty_question_shows_an_error_in_the_page_with_422(make_client):
    async with make_client() as client:
        page = await client.post("/v2", data={"title": "", "body": "  "})
    assert page.status_code == 422
    assert 'id="error"' in page.text and "nothing to score" in page.text
    assert "Traceback" not in page.text and 'id="score"' not in page.text


async def test_with_anonymous_access_off_the_page_says_so_with_403(make_client):
    async with make_client(anonymous_enabled=False) as client:
        page = await client.post("/v1", data={"title": "How?", "body": "Like this."})
    assert page.status_code == 403 and 'id="error"' in page.text and "API key" in page.text


async def test_an_invalid_model_score_is_an_error_in_the_page_not_a_number(make_client):
    async with make_client(score=lambda ids, dense: np.full(len(dense), 7.0, np.float32)) as client:
        page = await client.post("/v2", data={"title": "How?", "body": "Like this."})
    assert page.status_code == 500 and 'id="error"' in page.text and "invalid score" in page.text
    assert 'id="score"' not in page.text


async def test_too_many_submissions_show_an_error_with_retry_after(make_client):
    async with make_client(rate_limit_per_minute=1) as client:
        await client.post("/v1", data={"title": "How?", "body": "x"})
        page = await client.post("/v1", data={"title": "How?", "body": "x"})
    assert page.status_code == 429 and page.headers["Retry-After"] == "60" and 'id="error"' in page.text
