"""One model artifact, one driver: the same question gets the same answer through every door, via `Pipeline`."""

from __future__ import annotations

import asyncio
import json
import re

import httpx
import pytest
from typer.testing import CliRunner

from mleditor.batch.scoring import ChunkScorer, InputRow
from mleditor.cli.main import app as cli_app
from mleditor.core import pipeline as pipeline_module
from mleditor.core.pipeline import Pipeline
from mleditor.core.predictor import Predictor
from mleditor.core.records import Question
from mleditor.core.registry import resolve_model
from mleditor.core.requests import PredictRequest
from mleditor.core.scorer import OnnxScorer
from mleditor.hybrid.lookup import StoreLookup
from mleditor.hybrid.service import HybridService
from mleditor.serve.app import create_app
from mleditor.serve.service import PredictionService
from mleditor.serve.settings import ServeSettings

QUESTIONS = [
    ("How do I keep my bottled ale from gushing?", "I prime with 120 g of sugar per 20 L.\n\n- pale ale\n- 3 weeks"),
    ("why my code broken", "<p>It fails with <code>KeyError</code>. See <a href='https://x.org'>this</a>.</p>"),
    ("Pourquoi « être » est-il irrégulier ?", "Bonjour ! Je me demande pourquoi 🍺."),
]
PAGE_SCORE = re.compile(r'id="score" class="score" data-score="([0-9.e-]+)" data-source="(\w+)"')


@pytest.fixture
def answers_through_the_driver(monkeypatch):
    """Every answer of every door passes step 6 of the one driver: count them by door."""
    counts: dict[str, int] = {}
    door = ["-"]
    original = pipeline_module.respond

    def counting_respond(*args, **kwargs):
        counts[door[0]] = counts.get(door[0], 0) + 1
        return original(*args, **kwargs)

    monkeypatch.setattr(pipeline_module, "respond", counting_respond)
    return door, counts


@pytest.mark.parametrize("version", ["v2", "v3"])
def test_cli_pipeline_page_api_batch_and_hybrid_agree_through_the_same_driver(tmp_path, version,
                                                                             answers_through_the_driver):
    door, counts = answers_through_the_driver
    model = resolve_model(None)
    door[0] = "predictor"
    direct = [Predictor(model).predict(Question(t, b), version).score for t, b in QUESTIONS]

    door[0] = "pipeline"
    pipeline = Pipeline(model, OnnxScorer.from_path(model.onnx_path).score)
    assert [pipeline.run(PredictRequest(t, b, version=version)).prediction.score for t, b in QUESTIONS] == direct

    door[0] = "cli"
    runner = CliRunner()
    cli = [json.loads(runner.invoke(cli_app, ["predict", "--json", "--model", version, "--title", t, "--body", b],
                                    catch_exceptions=False).stdout)["score"] for t, b in QUESTIONS]
    assert cli == pytest.approx(direct, abs=1e-6)

    door[0] = "batch"
    rows = [InputRow("site", i, t, b) for i, (t, b) in enumerate(QUESTIONS)]
    batch = ChunkScorer(model, version)(rows)
    assert [p.score for p in sorted(batch.predictions, key=lambda p: p.question_id)] == pytest.approx(direct, abs=1e-6)

    async def through_http_page_and_hybrid() -> dict[str, list[tuple[float, str]]]:
        settings = ServeSettings(store_path=str(tmp_path / "serve.db"), cache_size=0)
        service = PredictionService.from_settings(settings)
        hybrid = HybridService(service, StoreLookup.open(f"sqlite:///{tmp_path / 'p.db'}"))
        app = create_app(settings, service=service, stored=hybrid)
        service.start()
        seen: dict[str, list[tuple[float, str]]] = {}
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://t") as client:
            for name in ("api live", "api stored"):
                door[0] = name
                answers = [(await client.post(f"/predict/{version}", json={"title": t, "body": b})).json()
                           for t, b in QUESTIONS]
                seen[name] = [(a["score"], a["source"]) for a in answers]
                await hybrid.drain()
            door[0] = "page"
            pages = [(await client.post(f"/{version}", data={"title": t, "body": b})).text for t, b in QUESTIONS]
            seen["page"] = [(float(m[1]), m[2]) for m in (PAGE_SCORE.search(page) for page in pages) if m]
        await hybrid.close()
        await service.close()
        return seen

    seen = asyncio.run(through_http_page_and_hybrid())
    assert [score for score, _ in seen["api live"]] == pytest.approx(direct, abs=1e-6)
    assert {source for _, source in seen["api live"]} == {"live"}
    for name in ("api stored", "page"):  # the page answers through the hybrid hooks as the API does
        assert [score for score, _ in seen[name]] == pytest.approx(direct, abs=1e-6), name
        assert {source for _, source in seen[name]} == {"precomputed"}, name
    n = len(QUESTIONS)
    assert counts == {"predictor": n, "pipeline": n, "cli": n, "batch": n, "api live": n, "api stored": n, "page": n}


DEVICE_VARIANTS = ["fp32", "fp32-ort", "int8", "fp16", "pruned-10-int8", "reduced-12"]


@pytest.fixture(scope="module")
def real_questions_200(real_dump_dirs) -> list[Question]:
    from mleditor.core.ingest import iter_dump_questions

    questions = [record.as_question() for folder in real_dump_dirs for record in iter_dump_questions(folder)]
    return questions[:: max(1, len(questions) // 200)][:200]


@pytest.mark.slow
@pytest.mark.parametrize("variant", DEVICE_VARIANTS)
def test_every_device_bundle_gives_the_servers_score_within_its_manifest_tolerance(tmp_path, data_dir, variant,
                                                                                   real_questions_200):
    from mleditor.device.build import build_bundle
    from mleditor.device.catalog import extra_installed, find_variant
    from mleditor.device.runtime import load_predictor
    from mleditor.device.variants import BuildOptions

    spec = find_variant(variant)
    if not extra_installed(spec):
        pytest.skip(f"variant {variant} needs the '{spec.extra}' extra")
    model = resolve_model(None)
    bundle = build_bundle(model, spec, BuildOptions(data_dir=data_dir), tmp_path / variant)
    server = Predictor(model).predict_many(real_questions_200, "v2")
    device = load_predictor(bundle.path).predict_many(real_questions_200, "v2")
    deltas = [abs(d.score - s.score) for d, s in zip(device, server)]
    limit = 1e-6 if variant.startswith("fp32") else bundle.tolerance + 1e-6
    assert max(deltas) <= limit, (variant, max(deltas), bundle.tolerance)
