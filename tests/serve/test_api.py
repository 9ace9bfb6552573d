"""The JSON API: answers, permission errors, abuse (huge, slow, malformed, too many), metrics, health, logs."""

from __future__ import annotations

import asyncio
import io
import json
import logging

import numpy as np
import pytest

from mleditor.serve.logs import JsonFormatter
from mleditor.stores.keys import create_api_key

pytestmark = pytest.mark.anyio
TEN_MB = 10 * 1024 * 1024


async def test_predict_answers_score_label_confidence_recommendations_version_id_and_timings(make_client, question):
    async with make_client() as client:
        response = await client.post("/predict/v3", json=question, headers={"X-Request-ID": "trace-123"})
    assert response.status_code == 200
    answer = response.json()
    assert 0 <= answer["score"] <= 1 and answer["model_version"] == "v3" and answer["model_id"] == "se15-v1"
    assert answer["label"] in answer["confidence"] and isinstance(answer["recommendations"], list)
    assert answer["request_id"] == "trace-123" == response.headers["X-Request-ID"]
    assert {"validate", "gather", "preprocess", "model", "postprocess"} <= set(answer["timings_ms"])
    assert answer["cached"] is False and response.headers["X-Cache"] == "miss"


async def test_an_unsafe_request_id_header_is_replaced_by_a_fresh_one(make_client, question):
    async with make_client() as client:
        response = await client.post("/predict/v2", json=question, headers={"X-Request-ID": "x" * 65})
    assert len(response.headers["X-Request-ID"]) == 32 and response.json()["request_id"] == response.headers["X-Request-ID"]


async def test_a_repeated_question_is_answered_from_the_cache(make_client, question):
    async with make_client() as client:
        first = (await client.post("/predict/v2", json=question)).json()
        second = await client.post("/predict/v2", json=question)
        metrics = (await client.get("/metrics")).text
    assert second.json()["cached"] is True and second.headers["X-Cache"] == "hit"
    assert second.json()["score"] == first["score"]
    assert "mleditor_cache_hits_total 1.0" in metrics and "mleditor_cache_hit_ratio 0.5" in metrics


async def test_keys_are_read_from_bearer_or_x_api_key_and_checked_per_version(make_client, question):
    client = make_client(anonymous_enabled=False)
    store = client._transport.app.state.service.store
    key = create_api_key(store, "demo", "v1,v2")
    async with client:
        no_key = await client.post("/predict/v2", json=question)
        wrong = await client.post("/predict/v2", json=question, headers={"X-API-Key": key + "x"})
        basic = await client.post("/predict/v2", json=question, headers={"Authorization": "Basic abc"})
        bearer = await client.post("/predict/v2", json=question, headers={"Authorization": f"Bearer {key}"})
        header = await client.post("/predict/v1", json=question, headers={"X-API-Key": key})
        scope = await client.post("/predict/v3", json=question, headers={"X-API-Key": key})
    assert (no_key.status_code, wrong.status_code, basic.status_code) == (401, 401, 401)
    assert no_key.headers["WWW-Authenticate"] == "Bearer" and "API key is required" in no_key.json()["error"]
    assert (bearer.status_code, header.status_code) == (200, 200)
    assert scope.status_code == 403 and "not v3" in scope.json()["error"]


async def test_an_unknown_model_version_is_404_naming_the_real_ones(make_client, question):
    async with make_client() as client:
        response = await client.post("/predict/v9", json=question)
    assert response.status_code == 404 and "v1, v2, v3" in response.json()["error"]


@pytest.mark.parametrize("content, problem", [
    (b'{"title": "a", "body": ', "not valid JSON"),
    (b'{"title": 1, "body": "b"}', "title: Input should be a valid string"),
    (b'{"body": "b"}', "title: Field required"),
    (b'{"title": "a", "body": "b", "tittle": "c"}', "tittle: Extra inputs are not permitted"),
    (b'["title", "body"]', "valid dictionary"),
    (b'{"title": "  ", "body": ""}', "nothing to score"),
    (json.dumps({"title": "t" * 301, "body": "b"}).encode(), "title is 301 characters; the limit is 300"),
    (b'{"title": "\\ud800", "body": "b"}', "not valid Unicode"),
    (b'{"title": "\xff", "body": "b"}', "could not be read as JSON (is it UTF-8 text?)"),
    (b'{"title": ' + b"1" * 4301 + b', "body": "b"}', "an integer with more digits than Python reads (4,300"),
])
async def test_bad_input_is_422_with_a_message_saying_what_is_wrong(make_client, content, problem):
    async with make_client() as client:
        response = await client.post("/predict/v2", content=content, headers={"Content-Type": "application/json"})
    assert response.status_code == 422 and problem in response.json()["error"]


