"""One model artifact everywhere: the same question gets the same score through every door."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from mleditor.batch.scoring import ChunkScorer, InputRow
from mleditor.core.pipeline import Pipeline, PredictRequest
from mleditor.core.predictor import Predictor
from mleditor.core.records import Question
from mleditor.core.registry import resolve_model
from mleditor.core.scorer import OnnxScorer
from mleditor.hybrid.service import BatchStoreLookup, HybridService
from mleditor.serve.app import create_app
from mleditor.serve.service import PredictionService
from mleditor.serve.settings import ServeSettings

QUESTIONS = [
    ("How do I keep my bottled ale from gushing?", "I prime with 120 g of sugar per 20 L.\n\n- pale ale\n- 3 weeks"),
    ("why my code broken", "<p>It fails with <code>KeyError</code>. See <a href='https://x.org'>this</a>.</p>"),
    ("Pourquoi « être » est-il irrégulier ?", "Bonjour ! Je me demande pourquoi 🍺."),
]


@pytest.mark.parametrize("version", ["v2", "v3"])
def test_cli_pipeline_api_batch_and_hybrid_agree(tmp_path, version):
    model = resolve_model(None)
    direct = [Predictor(model).predict(Question(t, b), version).score for t, b in QUESTIONS]

    pipeline = Pipeline(model, OnnxScorer.from_path(model.onnx_path).score)
    assert [pipeline.run(PredictRequest(t, b, version)).prediction.score for t, b in QUESTIONS] == direct

    rows = [InputRow("site", i, t, b) for i, (t, b) in enumerate(QUESTIONS)]
    batch = ChunkScorer(model, version)(rows)
    assert [p.score for p in sorted(batch.predictions, key=lambda p: p.question_id)] == pytest.approx(direct, abs=1e-6)

    async def through_http_and_hybrid() -> tuple[list[float], list[float], list[str]]:
        settings = ServeSettings(store_path=str(tmp_path / "serve.db"), cache_size=0)
        service = PredictionService.from_settings(settings)
        hybrid = HybridService(service, BatchStoreLookup.open(f"sqlite:///{tmp_path / 'p.db'}"))
        app = create_app(settings, service=service, front=hybrid)
        service.start()
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://t") as client:
            live = [(await client.post(f"/predict/{version}", json={"title": t, "body": b})).json() for t, b in QUESTIONS]
            await hybrid.drain()
            stored = [(await client.post(f"/predict/{version}", json={"title": t, "body": b})).json() for t, b in QUESTIONS]
        await hybrid.close()
        await service.close()
        return [r["score"] for r in live], [r["score"] for r in stored], [r["source"] for r in stored]

    live, stored, sources = asyncio.run(through_http_and_hybrid())
    assert live == pytest.approx(direct, abs=1e-6)
    assert stored == pytest.approx(direct, abs=1e-6) and sources == ["precomputed"] * len(QUESTIONS)
