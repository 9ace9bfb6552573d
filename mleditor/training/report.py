"""Evaluation results as people and machines read them: a Markdown table and JSON-ready dicts."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

from mleditor.errors import InvalidInputError
from mleditor.training.metrics import BinaryMetrics

__all__ = [
    "MetricsRecord", "metrics_from_dict", "metrics_json", "metrics_markdown", "metrics_table_markdown",
    "metrics_to_dict", "output_files", "write_metrics",
]

# What meta.json's "metrics" holds and `--output` writes: "dataset", "rows" (one dict per model and
# evaluation set, `metrics_to_dict` plus "model" and "set"), "table_markdown", optionally "crossval".
MetricsRecord = dict[str, Any]

_HEADER = ("model", "evaluation set", "ROC AUC", "PR AUC", "Brier", "ECE", "n")


def _cell(text: str) -> str:
    # A "|" inside a name would split the cell; newlines would end the row.
    return text.replace("|", r"\|").replace("\n", " ")


def metrics_table_markdown(rows: Sequence[tuple[str, str, BinaryMetrics]]) -> str:
    """A Markdown table, one row per (model, evaluation set, metrics); metrics to 3 decimals."""
    lines = [
        "| " + " | ".join(_HEADER) + " |",
        "|" + "|".join(["---"] * 2 + ["---:"] * (len(_HEADER) - 2)) + "|",
    ]
    for model, evaluation_set, m in rows:
        cells = [
            _cell(model),
            _cell(evaluation_set),
            f"{m.roc_auc:.3f}",
            f"{m.pr_auc:.3f}",
            f"{m.brier:.3f}",
            f"{m.ece:.3f}",
            str(m.n),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def metrics_to_dict(m: BinaryMetrics) -> dict[str, Any]:
    """The metrics as a flat dict of plain floats and ints, ready for `json.dumps`."""
    return {key: (int(v) if key == "n" else float(v)) for key, v in asdict(m).items()}


def metrics_from_dict(d: dict[str, Any]) -> BinaryMetrics:
    """The metrics of a row `metrics_to_dict` wrote (meta.json); extra keys are ignored, a missing rate is NaN."""
    values = {f.name: d.get(f.name, float("nan")) for f in fields(BinaryMetrics)}
    return BinaryMetrics(**{**values, "n": int(values["n"])})


def metrics_markdown(record: MetricsRecord) -> str:
    """A metrics record (`evaluate.metrics_record`) as Markdown: its table, then the cross-validated one if any."""
    table: str = record["table_markdown"]
    crossval = record.get("crossval", {}).get("table_markdown")
    return table + ("\n" + crossval if crossval else "")


def metrics_json(record: MetricsRecord) -> str:
    return json.dumps(record, indent=2, ensure_ascii=False) + "\n"


_FORMATS: dict[str, Callable[[MetricsRecord], str]] = {".json": metrics_json, ".md": metrics_markdown}


def output_files(target: Path) -> dict[Path, Callable[[MetricsRecord], str]]:
    """Where `--output` writes: FILE.json, FILE.md, or a folder (metrics.json and metrics.md in it)."""
    target = Path(target)
    if target.is_dir() or not target.suffix:
        return {target / f"metrics{suffix}": render for suffix, render in _FORMATS.items()}
    if target.suffix.lower() not in _FORMATS:
        raise InvalidInputError(f"--output {target}: write the metrics to a .json or .md file, or to a folder")
    return {target: _FORMATS[target.suffix.lower()]}


def write_metrics(record: MetricsRecord, target: Path) -> list[Path]:
    """Write a metrics record to `target` (see `output_files`); return the files written."""
    files = output_files(target)
    for path, render in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render(record), encoding="utf-8")
    return list(files)
