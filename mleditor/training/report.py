"""Evaluation results as people and machines read them: a Markdown table and JSON-ready dicts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict

from mleditor.training.metrics import BinaryMetrics

__all__ = ["metrics_table_markdown", "metrics_to_dict"]

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


def metrics_to_dict(m: BinaryMetrics) -> dict:
    """The metrics as a flat dict of plain floats and ints, ready for `json.dumps`."""
    return {key: (int(v) if key == "n" else float(v)) for key, v in asdict(m).items()}
