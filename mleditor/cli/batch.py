"""`mleditor batch ...`: score questions ahead of time into a prediction store, and read the results."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Optional

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from mleditor.cli.options import (
    err,
    json_option,
    model_dir_option,
    out,
    prediction_store_option,
    several_values,
    version_option,
)
from mleditor.config import data_dir, dump_dirs
from mleditor.errors import InvalidInputError

if TYPE_CHECKING:
    from mleditor.stores.predictions.records import JobRecord

batch_app = typer.Typer(help="Batch predictions: precompute, store, look up.", no_args_is_help=True)

# `--input a.xml b.xml` and `--input a.xml --input b.xml` both give two inputs (README: `--input PATH...`).
_SEVERAL_INPUTS = several_values("--input", "-i")
_INPUTS_HELP = ("Posts.xml, dump folder, .7z, .csv, .parquet or table:NAME; several after one --input, "
                "or --input repeated")


def _default_inputs() -> list[str]:
    found = [str(path) for path in dump_dirs()]
    if not found:
        raise InvalidInputError(f"no dumps found under {data_dir()}/stackexchange*/; pass --input PATH or set "
                                "MLEDITOR_DATA")
    return found


@batch_app.command("run", cls=_SEVERAL_INPUTS)
def run(
    inputs: Optional[list[str]] = typer.Option(
        None, "--input", "-i", metavar="PATH...",
        help=f"{_INPUTS_HELP} (default: every site of every $MLEDITOR_DATA/stackexchange*/ folder)."),
    store_url: str = prediction_store_option(),
    version: str = version_option(),
    model_dir: Optional[str] = model_dir_option(),
    engine: str = typer.Option("local", "--engine", help="local (process pool) or ray (Ray Data; extra 'ray')."),
    workers: int = typer.Option(0, "--workers", "-w", min=0, help="Scoring processes (Ray: CPUs); 0 = all cores."),
    chunk_size: int = typer.Option(1000, "--chunk-size", min=1, help="Rows per chunk: one commit, one resume point."),
    resume: bool = typer.Option(True, "--resume/--no-resume", help="Continue an unfinished job with the same inputs."),
    allow_truncated: bool = typer.Option(False, "--allow-truncated",
                                         help="Keep the rows read before a dump breaks off."),
    personalized: bool = typer.Option(False, "--personalized",
                                      help="Score each question with its author's personal model part (the input's "
                                           "site and owner_id), when the model has one; local engine."),
    as_json: bool = json_option("Print the summary as JSON."),
) -> None:
    """Score every question of the inputs into the store: resumable, incremental, bad rows to `rejects`."""
    from mleditor.batch.job import JobSpec, run_batch_job
    from mleditor.stores.predictions.factory import open_store

    spec = JobSpec(inputs=tuple(inputs or _default_inputs()), model=model_dir, version=version, chunk_size=chunk_size,
                   workers=workers, engine=engine, resume=resume, allow_truncated=allow_truncated,
                   personalized=personalized)
    with open_store(store_url) as store, _progress() as on_progress:
        summary = run_batch_job(spec.checked(), store, on_progress,
                                on_warning=lambda message: err.print(f"warning: {message}", markup=False))
    if as_json:
        sys.stdout.write(json.dumps(summary.to_dict()) + "\n")
        return
    job = summary.job
    resumed = f" (resumed from row {summary.resumed_from:,})" if summary.resumed_from is not None else ""
    out.print(f"job {job.job_id} {job.status}{resumed}: {job.rows_read:,} rows read, {job.rows_scored:,} scored, "
              f"{job.rows_skipped:,} unchanged, {job.rows_failed:,} rejected "
              f"({summary.questions_per_second:,.0f} rows/s; model {job.model_id} {job.model_version})")
    if job.rows_failed:
        out.print(f"see the rejected rows: mleditor batch rejects --store ... --job {job.job_id}")


class _progress:
    """A progress bar on stderr fed with the job record after each committed chunk."""

    def __enter__(self) -> Callable[[JobRecord, int | None], None]:
        self.bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                            TaskProgressColumn(), TimeElapsedColumn(), console=err, transient=True,
                            disable=not err.is_terminal)
        self.bar.__enter__()
        self.task = self.bar.add_task("scoring", total=None)

        def update(job: JobRecord, total: int | None) -> None:
            self.bar.update(self.task, completed=job.rows_read, total=total,
                            description=f"scoring ({job.rows_scored:,} scored, {job.rows_skipped:,} unchanged, "
                                        f"{job.rows_failed:,} rejected)")
        return update

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.bar.__exit__(kind, error, trace)


@batch_app.command("top")
def top(
    site: str = typer.Option(..., "--site", help="The site whose questions to list."),
    n: int = typer.Option(20, "--n", "-n", min=1, help="How many questions."),
    store_url: str = prediction_store_option(),
    version: str = version_option(),
    max_score: float = typer.Option(0.5, "--max-score", help="Only questions scoring at most this (1 = all)."),
    as_json: bool = json_option("Print JSON lines instead of a table."),
) -> None:
    """The questions that would gain most from editing: low score, large estimated gain (v3 advice)."""
    from mleditor.stores.predictions.factory import open_store

    with open_store(store_url, create=False) as store:
        found = store.top_questions(site, version, n, max_score)
        if not found and not store.count_predictions(version, site):
            raise InvalidInputError(f"no {version} predictions for site {site!r} in the store; "
                                    "run `mleditor batch run`")
    if as_json:
        for record in found:
            sys.stdout.write(json.dumps(record.to_dict(), ensure_ascii=False) + "\n")
        return
    table = Table("#", "question", "title", "score", "gain", "best edit", title=f"{site}: most to gain from editing")
    for rank, record in enumerate(found, 1):
        advice = record.recommendation_list()
        table.add_row(str(rank), str(record.question_id), record.title[:60], f"{record.score:.2f}",
                      f"+{record.best_gain:.3f}" if advice else "-", advice[0].message if advice else "-")
    out.print(table)


@batch_app.command("jobs")
def jobs(
    store_url: str = prediction_store_option(),
    limit: int = typer.Option(20, "--limit", min=1, help="How many jobs, most recent first."),
    as_json: bool = json_option("Print JSON lines."),
) -> None:
    """Recent batch jobs with their status and counters."""
    from mleditor.stores.predictions.factory import open_store

    with open_store(store_url, create=False) as store:
        found = store.list_jobs(limit)
    if as_json:
        for job in found:
            sys.stdout.write(json.dumps(job.to_dict()) + "\n")
        return
    table = Table("job", "status", "model", "read", "scored", "unchanged", "rejected", "started", "ended")
    for job in found:
        table.add_row(job.job_id, job.status, f"{job.model_id} {job.model_version}", f"{job.rows_read:,}",
                      f"{job.rows_scored:,}", f"{job.rows_skipped:,}", f"{job.rows_failed:,}", job.started_at[:19],
                      (job.ended_at or "-")[:19])
    out.print(table)


@batch_app.command("rejects")
def rejects(
    store_url: str = prediction_store_option(),
    job_id: Optional[str] = typer.Option(None, "--job", help="Only this job's rejects."),
    limit: int = typer.Option(100, "--limit", min=1, help="How many rows."),
    as_json: bool = json_option("Print JSON lines."),
) -> None:
    """Rows a job could not score, and why."""
    from mleditor.stores.predictions.factory import open_store

    with open_store(store_url, create=False) as store:
        found = store.rejects(job_id, limit)
    if as_json:
        for reject in found:
            sys.stdout.write(json.dumps(dict(vars(reject)), ensure_ascii=False) + "\n")
        return
    table = Table("site", "question", "source", "reason")
    for reject in found:
        table.add_row(reject.site or "-", str(reject.question_id or "-"), reject.source, reject.reason)
    out.print(table)


@batch_app.command("schedule", cls=_SEVERAL_INPUTS)
def schedule(
    inputs: list[str] = typer.Option(..., "--input", "-i", metavar="PATH...",
                                     help=f"Inputs of the scheduled run: {_INPUTS_HELP}."),
    store_url: str = prediction_store_option(),
    at: str = typer.Option("02:00", "--at", help="Daily start time, HH:MM (local time of the machine)."),
    kind: str = typer.Option("systemd", "--format",
                             help="systemd (a .service and a .timer) or cron (one crontab line)."),
    output: Optional[Path] = typer.Option(None, "--output", "-o",
                                          help="Folder to write the files to (default: print)."),
    version: str = version_option(),
    model_dir: Optional[str] = model_dir_option(),
    workers: int = typer.Option(0, "--workers", "-w", min=0, help="Scoring processes; 0 = all cores."),
) -> None:
    """Generate a systemd timer (or a crontab line) that runs `mleditor batch run` every night."""
    from mleditor.batch.schedule import ScheduleSpec, render_schedule

    files = render_schedule(ScheduleSpec(tuple(inputs), store_url, at, version, model_dir, workers), kind)
    if output is None:
        for name, text in files.items():
            out.print(f"# {name}", markup=False, highlight=False)
            out.print(text, markup=False, highlight=False, soft_wrap=True)
        return
    output.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (output / name).write_text(text, encoding="utf-8")
        out.print(f"wrote {output / name}", markup=False, highlight=False)


def register(app: typer.Typer) -> None:
    app.add_typer(batch_app, name="batch")
