"""Personalized scores through every door: the API (a user's profile names the author), batch (the row's owner),
hybrid (a stored personalized answer is its author's alone) and a device bundle built for one author agree."""

from __future__ import annotations

import dataclasses
import json

import httpx
import pytest
from typer.testing import CliRunner

from mleditor.batch.scoring import ChunkScorer, InputRow
from mleditor.cli.main import app as cli_app
from mleditor.core.registry import load_model_directory
from mleditor.core.requests import PredictRequest
from mleditor.errors import ModelError
from mleditor.hybrid.lookup import StoreLookup
from mleditor.hybrid.service import HybridService
from mleditor.serve.app import create_app
from mleditor.serve.service import PredictionService
from mleditor.stores.profiles import upsert_profile
from tests.helpers import GOOD_QUESTION, write_csv

pytestmark = pytest.mark.anyio
AUTHOR = "beer:user:7"
TOLERANCE = 1e-6  # the same score through every door


@pytest.fixture
def personal_settings(settings, personal_model_dir):
    return dataclasses.replace(settings, model=str(personal_model_dir))


@pytest.fixture
def personal_service(personal_settings):
    service = PredictionService.from_settings(personal_settings)
    upsert_profile(service.store, "alice", site="beer", owner_id=7)  # an author with a personal part
    upsert_profile(service.store, "bob", site="beer", owner_id=999)  # an author without one
    upsert_profile(service.store, "carol")  # a profile that names no author
    return service


@pytest.fixture
async def api(personal_settings, personal_service):
    app = create_app(personal_settings, personal_service)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://testserver") as client:
        personal_service.start()
        yield client
        await personal_service.close()


async def answer(api, version="v3", **fields):
    response = await api.post(f"/predict/{version}", json={**GOOD_QUESTION, **fields})
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture
def cli_scores(tmp_path, personal_model_dir):
    """The author's question scored by `batch run --personalized` and by a device bundle built for the author."""
    runner = CliRunner()
    rows = [{"site": "beer", "question_id": 1, "owner_id": 7, **GOOD_QUESTION},
            {"site": "beer", "question_id": 2, "owner_id": 999, **GOOD_QUESTION},
            {"site": "beer", "question_id": 3, "owner_id": "", **GOOD_QUESTION}]
    csv = write_csv(tmp_path / "q.csv", rows, columns=("site", "question_id", "owner_id", "title", "body"))
    store = f"sqlite:///{tmp_path / 'p.db'}"
    ran = runner.invoke(cli_app, ["batch", "run", "--input", str(csv), "--store", store, "--model-dir",
                                  str(personal_model_dir), "--personalized", "--workers", "1", "--json"])
    assert ran.exit_code == 0, ran.output
    built = runner.invoke(cli_app, ["device", "build", "--variant", "fp32", "--output", str(tmp_path / "b"),
                                    "--model-dir", str(personal_model_dir), "--author", AUTHOR, "--no-measure"])
    assert built.exit_code == 0, built.output
    device = runner.invoke(cli_app, ["device", "predict", "--bundle", str(tmp_path / "b" / "fp32"), "--json",
                                     "--title", GOOD_QUESTION["title"], "--body", GOOD_QUESTION["body"]])
    assert device.exit_code == 0, device.output
    manifest = json.loads((tmp_path / "b" / "fp32" / "manifest.json").read_text(encoding="utf-8"))
    return store, json.loads(device.stdout), manifest


