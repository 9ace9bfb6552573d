"""The `mleditor` command: predict, demo and models here; each door's commands in its own module of this package."""

from __future__ import annotations

import json
import os
import sys
from typing import Optional

import typer
from rich.table import Table

from mleditor.cli.exit_codes import INTERNAL, exit_code_for
from mleditor.cli.options import err, json_option, model_dir_option, out, version_option
from mleditor.cli.questions import EXAMPLES, QuestionInput, answer_questions, print_prediction
from mleditor.core.predictor import Predictor
from mleditor.core.registry import ModelDirectory, list_models
from mleditor.core.validation import check_version
from mleditor.errors import MLEditorError

app = typer.Typer(
    help="ML Editor: how likely is a question to be well received, and what edits would help?",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
models_app = typer.Typer(help="Inspect the installed models.", no_args_is_help=True)
app.add_typer(models_app, name="models")



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
    answer_questions(Predictor.load(model_dir), QuestionInput(text, title, body, jsonl), version, as_json)


@app.command()
def demo(
    version: str = version_option(), model_dir: Optional[str] = model_dir_option()
) -> None:
    """Score two example questions with the shipped model (no data needed)."""
    predictor = Predictor.load(model_dir)
    for question in EXAMPLES:
        print_prediction(predictor.predict(question, version), question)
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
    from mleditor.cli import advise, batch, browser, device, federated, serve, training

    training.register(app)
    serve.register(app)
    batch.register(app)
    device.register(app)
    browser.register(app)
    federated.register(app)
    advise.register(app)


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


