"""Training end to end: a dataset file in, a loadable calibrated model directory out, metrics recorded."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("sklearn")

from mleditor.core.dataset import write_dataset
from mleditor.core.predictor import Predictor
from mleditor.core.records import Question, QuestionRecord
from mleditor.core.registry import load_model_directory
from mleditor.training.evaluate import evaluate_model, record_metrics
from mleditor.training.splits import SplitConfig
from mleditor.training.train import NetworkConfig, TrainConfig, train_model
from tests.helpers import write_model_dir

GOOD = "How do I calibrate the extruder of my printer?"
WORDS = "filament nozzle bed layer extruder temperature printer slicer".split()


def synthetic_records(n: int = 900, seed: int = 0) -> list[QuestionRecord]:
    """Questions whose score depends on the text: ones with a question mark and detail score high."""
    rng = random.Random(seed)
    records = []
    for i in range(n):
        good = rng.random() < 0.5
        words = " ".join(rng.choice(WORDS) for _ in range(rng.randint(30, 80) if good else rng.randint(3, 8)))
        title = GOOD if good else "printer broken help"
        body = f"I use {words}. What should I check?" if good else f"{words} pls help!!!"
        score = rng.randint(3, 9) if good else rng.randint(-2, 2)
        records.append(QuestionRecord(site="printing" if i % 4 else "held", id=i, title=title, body=body,
                                      score=score, creation_date="2020-01-01T00:00:00", owner_id=i % 300))
    return records


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("train")
    dataset = root / "synthetic.sqlite"
    write_dataset(synthetic_records(), dataset)
    config = TrainConfig(SplitConfig(holdout_site="held", min_group=10), NetworkConfig(epochs=4, patience=2))
    directory = train_model(dataset, root / "models", config, model_id="synthetic")
    return dataset, directory


@pytest.mark.slow
def test_trained_model_directory_loads_and_separates_the_classes(trained):
    _, directory = trained
    predictor = Predictor(load_model_directory(directory))
    good = predictor.predict(Question(GOOD, "I use nozzle bed layer temperature slicer. What should I check?"), "v2")
    bad = predictor.predict(Question("printer broken help", "nozzle pls help!!!"), "v2")
    assert good.score > bad.score


@pytest.mark.slow
def test_meta_records_spec_calibration_data_and_typical_values(trained):
    _, directory = trained
    meta = json.loads((directory / "meta.json").read_text())
    assert meta["featurizer_spec"] == "1.0"
    assert meta["calibration"]["method"] == "platt"
    assert meta["data"]["total"] == 900
    assert meta["split_sizes"]["holdout"] == 225
    assert set(meta["typical_values"]) == set(meta["dense_features"])
    assert len(meta["v1_calibration"]) == 7


@pytest.mark.slow
def test_training_records_the_dense_features_ranges_over_the_training_questions(trained):
    from mleditor.core.features import featurize
    from mleditor.core.ood import out_of_distribution
    from mleditor.training.card import model_card
    from mleditor.training.splits import assign_splits

    _, directory = trained
    model = load_model_directory(directory)
    ranges = model.dense_ranges
    assert ranges is not None and ranges.questions == model.meta["split_sizes"]["train"]
    records = synthetic_records()
    splits = assign_splits(records, SplitConfig(**model.meta["training"]["split"]))
    dense = np.stack([featurize(r.title, r.body).dense for r, split in zip(records, splits) if split == "train"])
    assert np.array_equal(dense.max(axis=0), ranges.maximum)
    assert not any(out_of_distribution(row, ranges) for row in dense)
    assert out_of_distribution(featurize(GOOD, "a" * 50_000).dense, ranges)
    assert f"over the {ranges.questions:,} training questions" in model_card(model)


def test_the_card_of_a_model_without_ranges_says_unusual_inputs_are_not_detected(tmp_path):
    from mleditor.training.card import model_card

    older = write_model_dir(tmp_path / "older", label={"mode": "site", "definition": "above the site median"})
    card = model_card(load_model_directory(older))
    assert "keeps no training ranges of its features, so unusual inputs are not detected" in card


@pytest.mark.slow
def test_evaluation_reports_ours_and_the_baselines_on_test_and_holdout(trained):
    dataset, directory = trained
    model = load_model_directory(directory)
    rows = evaluate_model(model, dataset, n_estimators=20)
    models = {r.model for r in rows}
    assert {"ML Editor v2/v3 (model)", "ML Editor v1 (rules)", "baseline: tfidf-rf", "baseline: features-rf",
            "baseline: tfidf-logreg"} <= models
    assert {r.evaluation_set for r in rows} == {"test (author split)", "held-out site: held"}
    ours = next(r for r in rows if r.model.startswith("ML Editor v2") and r.evaluation_set.startswith("test"))
    assert ours.metrics.roc_auc > 0.9
    table = record_metrics(model, rows, dataset)
    assert "| ML Editor v2/v3 (model) | test (author split) |" in table
    assert "ROC AUC" in (directory / "card.md").read_text()


@pytest.mark.slow
def test_torch_and_onnx_agree_on_the_trained_model(trained):
    import torch

    from mleditor.core.features import featurize
    from mleditor.core.scorer import OnnxScorer, pad_ngram_ids
    from mleditor.training.export import validate_weights
    from mleditor.training.network import QuestionNet

    _dataset, directory = trained
    meta = json.loads((directory / "meta.json").read_text())
    scorer = OnnxScorer.from_path(directory / "model.onnx")
    feats = [featurize(r.title, r.body) for r in synthetic_records(50, seed=3)]
    ids = pad_ngram_ids([f.ngram_ids for f in feats])
    dense = np.stack([f.dense for f in feats]).astype(np.float32)
    import onnx
    from onnx import numpy_helper

    weights = {t.name: numpy_helper.to_array(t) for t in onnx.load(directory / "model.onnx").graph.initializer}
    net = QuestionNet.from_weights({k: weights[k] for k in validate_weights.__globals__["WEIGHT_NAMES"]})
    with torch.no_grad():
        logit = net(torch.from_numpy(ids), torch.from_numpy(dense)).numpy()
    a, b = meta["calibration"]["a"], meta["calibration"]["b"]
    expected = 1 / (1 + np.exp(-(a * logit.astype(np.float64) + b)))
    assert np.max(np.abs(scorer.score(ids, dense) - expected)) <= 1e-5


@pytest.mark.slow
@pytest.mark.data
def test_shipped_model_metrics_are_reproduced_from_the_real_data(tmp_path, real_dump_dirs):
    """`mleditor data ingest` + `train` on ../shared/data gives the shipped model's test ROC AUC."""
    from mleditor.core.ingest import ingest_dumps
    from mleditor.core.registry import resolve_model

    dataset = tmp_path / "se.sqlite"
    ingest_dumps(real_dump_dirs, dataset)  # whatever the data dir holds: every dump, two of one site merged
    directory = train_model(dataset, tmp_path / "models", TrainConfig(), model_id="repro")
    rows = evaluate_model(load_model_directory(directory), dataset, with_baselines=False)
    got = next(r.metrics.roc_auc for r in rows if r.model.startswith("ML Editor v2") and r.evaluation_set.startswith("test"))
    shipped = next(r["roc_auc"] for r in resolve_model().meta["metrics"]["rows"]
                   if r["model"].startswith("ML Editor v2") and r["set"].startswith("test"))
    assert got == pytest.approx(shipped, abs=0.02)


@pytest.mark.slow
def test_cross_validation_scores_every_question_once_with_author_disjoint_folds(trained):
    from mleditor.training.crossval import assign_folds, cross_validate, crossval_table_markdown

    dataset, _ = trained
    config = TrainConfig(SplitConfig(holdout_site="held", min_group=10), NetworkConfig(epochs=3, patience=1))
    rows = cross_validate(dataset, config, folds=3, with_baselines=False)
    assert [r.model for r in rows] == ["ML Editor v2/v3 (model)"]
    assert rows[0].pooled.n == 675  # every question outside the held-out site, once
    assert len(rows[0].fold_roc_auc) == 3
    assert "3-fold by author" in crossval_table_markdown(rows, 3)
    folds = assign_folds(["a", "b", "a", "c"], 3, seed=0)
    assert folds[0] == folds[2]
