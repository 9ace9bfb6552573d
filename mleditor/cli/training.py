"""`mleditor data ingest`, `mleditor train` and `mleditor evaluate`: the commands that need data."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

import typer
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from mleditor.cli.options import err, json_option, model_dir_option, out
from mleditor.config import data_dir, dump_dirs
from mleditor.errors import InvalidInputError, require_extra

if TYPE_CHECKING:
    from mleditor.core.registry import ModelDirectory

data_app = typer.Typer(help="Turn Stack Exchange dumps into a dataset file.", no_args_is_help=True)


@contextmanager
def _progress() -> Iterator[Callable[[str, float], None]]:
    """A progress bar on stderr; yields a callback (stage, fraction done)."""
    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
                  TimeElapsedColumn(), console=err, transient=True) as bar:
        tasks: dict[str, TaskID] = {}

        def update(stage: str, fraction: float) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=1.0)
            bar.update(tasks[stage], completed=fraction)

        yield update


def _default_paths() -> list[Path]:
    paths = dump_dirs()
    if not paths:
        raise InvalidInputError(f"no dumps found under {data_dir()}/stackexchange*/; pass paths or set MLEDITOR_DATA")
    return paths


@data_app.command("ingest")
def ingest(
    paths: Optional[list[Path]] = typer.Argument(None, help="Posts.xml files, folders holding one, or .7z dumps "
                                                 "(default: every site of every $MLEDITOR_DATA/stackexchange*/ "
                                                 "folder; two dumps of one site are merged)."),
    output: Path = typer.Option(Path("data/questions.sqlite"), "--output", "-o",
                                help="The SQLite dataset file to write."),
    allow_truncated: bool = typer.Option(False, "--allow-truncated",
                                         help="Keep the questions read before a dump breaks off."),
) -> None:
    """Parse dumps (streaming, constant memory) into a dataset file for training and evaluation."""
    from mleditor.core.ingest import ingest_dumps

    sources = paths or _default_paths()
    with _progress() as progress:
        def on_progress(count: int) -> None:
            progress(f"ingesting ({count:,} questions)", 0.0)

        def on_warning(message: str) -> None:
            err.print(f"warning: {message}", markup=False, soft_wrap=True)

        summary = ingest_dumps(sources, output, allow_truncated=allow_truncated, on_progress=on_progress,
                               on_warning=on_warning)
    for site, count in sorted(summary.questions_per_site.items()):
        out.print(f"{site:24} {count:>7,} questions")
    for merge in summary.merged:
        out.print(f"merged: {merge.describe()}", highlight=False)
    out.print(f"wrote {sum(summary.questions_per_site.values()):,} questions to {output}"
              + (f"; {summary.skipped} rows skipped (see warnings)" if summary.skipped else ""))


def _default_dataset(dataset: Optional[Path]) -> Path:
    if dataset is not None:
        return dataset
    raise InvalidInputError("pass --data FILE (create it with `mleditor data ingest --output FILE`)")


def _data_option() -> Any:
    return typer.Option(None, "--data", "-d", help="Dataset file from `mleditor data ingest`.")


def train(
    dataset: Optional[Path] = _data_option(),
    output: Path = typer.Option(Path("models"), "--output", "-o", help="Folder to create the model directory in."),
    model_id: Optional[str] = typer.Option(None, "--model-id",
                                           help="Name of the model directory (default: generated)."),
    holdout_site: str = typer.Option("ai", help="Site kept out of training to test generalization ('' for none)."),
    label_mode: str = typer.Option("site-year", help="Label groups: site-year or site."),
    epochs: int = typer.Option(40, min=1, help="Maximum training epochs."),
    seed: int = typer.Option(0, help="Seed for the split and the network."),
    evaluate_after: bool = typer.Option(True, "--evaluate/--no-evaluate",
                                        help="Evaluate the new model and record the metrics in its card."),
    folds: int = typer.Option(5, min=0, help="Cross-validation folds for the evaluation (0 = test split only)."),
) -> None:
    """Train the network (PyTorch), calibrate it and export a model directory (ONNX + metadata + card)."""
    require_extra("torch", "train")
    from mleditor.training.evaluate import check_model_writable
    from mleditor.training.splits import LABEL_MODES, SplitConfig
    from mleditor.training.train import NetworkConfig, TrainConfig, train_model

    if label_mode not in LABEL_MODES:
        raise InvalidInputError(f"unknown --label-mode {label_mode!r}; choose one of {', '.join(LABEL_MODES)}")
    check_model_writable(output, "train into another folder (e.g. --output models), then copy the model "
                                 "directory into the package to ship it")
    _check_folds(folds)
    if evaluate_after:
        require_extra("sklearn", "train")
    config = TrainConfig(SplitConfig(label_mode=label_mode, holdout_site=holdout_site or None, seed=seed),
                         NetworkConfig(epochs=epochs, seed=seed))
    dataset = _default_dataset(dataset)
    with _progress() as progress:
        directory = train_model(dataset, output, config, progress, model_id)
    out.print(f"model written to {directory}")
    if evaluate_after:
        from mleditor.core.registry import load_model_directory

        _evaluate(load_model_directory(directory), dataset, baselines=True, folds=folds, output=None,
                  write_model=True, as_json=False)


def evaluate(
    model_dir: Optional[str] = model_dir_option(),
    dataset: Optional[Path] = _data_option(),
    baselines: bool = typer.Option(True, "--baselines/--no-baselines", help="Also fit and score the book's baselines."),
    folds: int = typer.Option(0, min=0, help="Also cross-validate with this many author folds (0 = no)."),
    output: Optional[Path] = typer.Option(
        None, "--output", "-o", help="Write the metrics to FILE.json, FILE.md or a folder (metrics.json and "
        "metrics.md) instead of printing them."),
    write_model: bool = typer.Option(
        False, "--write-to-model", help="Also merge the metrics into the model's meta.json and card.md (rows not "
        "measured again are kept); not for the shipped models: copy the directory first."),
    as_json: bool = json_option("Print the metrics as JSON instead of Markdown."),
) -> None:
    """ROC AUC, PR AUC, Brier and ECE for v1, v2/v3 and the baselines, on the model's own split.

    The model directory is left as it is unless --write-to-model is given.
    """
    require_extra("sklearn", "train")
    from mleditor.core.registry import resolve_model

    _evaluate(resolve_model(model_dir), _default_dataset(dataset), baselines, folds, output, write_model, as_json)


def _check_folds(folds: int) -> None:
    if folds == 1:
        raise InvalidInputError("--folds must be 0 (no cross-validation) or at least 2")


def _evaluate(model: ModelDirectory, dataset: Path, baselines: bool, folds: int, output: Optional[Path],
              write_model: bool, as_json: bool) -> None:
    """Measure, then report where asked: stdout, --output, the model directory (merged)."""
    from mleditor.training.evaluate import check_model_writable, evaluate_model, metrics_record, write_to_model
    from mleditor.training.report import metrics_json, metrics_markdown, output_files, write_metrics

    # Every refusal before the evaluation, which takes minutes.
    _check_folds(folds)
    if write_model:
        check_model_writable(model.path)
    if output is not None:
        output_files(output)
    crossval = None
    with _progress() as progress:
        rows = evaluate_model(model, dataset, with_baselines=baselines, on_progress=progress)
        if folds:
            from mleditor.training.crossval import cross_validate
            from mleditor.training.train import TrainConfig

            config = TrainConfig.from_dict(model.meta["training"])
            crossval = (folds, cross_validate(dataset, config, folds, baselines, on_progress=progress))
    record = metrics_record(rows, dataset, crossval)
    report = {"model_id": model.model_id, **record}
    if output is not None:
        for path in write_metrics(report, output):
            err.print(f"wrote {path}", markup=False, highlight=False, soft_wrap=True)
    elif as_json:
        sys.stdout.write(metrics_json(report))
    else:
        out.print(metrics_markdown(record), markup=False, highlight=False, soft_wrap=True)
    if write_model:
        write_to_model(model, record)
        err.print(f"metrics merged into {model.path}/meta.json and card.md", markup=False, highlight=False,
                  soft_wrap=True)


def register(app: typer.Typer) -> None:
    app.add_typer(data_app, name="data")
    app.command()(train)
    app.command()(evaluate)
