"""The evaluation table has a header and one row per result; metrics serialise to plain JSON."""

from __future__ import annotations

import json

from mleditor.training.metrics import BinaryMetrics
from mleditor.training.report import metrics_table_markdown, metrics_to_dict

METRICS = BinaryMetrics(
    roc_auc=0.81234, pr_auc=0.5, brier=0.1875, ece=0.04321, n=1200, positive_rate=0.25
)


def test_table_has_header_separator_and_one_row_per_entry() -> None:
    rows = [("ours", "test", METRICS), ("tfidf-rf", "test", METRICS), ("tfidf-rf", "val", METRICS)]
    lines = metrics_table_markdown(rows).strip().splitlines()
    assert len(lines) == 2 + len(rows)
    assert lines[0] == "| model | evaluation set | ROC AUC | PR AUC | Brier | ECE | n |"
    assert set(lines[1]) <= set("|-:")
    assert lines[2] == "| ours | test | 0.812 | 0.500 | 0.188 | 0.043 | 1200 |"
    assert all(line.count("|") == 8 for line in lines)


def test_table_without_rows_is_just_the_header() -> None:
    assert len(metrics_table_markdown([]).strip().splitlines()) == 2


def test_pipe_in_a_model_name_does_not_break_the_row() -> None:
    line = metrics_table_markdown([("a|b", "test", METRICS)]).strip().splitlines()[2]
    assert line.startswith(r"| a\|b | test |")


def test_metrics_to_dict_round_trips_through_json() -> None:
    d = metrics_to_dict(METRICS)
    assert json.loads(json.dumps(d)) == {
        "roc_auc": 0.81234,
        "pr_auc": 0.5,
        "brier": 0.1875,
        "ece": 0.04321,
        "n": 1200,
        "positive_rate": 0.25,
    }
    assert isinstance(d["n"], int)
