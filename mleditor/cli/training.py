"""`mleditor data ingest`, `mleditor train` and `mleditor evaluate`: the commands that need data."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from mleditor.errors import InvalidInputError, require_extra
from mleditor.config import data_dir

out = Console()
err = Console(stderr=True)
data_app = typer.Typer(help="Turn Stack Exchange dumps into a dataset file.", no_args_is_help=True)


@contextmanager
def _progress() -> Iterator:
    """A progress bar on stderr; yields a callback (stage, fraction done)."""
    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
                  TimeElapsedColumn(), console=err, transient=True) as bar:
        tasks: dict[str, int] = {}

        def update(stage: str, fraction: float) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=1.0)
            bar.update(tasks[stage], completed=fraction)

        yield update


def _default_paths() -> list[Path]:
    root = data_dir() / "stackexchange"
    paths = sorted(p.parent for p in root.glob("*/Posts.xml"))
    if not paths:
        raise InvalidInputError(f"no dumps found under {root}; pass paths or set MLEDITOR_DATA")
    return paths


@data_app.command("ingest")
def ingest(
    paths: Optional[list[Path]] = typer.Argument(None, help="Posts.xml files, folders holding one, or .7z dumps "
                                                 "(default: every site under $MLEDITOR_DATA/stackexchange)."),
    output: Path = typer.Option(..., "--output", "-o", help="The SQLite dataset file to write."),
    allow_truncated: bool = typer.Option(False, "--allow-truncated", help="Keep the questions read before a dump breaks off."),
) -> None:
    """Parse dumps (streaming, constant memory) into a dataset file for training and evaluation."""
    from mleditor.core.ingest import ingest_dumps

    sources = paths or _default_paths()
    with _progress() as progress:
        def on_progress(count: int) -> None:
            progress(f"ingesting ({count:,} questions)", 0.0)

        summary = ingest_dumps(sources, output, allow_truncated=allow_truncated, on_progress=on_progress,
                               on_warning=lambda message: err.print(f"warning: {message}", markup=False, soft_wrap=True))
    for site, count in sorted(summary.questions_per_site.items()):
        out.print(f"{site:24} {count:>7,} questions")
    out.print(f"wrote {sum(summary.questions_per_site.values()):,} questions to {output}"
              + (f"; {summary.skipped} rows skipped (see warnings)" if summary.skipped else ""))


def _default_dataset(dataset: Optional[Path]) -> Path:
    if dataset is not None:
        return dataset
    raise InvalidInputError("pass --data FILE (create it with `mleditor data ingest --output FILE`)")


def train(
    dataset: Optional[Path] = typer.Option(None, "--data", "-d", help="Dataset file from `mleditor data ingest`."),
    output: Path = typer.Option(Path("models"), "--output", "-o", help="Folder to create the model directory in."),
    model_id: Optional[str] = typer.Option(None, "--model-id", help="Name of the model directory (default: generated)."),
    holdout_site: str = typer.Option("ai", help="Site kept out of training to test generalization ('' for none)."),
    label_mode: str = typer.Option("site-year", help="Label groups: site-year or site."),
    epochs: int = typer.Option(40, min=1, help="Maximum training epochs."),
    seed: int = typer.Option(0, help="Seed for the split and the network."),
    evaluate_after: bool = typer.Option(True, "--evaluate/--no-evaluate", help="Run `evaluate` on the new model."),
    folds: int = typer.Option(5, min=0, help="Cross-validation folds for the evaluation (0 = test split only)."),
) -> None:
    """Train the network (PyTorch), calibrate it and export a model directory (ONNX + metadata + card)."""
    require_extra("torch", "train")
    from mleditor.training.splits import LABEL_MODES, SplitConfig
    from mleditor.training.train import NetworkConfig, TrainConfig, train_model

    if label_mode not in LABEL_MODES:
        raise InvalidInputError(f"unknown --label-mode {label_mode!r}; choose one of {', '.join(LABEL_MODES)}")
    config = TrainConfig(SplitConfig(label_mode=label_mode, holdout_site=holdout_site or None, seed=seed),
                         NetworkConfig(epochs=epochs, seed=seed))
    dataset = _default_dataset(dataset)
    with _progress() as progress:
        directory = train_model(dataset, output, config, progress, model_id)
    out.print(f"model written to {directory}")
    if evaluate_after:
        evaluate(model_dir=str(directory), dataset=dataset, baselines=True, folds=folds, as_json=False)


def evaluate(
    model_dir: Optional[str] = typer.Option(None, "--model-dir", help="Model directory or id (default: shipped)."),
    dataset: Optional[Path] = typer.Option(None, "--data", "-d", help="Dataset file from `mleditor data ingest`."),
    baselines: bool = typer.Option(True, "--baselines/--no-baselines", help="Also fit and score the book's baselines."),
    folds: int = typer.Option(0, min=0, help="Also cross-validate with this many author folds (0 = no)."),
    as_json: bool = typer.Option(False, "--json", help="Print the metrics as JSON."),
) -> None:
    """ROC AUC, PR AUC, Brier and ECE for v1, v2/v3 and the baselines, on the model's own split."""
    require_extra("sklearn", "train")
    from mleditor.core.registry import resolve_model
    from mleditor.training.evaluate import evaluate_model, record_metrics
    from mleditor.training.report import metrics_to_dict

    model = resolve_model(model_dir)
    dataset = _default_dataset(dataset)
    crossval = None
    with _progress() as progress:
        rows = evaluate_model(model, dataset, with_baselines=baselines, on_progress=progress)
        if folds:
            from mleditor.training.crossval import cross_validate
            from mleditor.training.train import TrainConfig

            if folds < 2:
                raise InvalidInputError("--folds must be 0 (no cross-validation) or at least 2")
            config = TrainConfig.from_dict(model.meta["training"])
            crossval = (folds, cross_validate(dataset, config, folds, baselines, on_progress=progress))
    table = record_metrics(model, rows, dataset, crossval)
    if as_json:
        payload = [{"model": r.model, "set": r.evaluation_set, **metrics_to_dict(r.metrics)} for r in rows]
        sys.stdout.write(json.dumps(payload, indent=2) + "\n")
    else:
        out.print(table, markup=False, highlight=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    app.add_typer(data_app, name="data")
    app.command()(train)
    app.command()(evaluate)
