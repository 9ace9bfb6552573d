"""`mleditor evaluate` never rewrites a model's record unless asked: results go to stdout or `--output`;
`--write-to-model` merges into meta.json and card.md, and is refused for the models shipped in the package."""

from __future__ import annotations

import hashlib
import json
import random
import shutil
from pathlib import Path

import pytest

pytest.importorskip("sklearn")

from mleditor.config import PACKAGED_MODELS_DIR
from mleditor.training.evaluate import merge_metrics
from tests.helpers import REPO_ROOT, run_mleditor

SHIPPED = PACKAGED_MODELS_DIR / "se15-v1"
DUMPS = REPO_ROOT / "tests" / "fixtures" / "dumps"


def digest(directory: Path) -> dict[str, str]:
    return {name: hashlib.sha256((directory / name).read_bytes()).hexdigest() for name in ("card.md", "meta.json")}


def evaluate(*args: str):
    return run_mleditor("evaluate", *args, timeout=300)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    """The hand-written dumps, ingested: a few questions, enough for a test split of both classes."""
    path = tmp_path_factory.mktemp("evaluate") / "fixtures.sqlite"
    dumps = [DUMPS / name for name in ("tiny-site.xml", "pipe-tags.xml", "bom-crlf.xml", "unusable-rows.xml")]
    result = run_mleditor("data", "ingest", *map(str, dumps), "--output", str(path))
    assert result.returncode == 0, result.stderr
    return path


@pytest.fixture
def copied_model(tmp_path) -> Path:
    return Path(shutil.copytree(SHIPPED, tmp_path / "se15-copy"))


def test_evaluating_the_shipped_model_leaves_its_card_and_meta_byte_identical(dataset, tmp_path):
    before = digest(SHIPPED)
    printed = evaluate("--data", str(dataset), "--no-baselines")
    assert printed.returncode == 0, printed.stderr
    assert "| ML Editor v2/v3 (model) | test (author split) |" in printed.stdout
    as_json = evaluate("--data", str(dataset), "--no-baselines", "--json")
    assert as_json.returncode == 0, as_json.stderr
    assert json.loads(as_json.stdout)["model_id"] == "se15-v1"
    assert evaluate("--data", str(dataset), "--no-baselines", "--output", str(tmp_path / "out")).returncode == 0
    assert digest(SHIPPED) == before


def test_writing_into_the_shipped_model_is_refused_in_one_line_before_evaluating(dataset):
    before = digest(SHIPPED)
    result = evaluate("--data", str(dataset), "--write-to-model")
    assert result.returncode == 2
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1, result.stderr
    assert "copy the model directory" in result.stderr
    assert digest(SHIPPED) == before


def test_training_into_the_package_models_folder_is_refused_before_training(dataset):
    pytest.importorskip("torch")
    result = run_mleditor("train", "--data", str(dataset), "--output", str(PACKAGED_MODELS_DIR), "--model-id", "x")
    assert result.returncode == 2 and "never writes to" in result.stderr, result.stderr
    assert not (PACKAGED_MODELS_DIR / "x").exists()


def test_output_writes_json_markdown_or_both_into_a_folder(dataset, tmp_path):
    assert evaluate("--data", str(dataset), "--no-baselines", "-o", str(tmp_path / "m.json")).returncode == 0
    record = json.loads((tmp_path / "m.json").read_text())
    assert {row["model"] for row in record["rows"]} == {"ML Editor v2/v3 (model)", "ML Editor v1 (rules)"}
    assert evaluate("--data", str(dataset), "--no-baselines", "-o", str(tmp_path / "m.md")).returncode == 0
    assert (tmp_path / "m.md").read_text().startswith("| model | evaluation set |")
    result = evaluate("--data", str(dataset), "--no-baselines", "-o", str(tmp_path / "dir"))
    assert result.returncode == 0 and result.stdout == ""
    assert sorted(p.name for p in (tmp_path / "dir").iterdir()) == ["metrics.json", "metrics.md"]
    refused = evaluate("--data", str(dataset), "-o", str(tmp_path / "m.txt"))
    assert refused.returncode == 2 and ".json or .md" in refused.stderr


