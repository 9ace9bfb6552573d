"""`mleditor advise` end to end: a real, bounded measurement through the CLI, and bad input as one line and a code."""

from __future__ import annotations

import importlib.util
import json

import pytest

from mleditor.advise.advice import assemble
from mleditor.advise.scenario import load_scenario
from tests.advise.conftest import fake_set
from tests.advise.test_recommend import check_schema
from tests.helpers import REPO_ROOT, run_mleditor


@pytest.fixture
def home(tmp_path):
    return {"MLEDITOR_HOME": str(tmp_path / "home")}


def test_a_short_real_run_measures_what_it_can_and_says_what_it_could_not(tmp_path, home):
    result = run_mleditor("advise", "--budget-s", "20", "--json", env=home, timeout=120)
    assert result.returncode == 0, result.stderr
    advice = json.loads(result.stdout)
    check_schema(advice)
    status = {d["door"]: d for d in advice["doors"]}
    assert status["streaming"]["status"] == "measured", status["streaming"]["why_not"]
    for door in ("batch", "hybrid", "device", "browser"):  # on a busy machine a share can run out: it says so
        assert status[door]["status"] == "measured" or "share of the budget" in status[door]["why_not"], status[door]
    assert status["streaming"]["user_latency_ms"]["p99"] > advice["scenario"]["network"]["rtt_ms"]
    if importlib.util.find_spec("flwr") is None:
        assert status["federated"]["why_not"] == "not measured: install extra 'federated' (pip install 'mleditor[federated]')"
    assert advice["recommendation"]["door"] == "streaming"
    assert advice["measure_seconds"] <= 20 * 1.5
    assert json.loads((tmp_path / "home" / "advice" / "last.json").read_text()) == advice
    if importlib.util.find_spec("matplotlib") is not None:  # the page `mleditor serve` shows at /advice
        page = (tmp_path / "home" / "advice" / "last.html").read_text()
        assert page.startswith("<!DOCTYPE html>") and "Streaming API" in page


def test_the_terminal_output_is_a_table_and_the_recommendation_with_its_reasons(tmp_path, home):
    recorded = tmp_path / "advice.json"
    recorded.write_text(json.dumps(assemble(load_scenario("private-text"), fake_set(), "mleditor advise")))
    result = run_mleditor("advise", "--replay", str(recorded), env={**home, "COLUMNS": "200"})
    assert result.returncode == 0, result.stderr
    assert "where the text goes" in result.stdout and "Recommended: " in result.stdout
    assert "streaming: excluded — text_must_stay_on_device" in result.stdout


def test_an_unknown_scenario_key_is_one_line_listing_the_valid_keys_and_exit_2(tmp_path, home):
    scenario = tmp_path / "s.toml"
    scenario.write_text("qps = 2\nusers = 10\n")
    result = run_mleditor("advise", "--scenario", str(scenario), env=home)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
    assert "unknown scenario key 'users'; valid keys: name, description, qps" in result.stderr


def test_contradictory_constraints_measure_nothing_and_say_which_to_relax_with_exit_2(home):
    result = run_mleditor("advise", "--offline", "--needs-server-data", "--json", env=home, timeout=30)
    assert result.returncode == 2
    advice = json.loads(result.stdout)
    assert advice["recommendation"] is None
    assert "relax one of: offline" in advice["no_door_because"]
    nothing = "every door: not measured: no door can meet the scenario's constraints, so nothing was measured"
    assert advice["missing"] == [nothing]


def test_a_budget_too_small_to_measure_is_one_line_and_exit_2(home):
    result = run_mleditor("advise", "--budget-s", "2", env=home)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.startswith("error: --budget-s 2 is too small to measure anything")


@pytest.mark.parametrize(("args", "message"), [
    (["--network", "5g"], "network '5g' is not valid; expected lan, 4g, 3g or RTT_MS/MBPS"),
    (["--known-in-advance", "2"], "scenario known_in_advance=2.0 is not valid; expected 0 to 1"),
    (["--scenario", "moon"], "scenario 'moon' not found"),
])
def test_a_bad_flag_is_one_line_and_exit_2(args, message, home):
    result = run_mleditor("advise", *args, env=home)
    assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr


def test_replaying_something_that_is_not_advice_is_refused(tmp_path, home):
    (tmp_path / "x.json").write_text('{"schema": "other"}')
    result = run_mleditor("advise", "--replay", str(tmp_path / "x.json"), env=home)
    assert result.returncode == 2 and "not an advice" in result.stderr


def test_a_report_that_cannot_be_written_is_one_line_and_the_rest_still_succeeds(tmp_path, home):
    recorded = tmp_path / "advice.json"
    recorded.write_text((REPO_ROOT / "docs" / "advice" / "demo.json").read_text())
    result = run_mleditor("advise", "--replay", str(recorded), "--markdown", "--report",
                          str(tmp_path / "no" / "such" / "dir" / "r.html"), env=home)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Generated by `mleditor advise`")
    assert "Traceback" not in result.stderr and result.stderr.count("\n") == 1
