"""Scenarios: shipped files load, unknown keys are refused with the valid ones, flags override, bad values say so."""

from __future__ import annotations

import pytest

from mleditor.advise.scenario import Scenario, load_scenario, shipped_scenarios, valid_keys
from mleditor.errors import InvalidInputError

CHAPTER = {"demo", "nightly-ranking", "mostly-known", "plane", "private-text", "per-author-style"}


def test_the_chapter_scenarios_ship_with_the_package_and_load():
    assert set(shipped_scenarios()) == CHAPTER
    for name in CHAPTER:
        assert load_scenario(name).name == name


def test_no_scenario_is_the_demo():
    assert load_scenario(None).name == "demo"


def test_an_unknown_scenario_key_is_refused_with_the_list_of_valid_ones(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text("qps = 3\nlatency = 20\n")
    with pytest.raises(InvalidInputError) as raised:
        load_scenario(path)
    message = str(raised.value)
    assert "unknown scenario key 'latency'" in message
    assert all(key in message for key in valid_keys())


def test_a_bad_value_is_refused_in_the_settings_shape_with_its_file(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text("known_in_advance = 1.5\n")
    with pytest.raises(InvalidInputError, match=r"scenario known_in_advance=1.5 is not valid; expected 0 to 1 \(from "):
        load_scenario(path)


def test_a_scenario_that_is_neither_shipped_nor_a_file_names_the_shipped_ones():
    with pytest.raises(InvalidInputError, match="not found: give a TOML file or one of demo"):
        load_scenario("nope")


def test_flags_override_the_file_and_the_source_says_so():
    scenario = load_scenario("demo").with_overrides(qps=40.0, network="lan", offline=None)
    assert (scenario.qps, scenario.profile.name, scenario.offline) == (40.0, "lan", False)
    assert "command line (qps, network)" in scenario.source


def test_the_hit_ratio_counts_the_known_questions_then_the_repeats_of_the_others():
    assert Scenario(known_in_advance=0.8, repeat_rate=0.5).hit_ratio == pytest.approx(0.9)