def test_write_to_model_on_a_copy_keeps_the_baselines_and_the_cross_validated_table(dataset, copied_model):
    before = json.loads((copied_model / "meta.json").read_text())["metrics"]
    result = evaluate("--data", str(dataset), "--model-dir", str(copied_model), "--no-baselines", "--write-to-model")
    assert result.returncode == 0, result.stderr
    metrics = json.loads((copied_model / "meta.json").read_text())["metrics"]
    card = (copied_model / "card.md").read_text()
    rows = {(r["model"], r["set"]): r for r in metrics["rows"]}
    assert rows[("ML Editor v2/v3 (model)", "test (author split)")]["n"] < 10  # measured again, on the fixtures
    assert rows[("baseline: tfidf-rf", "test (author split)")] == next(  # not measured: kept as it was
        r for r in before["rows"] if (r["model"], r["set"]) == ("baseline: tfidf-rf", "test (author split)"))
    assert len(metrics["rows"]) == len(before["rows"]) and metrics["crossval"] == before["crossval"]
    assert "| baseline: tfidf-logreg | held-out site: ai |" in card
    assert "Cross-validated" in card and before["crossval"]["table_markdown"] in card
    assert "Intended use" in card and "Data and license" in card


def _row(model: str, roc_auc: float, evaluation_set: str = "test") -> dict:
    return {"model": model, "set": evaluation_set, "roc_auc": roc_auc, "pr_auc": 0.5, "brier": 0.25, "ece": 0.05,
            "n": 10, "positive_rate": 0.4}


def _cv(folds: int, *rows: dict) -> dict:
    return {"folds": folds, "rows": [{**r, "fold_roc_auc": [r["roc_auc"]] * folds} for r in rows],
            "table_markdown": "old"}


def test_a_merge_replaces_what_was_measured_again_and_keeps_the_rest():
    previous = {"dataset": "old", "rows": [_row("ours", 0.6), _row("baseline", 0.7)],
                "crossval": _cv(5, _row("ours", 0.6), _row("baseline", 0.65))}
    merged = merge_metrics(previous, {"dataset": "new", "rows": [_row("ours", 0.9), _row("other", 0.5)],
                                      "crossval": _cv(5, _row("ours", 0.8))})
    assert [(r["model"], r["roc_auc"]) for r in merged["rows"]] == [("ours", 0.9), ("baseline", 0.7), ("other", 0.5)]
    assert [(r["model"], r["roc_auc"]) for r in merged["crossval"]["rows"]] == [("ours", 0.8), ("baseline", 0.65)]
    assert "| baseline | test | 0.700 |" in merged["table_markdown"]
    assert "| baseline | 0.650 |" in merged["crossval"]["table_markdown"]
    assert merged["dataset"] == "new"


def test_a_merge_keeps_an_earlier_cross_validation_and_replaces_one_with_other_folds():
    previous = {"rows": [_row("ours", 0.6)], "crossval": _cv(5, _row("ours", 0.6))}
    assert merge_metrics(previous, {"dataset": "d", "rows": []})["crossval"] == previous["crossval"]
    other_folds = _cv(3, _row("ours", 0.7))
    assert merge_metrics(previous, {"dataset": "d", "rows": [], "crossval": other_folds})["crossval"] == other_folds


def synthetic_dataset(path: Path, n: int = 400) -> Path:
    """Questions whose score follows their text, on two sites (one held out)."""
    from mleditor.core.dataset import write_dataset
    from mleditor.core.records import QuestionRecord

    rng = random.Random(0)
    records = []
    for i in range(n):
        good = rng.random() < 0.5
        words = " ".join(rng.choice("nozzle bed layer extruder slicer".split()) for _ in range(40 if good else 4))
        records.append(QuestionRecord(
            site="printing" if i % 4 else "held", id=i, title="How do I calibrate it?" if good else "broken help",
            body=f"I use {words}. What should I check?" if good else f"{words} pls!!!",
            score=rng.randint(3, 9) if good else rng.randint(-2, 2), creation_date="2020-01-01T00:00:00",
            owner_id=i % 150))
    write_dataset(records, path)
    return path


@pytest.mark.slow
def test_train_records_the_metrics_of_its_new_model_in_its_card_and_meta(tmp_path):
    pytest.importorskip("torch")
    dataset = synthetic_dataset(tmp_path / "synthetic.sqlite")
    result = run_mleditor("train", "--data", str(dataset), "--output", str(tmp_path / "models"), "--model-id", "t",
                          "--holdout-site", "held", "--epochs", "2", "--folds", "0", timeout=600)
    assert result.returncode == 0, result.stderr
    directory = tmp_path / "models" / "t"
    metrics = json.loads((directory / "meta.json").read_text())["metrics"]
    assert {"ML Editor v2/v3 (model)", "baseline: tfidf-rf"} <= {row["model"] for row in metrics["rows"]}
    card = (directory / "card.md").read_text()
    assert "| ML Editor v2/v3 (model) | test (author split) |" in card and "not evaluated yet" not in card
    assert "| ML Editor v2/v3 (model) | test (author split) |" in result.stdout
