"""PredictionService: the six core steps in order, batched, cached, permission- and rate-checked."""

from __future__ import annotations

import asyncio
import logging

import numpy as np
import pytest

from mleditor.core.pipeline import Pipeline, PredictRequest
from mleditor.errors import AuthenticationError, InvalidInputError, ModelOutputError
from mleditor.serve.ratelimit import RateLimitedError
from mleditor.stores.keys import create_api_key, revoke_api_key
from mleditor.stores.profiles import upsert_profile

pytestmark = pytest.mark.anyio


@pytest.fixture
def make_request(question):
    """make_request(version, **fields) -> a PredictRequest for the good question."""
    return lambda version="v3", **fields: PredictRequest(**{**question, "version": version, **fields})


async def test_a_request_runs_the_timed_steps_in_order_and_agrees_with_the_core_pipeline(make_service, model_score,
                                                                                         make_request):
    service = make_service()
    result = await service.predict(make_request("v3", request_id="r-1"))
    assert list(result.timings_ms) == ["validate", "gather", "preprocess", "model", "postprocess"]
    assert result.request_id == "r-1" and not result.cached
    expected = Pipeline(service.model, model_score).run(make_request("v3"))
    assert result.prediction.score == pytest.approx(expected.prediction.score, abs=1e-6)
    assert [r.feature for r in result.prediction.recommendations] == [
        r.feature for r in expected.prediction.recommendations]
    assert result.to_dict()["confidence"] == expected.confidence


async def test_a_repeated_question_comes_from_the_cache_after_validation(make_service, make_request):
    service = make_service()
    first = await service.predict(make_request("v2"))
    again = await service.predict(make_request("v2", title="  How do I keep a bottle-conditioned ale from over-carbonating?\n"))
    assert again.cached and list(again.timings_ms) == ["validate", "gather", "cache"]
    assert again.prediction == first.prediction and again.request_id != first.request_id
    assert service.cache.hits == 1 and service.cache.misses == 1


async def test_a_cache_hit_still_checks_permission(make_service, make_request):
    service = make_service(anonymous_enabled=False)
    key = create_api_key(service.store, "demo", "v2")
    await service.predict(make_request("v2", api_key=key))
    revoke_api_key(service.store, key.split("_")[1])
    with pytest.raises(AuthenticationError):
        await service.predict(make_request("v2", api_key=key))


async def test_v1_needs_no_model_call(make_service, make_request):
    def no_model(ids, dense):
        raise AssertionError("v1 must not call the model")

    result = await make_service(score=no_model).predict(make_request("v1"))
    assert result.prediction.model_version == "v1" and "model" in result.timings_ms


async def test_scores_that_are_not_probabilities_raise_and_log_an_incident(make_service, caplog, make_request):
    service = make_service(score=lambda ids, dense: np.full(len(dense), np.nan, np.float32))
    with (caplog.at_level(logging.ERROR, logger="mleditor.incidents"),
          pytest.raises(ModelOutputError, match="incident logged as request req-nan")):
        await service.predict(make_request("v2", request_id="req-nan"))
    assert "score_out_of_range" in caplog.text and "req-nan" in caplog.text
    assert len(service.cache) == 0  # nothing wrong is cached


async def test_the_gather_step_reads_the_users_profile(make_service, make_request):
    service = make_service()
    upsert_profile(service.store, "42", questions_asked=7, median_score=3.0, preferred_version="v2")
    with_profile = await service.predict(make_request("v2", user_id="42"))
    without = await service.predict(make_request("v2", user_id="nobody"))
    assert with_profile.profile.questions_asked == 7 and without.profile is None


async def test_callers_are_rate_limited_per_key_and_anonymous_ones_per_client_address(make_service, make_request):
    service = make_service(rate_limit_per_minute=2)
    for _ in range(2):
        await service.predict(make_request("v1"), client="10.0.0.1")
    with pytest.raises(RateLimitedError) as info:
        await service.predict(make_request("v1"), client="10.0.0.1")
    assert info.value.retry_after_s == 30
    await service.predict(make_request("v1"), client="10.0.0.2")
    key = create_api_key(service.store, "demo", "v1")
    await service.predict(make_request("v1", api_key=key), client="10.0.0.1")  # a key has its own budget


async def test_text_that_is_not_valid_unicode_is_refused_as_input(make_service, make_request):
    with pytest.raises(InvalidInputError, match="title is not valid Unicode"):
        await make_service().predict(make_request("v2", title="bad \ud800 title"))


async def test_concurrent_requests_share_model_calls(make_service, make_request):
    service = make_service(max_wait_ms=50.0)
    questions = [make_request("v2", title=f"How do I brew batch {i}?") for i in range(8)]
    results = await asyncio.gather(*(service.predict(q) for q in questions))
    assert len({r.prediction.score for r in results}) > 1
    batches = service.metrics.registry.get_sample_value("mleditor_batch_rows_count")
    assert batches == 1.0 and service.metrics.registry.get_sample_value("mleditor_batch_rows_sum") == 8.0


async def test_a_long_body_is_featurized_off_the_event_loop_with_the_same_result(make_service, make_request):
    service = make_service()
    body = ("I tried three yeasts and two temperatures. " * 400)[:15_000]
    off_loop = await service.predict(make_request("v2", body=body))
    assert off_loop.prediction.score == pytest.approx(
        Pipeline(service.model, service.batcher.score_fn).run(make_request("v2", body=body)).prediction.score, abs=1e-6)


async def test_ready_until_closed_or_the_store_is_gone(make_service, make_request):
    service = make_service()
    assert service.ready()[0]
    service.store.close()
    ready, reason = service.ready()
    assert not ready and "does not answer" in reason
    other = make_service()
    await other.close()
    assert other.ready() == (False, "shutting down")


async def test_the_rate_limit_is_charged_before_the_html_is_converted(make_service, monkeypatch):
    from mleditor.core import html_text
    from mleditor.errors import RateLimitedError

    conversions = []
    original = html_text.html_to_markdown
    monkeypatch.setattr(html_text, "html_to_markdown", lambda html: conversions.append(len(html)) or original(html))
    service = make_service(rate_limit_per_minute=1)
    html = PredictRequest("Why?", "<p>" + "word " * 30_000 + "</p>", version="v2")
    with pytest.raises(InvalidInputError):  # over the limit once converted: refused, but it was converted
        await service.predict(html, client="1.2.3.4")
    with pytest.raises(RateLimitedError):
        await service.predict(html, client="1.2.3.4")
    assert len(conversions) == 1  # the refused request cost no conversion


async def test_a_long_body_is_checked_and_featurized_off_the_event_loop(make_service, monkeypatch):
    import threading

    from mleditor.core import pipeline as pipeline_module

    threads = []
    for name in ("check_request_text", "preprocess"):
        original = getattr(pipeline_module, name)

        def spy(*args, _original=original, _name=name):
            threads.append((_name, threading.current_thread() is threading.main_thread()))
            return _original(*args)

        monkeypatch.setattr(pipeline_module, name, spy)
    service = make_service()
    await service.predict(PredictRequest("Why?", "A long body. " * 2_000, version="v2"))
    await service.predict(PredictRequest("Why?", "A short body.", version="v2"))
    assert threads == [("check_request_text", False), ("preprocess", False),
                       ("check_request_text", True), ("preprocess", True)]
