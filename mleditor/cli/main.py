"""The `mleditor` command: predict, demo and models here; each door's commands in its own module of this package."""

from __future__ import annotations

import json
import os
import sys
from typing import BinaryIO, Optional

import typer
from rich.table import Table

from mleditor.cli.exit_codes import INTERNAL, SOME_LINES_FAILED, exit_code_for
from mleditor.cli.options import err, json_option, model_dir_option, out, version_option
from mleditor.core.prediction import Prediction
from mleditor.core.predictor import Predictor
from mleditor.core.records import Question
from mleditor.core.registry import ModelDirectory, list_models
from mleditor.core.validation import check_version, prepare_question
from mleditor.errors import DataError, InvalidInputError, MLEditorError

app = typer.Typer(
    help="ML Editor: how likely is a question to be well received, and what edits would help?",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
models_app = typer.Typer(help="Inspect the installed models.", no_args_is_help=True)
app.add_typer(models_app, name="models")

EXAMPLES = [
    Question("how 2 fix??", "it doesnt work. i tried everything and nothing works please help me asap!!! thanks"),
    Question(
        "How do I keep a bottle-conditioned ale from over-carbonating?",
        "I bottle my pale ale with 120 g of priming sugar per 20 L batch, as my recipe says. "
        "After three weeks at 20 °C the bottles gush when opened.\n\n"
        "I measured the final gravity (1.012) before bottling, so fermentation should have been over.\n\n"
        "- Is my priming rate too high for this style?\n- Could an infection cause this?\n\n"
        "What should I check first?",
    ),
]


def _read_stdin_text() -> str:
    data = sys.stdin.buffer.read()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInputError(f"standard input is not valid UTF-8 (byte {exc.start}); send UTF-8 text") from None


def _split_text(text: str) -> tuple[str, str]:
    """A free-text question: its first line is the title, the rest the body."""
    title, _, body = text.strip().partition("\n")
    return title, body


def _print_prediction(prediction: Prediction, question: Question) -> None:
    title = question.title.strip() or "(no title)"
    out.print(f"[bold]{title[:80]}[/bold]")
    out.print(f"  score {prediction.score:.2f}  ·  {prediction.model_version} · model {prediction.model_id}")
    if prediction.out_of_distribution:
        unusual = ", ".join(item.describe() for item in prediction.out_of_distribution)
        out.print(f"  [yellow]unusual input[/yellow] ({unusual}): the score is not reliable", highlight=False)
    if not prediction.recommendations:
        out.print("  no recommendations: nothing stands out as worth changing")
        return
    table = Table(show_header=True, header_style="bold", box=None, padding=(0, 2))
    for column in ("#", "recommendation", "now", "typical", "gain"):
        table.add_column(column)
    for rank, rec in enumerate(prediction.recommendations, 1):
        gain = "" if rec.gain is None else f"+{rec.gain:.3f}"
        table.add_row(str(rank), rec.message, f"{rec.current:.3g}", f"{rec.typical:.3g}", gain)
    out.print(table)


def _open_input(path: str) -> BinaryIO:
    """A file opened for reading, "-" for stdin; one that is missing or cannot be opened is a DataError (exit 3)."""
    if path == "-":
        return sys.stdin.buffer
    try:
        return open(path, "rb")
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc.strerror}; check the path") from None


def _predict_jsonl(predictor: Predictor, path: str, version: str) -> int:
    """One JSON object per line in, one result per line out; a bad line is reported, the rest go on."""
    failures = 0
    with _open_input(path) as handle:
        for number, raw in enumerate(handle, 1):
            if not raw.strip():
                continue
            line, failed = _jsonl_answer(predictor, raw, number, version)
            failures += failed
            sys.stdout.write(line + "\n")
    if failures:
        err.print(f"{failures} line(s) could not be scored; see their \"error\" field")
    return SOME_LINES_FAILED if failures else 0


def _jsonl_answer(predictor: Predictor, raw: bytes, number: int, version: str) -> tuple[str, bool]:
    """The output line for one input line, and whether it failed: whatever goes wrong stays on this line."""
    item_id = None
    try:
        item = json.loads(raw.decode("utf-8"))
        if not isinstance(item, dict):
            raise InvalidInputError("each line must be a JSON object with title and body")
        item_id = item.get("id")
        title, body = item.get("title", ""), item.get("body", "")
        result = {"id": item_id, **predictor.predict(prepare_question(title, body), version).to_dict()}
        return json.dumps(result, ensure_ascii=False), False
    except RecursionError:
        message = "the line is nested too deeply to read; send a flat object with title and body"
    except Exception as exc:  # noqa: BLE001 - one line's failure, whatever it is, is that line's error
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if not isinstance(exc, (ValueError, MLEditorError)):
            message = f"internal error: {type(exc).__name__}: {message}"
    return json.dumps({"id": _echoable(item_id), "line": number, "error": message[:500]}, ensure_ascii=False), True


