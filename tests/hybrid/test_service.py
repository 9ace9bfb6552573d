"""The hybrid door: stored answers when fresh, live answers otherwise, and a store that fails never fails a request."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import httpx
import pytest

from mleditor.core.prediction import personal_key
from mleditor.core.requests import PredictRequest
from mleditor.core.stored import StoredPrediction, content_hash
from mleditor.errors import AuthenticationError
from mleditor.hybrid.lookup import StoreLookup
from mleditor.hybrid.service import HybridService
from mleditor.serve.app import create_app
from mleditor.serve.service import PredictionService
from mleditor.serve.settings import ServeSettings

pytestmark = pytest.mark.anyio
TITLE, BODY = "How do I stop my bottles from gushing?", "I prime with 120 g of sugar per 20 L. They gush after three weeks."


class MemoryLookup:
    """An in-memory prediction store; `broken` makes every call fail like a store outage."""

    def __init__(self) -> None:
        self.by_hash: dict[tuple[str, str, str, str], StoredPrediction] = {}
        self.broken = False
        self.saves = 0

    def get_by_content_hash(self, model_id, version, digest, personal=""):
        if self.broken:
            raise ConnectionError("store is down")
        return self.by_hash.get((model_id, version, digest, personal))

    def get_prediction(self, site, question_id, version):
        if self.broken:
            raise ConnectionError("store is down")
        return None

    def save(self, prediction, digest, title):
        if self.broken:
            raise ConnectionError("store is down")
        self.saves += 1
        self.by_hash[(prediction.model_id, prediction.model_version, digest, personal_key(prediction.personal))] = (
            StoredPrediction(
            prediction, digest, datetime.now(UTC)))


@pytest.fixture
def service(tmp_path) -> PredictionService:
    return PredictionService.from_settings(ServeSettings(store_path=str(tmp_path / "serve.db"), cache_size=0,
                                                         max_wait_ms=0.5))


async def ask(hybrid: HybridService, version: str = "v3", **kw):
    return await hybrid.predict(PredictRequest(TITLE, BODY, version=version, **kw))


async def test_a_miss_is_answered_live_and_written_back(service):
    lookup = MemoryLookup()
    hybrid = HybridService(service, lookup)
    service.start()
    first = await ask(hybrid)
    await hybrid.close()
    assert first.source == "live" and first.to_dict()["source"] == "live"
    assert lookup.saves == 1
    assert hybrid.metrics.misses._value.get() == 1


async def test_a_fresh_stored_prediction_is_served_as_precomputed_with_the_same_score(service):
    lookup = MemoryLookup()
    hybrid = HybridService(service, lookup)
    service.start()
    live = await ask(hybrid)
    await hybrid.drain()
    hit = await ask(hybrid)
    assert hit.source == "precomputed"
    assert hit.prediction.score == live.prediction.score
    assert [r.feature for r in hit.prediction.recommendations] == [r.feature for r in live.prediction.recommendations]
    assert hybrid.metrics.hits._value.get() == 1
    assert "precomputed" in hit.confidence and hit.to_dict()["computed_at"]


async def test_a_prediction_older_than_the_ttl_is_refused_and_recomputed(service):
    lookup = MemoryLookup()
    now = [datetime.now(UTC).timestamp()]
    hybrid = HybridService(service, lookup, ttl_s=60, clock=lambda: now[0])
    service.start()
    await ask(hybrid)
    await hybrid.drain()
    now[0] += 3600
    later = await ask(hybrid)
    await hybrid.close()
    assert later.source == "live"
    assert hybrid.metrics.stale._value.get() == 1


async def test_a_prediction_from_another_model_is_stale(service):
    lookup = MemoryLookup()
    digest = content_hash(TITLE, BODY)
    old = (await service.predict(PredictRequest(TITLE, BODY, version="v3"))).prediction
    lookup.by_hash[(service.model.model_id, "v3", digest, "")] = StoredPrediction(
        dataclasses.replace(old, model_id="an-older-model"), digest, datetime.now(UTC))
    hybrid = HybridService(service, lookup)
    result = await ask(hybrid)
    await hybrid.close()
    assert result.source == "live" and hybrid.metrics.stale._value.get() == 1


async def test_a_store_outage_degrades_to_live_inference(service):
    lookup = MemoryLookup()
    lookup.broken = True
    hybrid = HybridService(service, lookup)
    service.start()
    result = await ask(hybrid)
    await hybrid.close()
    assert result.source == "live" and 0 <= result.prediction.score <= 1
    assert hybrid.metrics.store_errors._value.get() == 1
    assert hybrid.metrics.writeback_failures._value.get() == 1


async def test_permissions_apply_to_stored_answers(tmp_path):
    service = PredictionService.from_settings(ServeSettings(store_path=str(tmp_path / "s.db"), anonymous_enabled=False))
    hybrid = HybridService(service, MemoryLookup())
    with pytest.raises(AuthenticationError):
        await ask(hybrid)


async def test_http_answers_say_their_source_and_stored_predictions_are_served_by_id(service, tmp_path):
    lookup = MemoryLookup()
    hybrid = HybridService(service, lookup)
    app = create_app(ServeSettings(store_path=str(tmp_path / "serve.db")), service=service, stored=hybrid)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://t") as client:
        service.start()
        first = (await client.post("/predict/v2", json={"title": TITLE, "body": BODY})).json()
        await hybrid.drain()
        second = (await client.post("/predict/v2", json={"title": TITLE, "body": BODY})).json()
        missing = await client.get("/predictions/beer/12345")
    assert first["source"] == "live" and second["source"] == "precomputed"
    assert second["score"] == first["score"]
    assert missing.status_code == 404 and "mleditor batch run" in missing.json()["error"]


@pytest.mark.parametrize("backend", ["sqlite", "memory"])
def test_the_prediction_store_serves_as_the_hybrid_lookup(tmp_path, backend):
    from mleditor.core.prediction import Prediction
    from mleditor.core.recommend import Recommendation

    url = f"sqlite:///{tmp_path / 'predictions.db'}" if backend == "sqlite" else "memory://"
    lookup = StoreLookup.open(url)
    prediction = Prediction(0.42, "v3", "se15-v1", [Recommendation("links", "Link it", 0.0, 1.0, 0.02)])
    digest = content_hash(TITLE, BODY)
    assert lookup.get_by_content_hash("se15-v1", "v3", digest) is None
    lookup.save(prediction, digest, TITLE)
    found = lookup.get_by_content_hash("se15-v1", "v3", digest)
    assert found.prediction == prediction and found.content_hash == digest
    assert found.created.tzinfo is not None
    assert lookup.get_by_content_hash("se15-v1", "v2", digest) is None
    assert lookup.get_prediction("_live", int(digest[:15], 16), "v3").prediction.score == 0.42


def test_the_hooks_also_serve_the_synchronous_pipeline(service):
    lookup = MemoryLookup()
    hybrid = HybridService(service, lookup)
    request = PredictRequest(TITLE, BODY, version="v2")
    first = service.pipeline.run(request)
    again = service.pipeline.run(request)
    assert (first.source, again.source) == ("live", "precomputed") and lookup.saves == 1
    assert again.prediction.score == first.prediction.score and hybrid.metrics.hits._value.get() == 1
    assert list(again.timings_ms) == ["validate", "gather", "lookup"]


def hybrid_app(tmp_path, store_url: str, **serve_settings):
    from mleditor.hybrid.app import create_hybrid_app
    from mleditor.hybrid.settings import HybridSettings

    settings = ServeSettings(store_path=str(tmp_path / "serve.db"), cache_size=0, **serve_settings)
    return create_hybrid_app(settings, HybridSettings(store=store_url))


async def test_stored_predictions_by_id_need_the_same_key_scope_and_rate_limit_as_live_ones(tmp_path):
    from mleditor.stores.accounts import AccountStore
    from mleditor.stores.keys import create_api_key

    app = hybrid_app(tmp_path, f"sqlite:///{tmp_path / 'p.db'}", anonymous_enabled=False, rate_limit_per_minute=2)
    key = create_api_key(AccountStore(tmp_path / "serve.db"), "reader", "v1,v2")
    url = "/predictions/_live/1"
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://t") as client:
        no_key = await client.get(url, params={"model": "v2"})
        junk = await client.get(url, params={"model": "v2"}, headers={"X-API-Key": "mle_junk_key"})
        out_of_scope = await client.get(url, params={"model": "v3"}, headers={"X-API-Key": key})
        allowed = [await client.get(url, params={"model": "v2"}, headers={"X-API-Key": key}) for _ in range(3)]
        huge_id = await client.get(f"/predictions/_live/{2**63}", headers={"X-API-Key": key})
    assert (no_key.status_code, junk.status_code, out_of_scope.status_code) == (401, 401, 403)
    assert [r.status_code for r in allowed] == [404, 404, 429]  # nothing stored yet; then the budget is spent
    assert huge_id.status_code == 422


async def test_precomputed_answers_are_charged_to_the_rate_limit_too(tmp_path):
    app = hybrid_app(tmp_path, f"sqlite:///{tmp_path / 'p.db'}", rate_limit_per_minute=3)
    async with (httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://t") as client,
                app.router.lifespan_context(app)):
        answers = []
        for _ in range(5):
            answers.append(await client.post("/predict/v2", json={"title": TITLE, "body": BODY}))
            await app.state.stored.drain()
    assert [r.status_code for r in answers] == [200, 200, 200, 429, 429]
    assert [r.json()["source"] for r in answers[:3]] == ["live", "precomputed", "precomputed"]


async def test_a_store_that_cannot_be_opened_does_not_stop_the_server_and_readyz_says_so(tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the store's folder should be")
    app = hybrid_app(tmp_path, f"sqlite:///{blocker / 'p.db'}")
    async with (httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://t") as client,
                app.router.lifespan_context(app)):
        answer = await client.post("/predict/v2", json={"title": TITLE, "body": BODY})
        await app.state.stored.drain()
        ready = await client.get("/readyz")
    assert answer.status_code == 200 and answer.json()["source"] == "live"
    assert ready.status_code == 200 and ready.json()["hybrid_store"].startswith("lookups fail, answering live")


async def test_a_failing_store_is_counted_every_time_but_logged_once_a_minute(service, caplog):
    lookup = MemoryLookup()
    lookup.broken = True
    hybrid = HybridService(service, lookup)
    service.start()
    with caplog.at_level("WARNING", logger="mleditor.hybrid"):
        for _ in range(20):
            await ask(hybrid)
        await hybrid.drain()
    await hybrid.close()
    assert hybrid.metrics.store_errors._value.get() == 20 and hybrid.metrics.writeback_failures._value.get() == 20
    assert len(caplog.records) == 2  # one line for lookups, one for write-backs
