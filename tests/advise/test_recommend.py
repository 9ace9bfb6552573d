"""Deciding: contradictory constraints name the one to relax, a slow door is excluded, every figure says how."""

from __future__ import annotations

import dataclasses

from mleditor.advise.advice import assemble, preflight
from mleditor.advise.doors import DOORS
from mleditor.advise.measure.base import DoorMeasurement, Figure
from mleditor.advise.scenario import Scenario, load_scenario
from tests.advise.conftest import fake_set


def test_offline_with_per_request_server_data_is_no_door_and_names_the_constraints_to_relax(fake_measurements):
    scenario = Scenario(offline=True, needs_server_data=True)
    why = preflight(scenario)
    assert why is not None and "no door satisfies offline + needs_server_data together" in why
    assert "relax one of: offline (then streaming" in why and "needs_server_data (then device" in why
    advice = assemble(scenario, fake_measurements, "test")
    assert advice["recommendation"] is None and advice["ranking"] == [] and advice["no_door_because"] == why


def test_a_door_whose_measured_user_latency_is_over_the_limit_is_excluded_by_it(fake_measurements):
    slow = dataclasses.replace(fake_measurements.door("streaming"), figures=(
        Figure("p50_ms", 150.0, "ms", "fake"), Figure("p99_ms", 400.0, "ms", "fake")))
    advice = assemble(load_scenario("demo").with_overrides(network="lan", max_latency_ms=200.0),
                      fake_set(streaming=slow), "test")
    streaming = next(d for d in advice["doors"] if d["door"] == "streaming")
    assert streaming["excluded_by"][0].startswith("max_latency_ms: a user waits")
    assert advice["recommendation"]["door"] != "streaming"


def test_every_figure_says_how_it_was_obtained_and_assumptions_say_so(fake_measurements):
    advice = assemble(load_scenario("demo"), fake_measurements, "test")
    for door in advice["doors"]:
        for figure in door["figures"]:
            assert figure["how"], (door["door"], figure["name"])
        assumed = [f for f in door["figures"] if f["name"] in ("rtt_ms", "price_vcpu_hour")]
        assert all(f["how"].startswith("assumption:") for f in assumed)


def test_device_and_browser_cost_next_to_nothing_on_the_server(fake_measurements):
    advice = assemble(load_scenario("demo"), fake_measurements, "test")
    cost = {d["door"]: d["cost"] for d in advice["doors"]}
    assert cost["device"]["server_cpu_s_per_prediction"] == 0 == cost["browser"]["server_cpu_s_per_prediction"]
    assert cost["device"]["per_month_usd"] < cost["streaming"]["per_month_usd"]


def test_the_advice_has_every_key_of_the_schema_for_every_door(fake_measurements):
    advice = assemble(load_scenario("demo"), fake_measurements, "mleditor advise")
    assert advice["schema"] == "mleditor-advice/1" and [d["door"] for d in advice["doors"]] == list(DOORS)
    check_schema(advice)


def test_a_door_not_measured_has_no_numbers_but_keeps_its_privacy_and_complexity():
    found = fake_set(browser=DoorMeasurement.not_measured("browser", "no Chromium at /usr/bin/chromium"))
    browser = next(d for d in assemble(load_scenario("demo"), found, "t")["doors"] if d["door"] == "browser")
    assert browser["status"] == "not measured" and browser["why_not"] == "not measured: no Chromium at /usr/bin/chromium"
    assert browser["user_latency_ms"] is None and browser["cost"] is None
    assert browser["privacy"]["text_goes"] == "device only" and browser["complexity"]["score"] == 3


TOP_KEYS = {"schema", "created", "machine", "model", "scenario", "doors", "device_variants", "ranking",
            "recommendation", "no_door_because", "missing", "command"}
DOOR_KEYS = {"door", "title", "status", "why_not", "figures", "user_latency_ms", "cost", "hardware", "network",
             "privacy", "complexity", "meets", "excluded_by", "reasons"}


def check_schema(advice: dict) -> None:
    """The keys and types schema mleditor-advice/1 promises (what the HTML report renders)."""
    assert set(advice) >= TOP_KEYS
    assert {"name", "qps", "max_latency_ms", "network", "price_vcpu_hour", "budget_s"} <= set(advice["scenario"])
    assert {"name", "rtt_ms", "down_mbps", "up_mbps", "source"} <= set(advice["scenario"]["network"])
    for door in advice["doors"]:
        assert set(door) >= DOOR_KEYS, door["door"]
        assert door["status"] in ("measured", "not measured")
        assert (door["why_not"] is None) == (door["status"] == "measured")
        for figure in door["figures"]:
            assert set(figure) == {"name", "value", "unit", "how"}
        if door["user_latency_ms"] is not None:
            assert {"p50", "p99", "how"} <= set(door["user_latency_ms"])
        if door["cost"] is not None:
            assert {"per_million_usd", "per_month_usd", "how"} <= set(door["cost"])
        assert {"text_goes", "stored", "summary"} <= set(door["privacy"])
        assert {"score", "runs", "operates"} <= set(door["complexity"])
    if advice["recommendation"] is not None:
        assert advice["recommendation"]["door"] == advice["ranking"][0]