def _echoable(item_id: object) -> object:
    """The line's id as given when it can be written back as JSON, else None."""
    try:
        json.dumps(item_id)
    except (ValueError, TypeError, RecursionError):
        return None
    return item_id


@app.command()
def predict(
    text: Optional[str] = typer.Argument(None, help="The question: first line the title, the rest the body."),
    title: Optional[str] = typer.Option(None, "--title", "-t", help="The question's title."),
    body: Optional[str] = typer.Option(None, "--body", "-b", help="The question's body (Markdown or HTML)."),
    jsonl: Optional[str] = typer.Option(None, "--jsonl", help='File of {"id","title","body"} lines ("-" = stdin).'),
    version: str = version_option(),
    model_dir: Optional[str] = model_dir_option(),
    as_json: bool = json_option("Print JSON instead of a table."),
) -> None:
    """Score a question. With no text, --title/--body or --jsonl, the question is read from stdin."""
    check_version(version)
    predictor = Predictor.load(model_dir)
    if jsonl is not None:
        raise typer.Exit(_predict_jsonl(predictor, jsonl, version))
    if title is None and body is None:
        title, body = _split_text(text if text is not None else _read_stdin_text())
    elif text is not None:
        raise InvalidInputError("give the question either as TEXT or with --title/--body, not both")
    question = prepare_question(title or "", body or "")
    prediction = predictor.predict(question, version)
    if as_json:
        sys.stdout.write(json.dumps(prediction.to_dict(), ensure_ascii=False) + "\n")
    else:
        _print_prediction(prediction, question)


@app.command()
def demo(
    version: str = version_option(), model_dir: Optional[str] = model_dir_option()
) -> None:
    """Score two example questions with the shipped model (no data needed)."""
    predictor = Predictor.load(model_dir)
    for question in EXAMPLES:
        _print_prediction(predictor.predict(question, version), question)
        out.print()


@models_app.command("list")
def models_list(as_json: bool = json_option()) -> None:
    """List the model directories found in $MLEDITOR_MODELS and the shipped models."""
    found = list_models()
    if as_json:
        rows = [
            {"model_id": m.model_id, "path": str(m.path), "created": m.meta["created"]}
            if isinstance(m, ModelDirectory)
            else {"path": str(m[0]), "error": m[1]}
            for m in found
        ]
        sys.stdout.write(json.dumps(rows, indent=2) + "\n")
        return
    table = Table("model id", "created", "featurizer", "test ROC AUC", "path")
    for m in found:
        if isinstance(m, ModelDirectory):
            rows = m.meta.get("metrics", {}).get("rows", [])
            auc = next((r["roc_auc"] for r in rows if r["set"].startswith("test")), None)
            table.add_row(m.model_id, m.meta["created"], m.meta["featurizer_spec"], f"{auc:.3f}" if auc else "-",
                          str(m.path))
        else:
            table.add_row(m[0].name, "-", "-", "-", f"{m[0]} (unusable: {m[1]})")
    out.print(table)


def _register_door_commands() -> None:
    from mleditor.cli import batch, serve, training

    training.register(app)
    serve.register(app)
    batch.register(app)


_register_door_commands()


# What click raises for a user's mistake on the command line (no such option or command, a bad or missing
# value, an extra argument): typer >= 0.22 raises its own copy of click's classes, older typer click's.
_CLICK_ERROR: type[Exception] = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")


def _show_click_error(exc: Exception) -> None:
    """Print a usage error as one line, like every other error: `error: <click's words>; try '<command> --help'`."""
    message = " ".join(exc.format_message().split()).rstrip(".")  # type: ignore[attr-defined]
    if type(exc).__name__ == "NoArgsIsHelpError" and not message:
        return  # no command given: typer has already printed the help
    context = getattr(exc, "ctx", None)
    command = context.command_path if context is not None else "mleditor"
    err.print(f"error: {message}; try '{command} --help'", markup=False, highlight=False, soft_wrap=True)


def main() -> None:
    """Console entry point: user errors become one line on stderr and a meaningful exit code."""
    try:
        result = app(prog_name="mleditor", standalone_mode=False)
        if isinstance(result, int):
            sys.exit(result)
    except MLEditorError as exc:
        err.print(f"error: {exc}", markup=False, highlight=False, soft_wrap=True)
        sys.exit(exit_code_for(exc))
    except _CLICK_ERROR as exc:
        _show_click_error(exc)
        sys.exit(exc.exit_code)  # type: ignore[attr-defined]  # 2 for every usage error
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        err.print("aborted")
        sys.exit(130)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:  # the last line of defence against tracebacks
        if os.environ.get("MLEDITOR_DEBUG"):
            raise
        err.print(f"internal error: {type(exc).__name__}: {exc} (set MLEDITOR_DEBUG=1 for the traceback)",
                  markup=False, soft_wrap=True)
        sys.exit(INTERNAL)