async def test_a_body_that_is_not_json_is_415(make_client):
    async with make_client() as client:
        plain = await client.post("/predict/v2", content=b"title=a", headers={"Content-Type": "text/plain"})
        form = await client.post("/predict/v2", data={"title": "a", "body": "b"})
    assert plain.status_code == form.status_code == 415 and "application/json" in plain.json()["error"]


class TenMegabytes:
    """A 10 MB body in 64 KiB chunks that counts how many chunks the server pulled."""

    def __init__(self) -> None:
        self.chunks_read = 0

    async def __aiter__(self):
        for _ in range(160):
            self.chunks_read += 1
            yield b"x" * 65536


async def test_a_10_mb_body_with_content_length_is_413_before_any_of_it_is_read(make_client):
    body = TenMegabytes()
    async with make_client() as client:
        response = await client.post("/predict/v2", content=body,
                                     headers={"Content-Type": "application/json", "Content-Length": str(TEN_MB)})
    assert response.status_code == 413 and "limit is 1,048,576 bytes" in response.json()["error"]
    assert body.chunks_read <= 1


async def test_a_chunked_10_mb_body_is_413_as_soon_as_the_limit_is_passed(make_client):
    body = TenMegabytes()
    async with make_client() as client:
        response = await client.post("/predict/v2", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 413 and "limit is 1,048,576 bytes" in response.json()["error"]
    assert body.chunks_read <= 18  # 1 MiB is 16 chunks: the rest of the 10 MB was never read


async def test_requests_refused_by_the_body_guard_are_counted_under_the_route_they_were_sent_to(make_client):
    big = {"Content-Type": "application/json", "Content-Length": str(TEN_MB)}
    async with make_client() as client:
        refused = [await client.post("/predict/v2", content=b"{}", headers=big),
                   await client.post("/v2", content=b"title=a", headers={**big, "Content-Type": "text/plain"}),
                   await client.post("/predict/v2", content=b"title=a", headers={"Content-Type": "text/plain"}),
                   await client.post("/nowhere", content=b"{}", headers=big)]
        metrics = (await client.get("/metrics")).text
    assert [r.status_code for r in refused] == [413, 413, 415, 413]
    for label in ('route="/predict/{model}",status="413"', 'route="/v2",status="413"',
                  'route="/predict/{model}",status="415"', 'route="unmatched",status="413"'):
        assert f"mleditor_requests_total{{{label}}} 1.0" in metrics, label


async def test_an_oversize_page_form_gets_the_form_back_with_the_error_as_a_page(make_client):
    form = {"title": "How?", "body": "x" * 2_000_000}
    async with make_client() as client:
        announced = await client.post("/v2", data=form)
        chunked = await client.post("/v3", content=TenMegabytes(),
                                    headers={"Content-Type": "application/x-www-form-urlencoded"})
        from_a_browser = await client.post("/predict/v2", content=b"{}", headers={
            "Content-Type": "application/json", "Content-Length": str(TEN_MB), "Accept": "text/html,*/*;q=0.8"})
        from_a_program = await client.post("/predict/v2", content=b"{}", headers={
            "Content-Type": "application/json", "Content-Length": str(TEN_MB)})
    for page in (announced, chunked):
        assert page.status_code == 413 and page.headers["content-type"].startswith("text/html")
        assert 'id="error"' in page.text and "limit is 1,048,576 bytes" in page.text and 'id="question-form"' in page.text
    assert 'action="/v2"' in announced.text and 'action="/v3"' in chunked.text
    assert from_a_browser.status_code == 413 and 'id="error"' in from_a_browser.text
    assert from_a_program.status_code == 413 and "limit is 1,048,576 bytes" in from_a_program.json()["error"]


async def test_a_client_that_stalls_while_sending_its_body_gets_408(make_client):
    async def slow_body():
        yield b'{"title": "a",'
        await asyncio.sleep(0.5)
        yield b' "body": "b"}'

    async with make_client(body_timeout_s=0.05) as client:
        response = await client.post("/predict/v2", content=slow_body(), headers={"Content-Type": "application/json"})
    assert response.status_code == 408 and "did not arrive within" in response.json()["error"]


async def test_too_many_requests_get_429_with_retry_after(make_client, question):
    async with make_client(rate_limit_per_minute=2) as client:
        statuses = [(await client.post("/predict/v1", json=question)) for _ in range(3)]
    assert [r.status_code for r in statuses] == [200, 200, 429]
    assert statuses[2].headers["Retry-After"] == "30" and "per minute" in statuses[2].json()["error"]


async def test_a_score_that_is_not_a_probability_is_a_clear_500_never_a_wrong_number(make_client, question):
    async with make_client(score=lambda ids, dense: np.full(len(dense), np.nan, np.float32)) as client:
        response = await client.post("/predict/v2", json=question, headers={"X-Request-ID": "nan-1"})
    assert response.status_code == 500
    assert response.json() == {"error": "the model returned an invalid score (not a probability); incident logged "
                                        "as request nan-1", "request_id": "nan-1"}


async def test_an_unexpected_failure_is_a_500_without_a_traceback(make_client, question, caplog):
    def broken(ids, dense):
        raise RuntimeError("secret internals")

    async with make_client(score=broken) as client:
        with caplog.at_level(logging.ERROR, logger="mleditor.serve"):
            response = await client.post("/predict/v2", json=question)
    assert response.status_code == 500
    assert response.json() == {"error": "internal error", "request_id": response.headers["X-Request-ID"]}
    assert "secret internals" in caplog.text  # logged with its traceback, server-side only


async def test_health_readiness_and_metrics(make_client, question):
    client = make_client()
    service = client._transport.app.state.service
    async with client:
        await client.post("/predict/v3", json=question)
        await client.post("/predict/v9", json=question)
        health, ready = await client.get("/healthz"), await client.get("/readyz")
        metrics = await client.get("/metrics")
        service.store.close()
        not_ready = await client.get("/readyz")
    assert health.json() == {"status": "ok"} and ready.status_code == 200
    assert not_ready.status_code == 503 and "does not answer" in not_ready.json()["reason"]
    text = metrics.text
    for name in ('mleditor_requests_total{route="/predict/{model}",status="200"}', 'mleditor_step_seconds_bucket{le=',
                 'mleditor_step_seconds_count{step="model"}', "mleditor_batch_rows_count 1.0",
                 "mleditor_cache_hits_total", "mleditor_cache_misses_total 1.0", 'mleditor_errors_total{kind="http_404"}'):
        assert name in text, name


async def test_after_shutdown_begins_new_work_gets_503(make_client, question):
    client = make_client()
    await client._transport.app.state.service.close()
    async with client:
        response = await client.post("/predict/v2", json=question)
    assert response.status_code == 503 and response.headers["Retry-After"] == "1"


async def test_each_request_writes_one_json_access_line_with_its_request_id(make_client, question):
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("mleditor.access")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        async with make_client() as client:
            await client.post("/predict/v2", json=question, headers={"X-Request-ID": "log-me"})
    finally:
        logger.removeHandler(handler)
        logger.setLevel(logging.NOTSET)
    [line] = stream.getvalue().splitlines()
    entry = json.loads(line)
    assert entry["request_id"] == "log-me" and entry["route"] == "/predict/{model}" and entry["status"] == 200
    assert {"time", "level", "logger", "message", "duration_ms"} <= set(entry)


async def test_the_openapi_document_describes_the_errors_of_predict(make_client):
    async with make_client() as client:
        spec = (await client.get("/openapi.json")).json()
        docs = await client.get("/docs")
    responses = spec["paths"]["/predict/{model}"]["post"]["responses"]
    assert {"200", "401", "403", "404", "413", "415", "422", "429", "500"} <= set(responses)
    assert docs.status_code == 200
