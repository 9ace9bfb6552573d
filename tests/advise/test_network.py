"""Network profiles: named ones cite their source, RTT_MS/MBPS parses, a request costs compute + RTT + transfers."""

from __future__ import annotations

import pytest

from mleditor.advise.network import NetworkProfile, parse_network, request_ms
from mleditor.errors import InvalidInputError


@pytest.mark.parametrize("name", ["lan", "4g", "3g", "4G"])
def test_each_named_profile_is_an_assumption_that_names_its_source(name):
    profile = parse_network(name)
    assert profile.source.startswith("assumption:") and profile.rtt_ms > 0 and profile.down_mbps > 0


def test_rtt_and_bandwidth_given_as_numbers_apply_both_ways():
    assert parse_network("80/5") == NetworkProfile("80/5", 80.0, 5.0, 5.0, parse_network("80/5").source)
    assert (parse_network("80/20/4").down_mbps, parse_network("80/20/4").up_mbps) == (20.0, 4.0)


@pytest.mark.parametrize("text", ["5g", "80", "80/0", "a/b", ""])
def test_a_network_that_is_not_a_profile_is_refused_naming_the_forms(text):
    with pytest.raises(InvalidInputError, match=r"expected lan, 4g, 3g or RTT_MS/MBPS|more than 0"):
        parse_network(text)


def test_a_request_costs_compute_plus_a_round_trip_plus_each_transfer():
    profile = NetworkProfile("t", 100.0, 8.0, 1.0, "test")
    # 1,000 B up at 1 Mbit/s = 8 ms; 10,000 B down at 8 Mbit/s = 10 ms
    assert request_ms(profile, 1000, 10_000, compute_ms=2.0) == pytest.approx(2 + 100 + 8 + 10)
    assert request_ms(profile, 1000, 10_000, 2.0, new_connection=True) == pytest.approx(2 + 200 + 8 + 10)
