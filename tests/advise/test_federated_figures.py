"""The federated door's rounds and quality come from a recorded benchmark run, and say so."""

from __future__ import annotations

import json

from mleditor.advise.measure.federated import RECORDED, recorded_figures


def report(tmp_path, **fedavg):
    run = {"rounds": 50, "clients": 1311, "seconds_per_round": [1.0, 3.0, 2.0], "final_roc_auc_last_5_rounds": 0.56,
           "rounds_to_95pct_of_centralized": None, **fedavg}
    path = tmp_path / "bench.json"
    path.write_text(json.dumps({"command": "benchmarks/bench_federated.py --rounds 50", "date": "2026-12-01",
                                "machine": {"cpu": "AMD EPYC"},
                                "result": {"rows": [{"roc_auc": {"centralized": 0.6}}], "federated": {"fedavg": run}}}))
    return path


def test_recorded_figures_name_the_command_date_and_machine_and_compare_with_centralized(tmp_path):
    figures = {f.name: f for f in recorded_figures(report(tmp_path))}
    assert figures["quality_vs_centralized"].value == round(0.56 / 0.6, 4)
    assert figures["seconds_per_round"].value == 2.0 and figures["rounds"].value == 50
    assert figures["rounds_to_95pct_of_centralized"].value is None  # never reached: not made up
    how = figures["roc_auc_federated"].how
    assert how.startswith("recorded: `benchmarks/bench_federated.py --rounds 50` on 2026-12-01 (AMD EPYC)")


def test_a_missing_or_malformed_record_gives_no_figures_rather_than_wrong_ones(tmp_path):
    assert recorded_figures(tmp_path / "absent.json") == ()
    (tmp_path / "bad.json").write_text('{"result": {"federated": {}}}')
    assert recorded_figures(tmp_path / "bad.json") == ()


def test_the_shipped_record_is_readable():
    assert {f.name for f in recorded_figures(RECORDED)} >= {"rounds", "quality_vs_centralized", "seconds_per_round"}