async def test_the_same_question_gets_the_same_personalized_score_from_the_api_batch_and_device(api, cli_scores):
    store_url, device, manifest = cli_scores
    mine, anonymous = await answer(api, user_id="alice"), await answer(api)
    assert mine["personalized"] is True and mine["personalization"] == "head"
    assert anonymous["personalized"] is False and anonymous["personalization"] is None
    assert abs(mine["score"] - anonymous["score"]) > 0.01
    from mleditor.stores.predictions.factory import open_store

    with open_store(store_url) as store:
        batch = {qid: store.get_prediction("beer", qid, "v3") for qid in (1, 2, 3)}
    assert batch[1] is not None and batch[1].personal == f"head:{AUTHOR}"
    assert abs(batch[1].score - mine["score"]) <= TOLERANCE
    assert batch[2] is not None and batch[3] is not None and batch[2].personal == batch[3].personal == ""
    assert abs(batch[2].score - anonymous["score"]) <= TOLERANCE
    assert manifest["personal"] == {"kind": "head", "author": AUTHOR, "file": "personal.json"}
    assert device["personalized"] is True and abs(device["score"] - mine["score"]) <= TOLERANCE
    assert [r["feature"] for r in device["recommendations"]] == [r["feature"] for r in mine["recommendations"]]


async def test_an_unknown_user_or_an_author_without_a_part_gets_the_global_score(api):
    anonymous = await answer(api)
    for user in ("nobody", "bob", "carol"):
        found = await answer(api, user_id=user)
        assert found["personalized"] is False and found["score"] == anonymous["score"], user


async def test_a_cached_personalized_answer_is_never_given_to_another_user(api):
    mine = await answer(api, version="v2", user_id="alice")
    others = await answer(api, version="v2")
    again = await answer(api, version="v2", user_id="alice")
    assert others["personalized"] is False and others["score"] != mine["score"]
    assert again["cached"] is True and again["score"] == mine["score"] and again["personalized"] is True


async def test_a_stored_personalized_prediction_is_reused_only_for_the_same_author(personal_service):
    lookup = StoreLookup.open("memory://")
    hybrid = HybridService(personal_service, lookup)
    personal_service.start()
    request = PredictRequest(**GOOD_QUESTION, version="v3")
    first = await hybrid.predict(dataclasses.replace(request, user_id="alice"))
    await hybrid.drain()
    again = await hybrid.predict(dataclasses.replace(request, user_id="alice", request_id="2"))
    stranger = await hybrid.predict(dataclasses.replace(request, user_id="bob", request_id="3"))
    await hybrid.close()
    await personal_service.close()
    assert first.source == "live" and first.prediction.personal is not None
    assert again.source == "precomputed" and again.prediction.personal == first.prediction.personal
    assert again.prediction.score == first.prediction.score
    assert stranger.prediction.personal is None and stranger.prediction.score != first.prediction.score


def test_a_corrupted_personal_file_stops_every_door_at_load(tmp_path, personal_model_dir, settings):
    import shutil

    broken = shutil.copytree(personal_model_dir, tmp_path / "broken")
    (broken / "personal.json").write_text('{"schema": 1}\n', encoding="utf-8")
    with pytest.raises(ModelError, match="does not match the sha256"):
        PredictionService.from_settings(dataclasses.replace(settings, model=str(broken)))
    with pytest.raises(ModelError, match="does not match the sha256"):
        ChunkScorer(load_model_directory(broken), "v3", personalized=True)
    result = CliRunner().invoke(cli_app, ["device", "build", "--variant", "fp32", "--output", str(tmp_path / "b"),
                                          "--model-dir", str(broken), "--author", AUTHOR, "--no-measure"])
    assert isinstance(result.exception, ModelError) and "does not match the sha256" in str(result.exception)


def test_batch_personalized_needs_a_model_with_parts(tiny_model_dir):
    with pytest.raises(ModelError, match="has no personal parts"):
        ChunkScorer(load_model_directory(tiny_model_dir), "v3", personalized=True)


def test_batch_scores_a_row_with_its_authors_part_only_when_asked(personal_model_dir):
    model = load_model_directory(personal_model_dir)
    row = InputRow("beer", 1, GOOD_QUESTION["title"], GOOD_QUESTION["body"], owner_id=7)
    plain = ChunkScorer(model, "v2")([row]).predictions[0]
    personal = ChunkScorer(model, "v2", personalized=True)([row]).predictions[0]
    assert plain.personal == "" and personal.personal == f"head:{AUTHOR}" and plain.score != personal.score
