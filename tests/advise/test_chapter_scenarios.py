"""The chapter's scenarios give the chapter's answers, from their constraints: the verdicts need no timing."""

from __future__ import annotations

import pytest

from mleditor.advise.advice import assemble
from mleditor.advise.measure.base import DoorMeasurement
from mleditor.advise.recommend import rank, verdicts
from mleditor.advise.scenario import load_scenario
from tests.advise.conftest import fake_set

ANSWERS = {
    "demo": {"streaming"},
    "nightly-ranking": {"batch"},
    "mostly-known": {"hybrid"},
    "plane": {"device"},
    "private-text": {"browser", "device"},
    "per-author-style": {"federated"},
}


@pytest.mark.parametrize("name", sorted(ANSWERS))
def test_each_chapter_scenario_recommends_the_door_the_chapter_argues_for(name, fake_measurements):
    advice = assemble(load_scenario(name), fake_measurements, "test")
    assert advice["recommendation"]["door"] in ANSWERS[name]
    assert advice["ranking"][0] == advice["recommendation"]["door"]


@pytest.mark.parametrize("name", sorted(ANSWERS))
def test_the_answer_follows_from_the_constraints_alone_without_any_measurement(name):
    assert rank(verdicts(load_scenario(name)), {}, {})[0] in ANSWERS[name]


@pytest.mark.parametrize(("name", "door", "constraint"), [
    ("private-text", "streaming", "text_must_stay_on_device"),
    ("plane", "streaming", "offline"),
    ("per-author-style", "device", "per_user_models"),
    ("demo", "batch", "known_in_advance"),
    ("nightly-ranking", "browser", "needs_server_data"),
])
def test_each_excluded_door_names_the_constraint_that_excludes_it(name, door, constraint, fake_measurements):
    advice = assemble(load_scenario(name), fake_measurements, "test")
    entry = next(d for d in advice["doors"] if d["door"] == door)
    assert not entry["meets"] and any(e.startswith(constraint + ":") for e in entry["excluded_by"])
    assert any(r.startswith(f"{door}: excluded — {constraint}") for r in advice["recommendation"]["reasons"])


def test_a_door_that_could_not_be_measured_still_ranks_by_its_constraints_and_says_why(fake_measurements):
    found = fake_set(federated=DoorMeasurement.not_measured("federated", "install extra 'federated'"))
    advice = assemble(load_scenario("per-author-style"), found, "test")
    assert advice["recommendation"]["door"] == "federated"
    assert "install extra 'federated'" in advice["recommendation"]["summary"]
    assert advice["missing"] == ["federated: not measured: install extra 'federated'"]


def test_the_simplest_door_wins_when_several_meet_the_constraints(fake_measurements):
    advice = assemble(load_scenario("demo"), fake_measurements, "test")
    meeting = [d["door"] for d in advice["doors"] if d["meets"]]
    assert {"streaming", "hybrid", "device", "browser"} <= set(meeting)
    assert advice["ranking"][0] == "streaming"
