"""How `mleditor predict` and `mleditor device predict` read questions and write answers: one place for both.

A question comes as TEXT (first line the title), as --title/--body, on stdin, or as JSON lines
(--jsonl FILE, "-" for stdin: one answer line per input line, a bad line answered with its error).
The answer is a table, or JSON with --json.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from typing import BinaryIO

import typer
from rich.table import Table

from mleditor.cli.exit_codes import SOME_LINES_FAILED
from mleditor.cli.options import err, out
from mleditor.core.prediction import Prediction
from mleditor.core.predictor import Predictor
from mleditor.core.records import Question
from mleditor.core.validation import prepare_question
from mleditor.errors import DataError, InvalidInputError, MLEditorError

EXAMPLES = [  # what `mleditor demo` scores
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


@dataclass(frozen=True)
class QuestionInput:
    """The input options of a predict command, as given (None: not given)."""

    text: str | None = None
    title: str | None = None
    body: str | None = None
    jsonl: str | None = None


def answer_questions(predictor: Predictor, given: QuestionInput, version: str, as_json: bool) -> None:
    """Score the question(s) `given` describes and print the answer(s); --jsonl exits with its status."""
    if given.jsonl is not None:
        raise typer.Exit(_predict_jsonl(predictor, given.jsonl, version))
    title, body = given.title, given.body
    if title is None and body is None:
        title, body = _split_text(given.text if given.text is not None else _read_stdin_text())
    elif given.text is not None:
        raise InvalidInputError("give the question either as TEXT or with --title/--body, not both")
    question = prepare_question(title or "", body or "")
    prediction = predictor.predict(question, version)
    if as_json:
        sys.stdout.write(json.dumps(prediction.to_dict(), ensure_ascii=False) + "\n")
    else:
        print_prediction(prediction, question)


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


def print_prediction(prediction: Prediction, question: Question) -> None:
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


