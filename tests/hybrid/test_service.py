"""The hybrid door: stored answers when fresh, live answers otherwise, and a store that fails never fails a request."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import httpx
import pytest

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
        self.by_hash: dict[tuple[str, str, str], StoredPrediction] = {}
        self.broken = False
        self.saves = 0

    def get_by_content_hash(self, model_id, version, digest):
        if self.broken:
            raise ConnectionError("store is down")
        return self.by_hash.get((model_id, version, digest))

    def get_prediction(self, site, question_id, version):
        if self.broken:
            raise ConnectionError("store is down")
        return None

    def save(self, prediction, digest, title):
        if self.broken:
            raise ConnectionError("store is down")
        self.saves += 1
        self.by_hash[(prediction.model_id, prediction.model_version, digest)] = StoredPrediction(
            prediction, digest, datetime.now(UTC))


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
    lookup.by_hash[(service.model.model_id, "v3", digest)] = StoredPrediction(
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
    prediction = Prediction(0.42, "v3", "se9-v1", [Recommendation("links", "Link it", 0.0, 1.0, 0.02)])
    digest = content_hash(TITLE, BODY)
    assert lookup.get_by_content_hash("se9-v1", "v3", digest) is None
    lookup.save(prediction, digest, TITLE)
    found = lookup.get_by_content_hash("se9-v1", "v3", digest)
    assert found.prediction == prediction and found.content_hash == digest
    assert found.created.tzinfo is not None
    assert lookup.get_by_content_hash("se9-v1", "v2", digest) is None
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
