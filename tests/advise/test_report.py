"""The advice report: one self-contained page (inline CSS and SVG, nothing fetched), every string escaped,
partial advice rendered with "not measured" in the gaps. The fixture is the contract's example
(`fixtures/advice_full.json`, every key of `mleditor-advice/1`); the partial ones are cut from it."""

from __future__ import annotations

import copy
import json
import re
import sys
from pathlib import Path
from typing import Any

import pytest

from mleditor.advise.report import DOOR_COLOURS, render_html
from mleditor.errors import MissingExtraError

FULL = Path(__file__).parent / "fixtures" / "advice_full.json"
CHARTS = ("latency", "user-latency", "cost", "device-variants")


def full_advice() -> dict[str, Any]:
    return json.loads(FULL.read_text(encoding="utf-8"))


def render(advice: dict[str, Any]) -> str:
    """`render_html`, or a skip where the `advise` extra (matplotlib) is not installed."""
    pytest.importorskip("matplotlib")
    return render_html(advice)


@pytest.fixture(scope="module")
def page() -> str:
    return render(full_advice())


def chart(page: str, name: str) -> str:
    """The HTML of one chart's <figure>."""
    match = re.search(rf'<figure class="chart" id="chart-{name}".*?</figure>', page, flags=re.S)
    assert match, f"no chart {name}"
    return match.group(0)


def test_the_page_names_every_door_and_the_recommendation_with_its_reasons(page):
    advice = full_advice()
    for door in advice["doors"]:
        assert door["title"] in page
    recommended = re.search(r'<section class="rec [^"]*" id="recommendation">.*?</section>', page, flags=re.S).group(0)
    assert "Streaming API (mleditor serve)" in recommended and "why not the others" in recommended.lower()
    for reason in advice["recommendation"]["reasons"]:
        assert reason in recommended
    assert "excluded: known_in_advance: only 0 % of questions" in recommended  # batch's exclusion
    assert "install extra &#x27;federated&#x27;" in recommended  # federated was not measured


def test_each_chart_is_inline_svg_with_each_door_in_its_own_colour(page):
    for name in CHARTS:
        assert "<svg" in chart(page, name)
    assert page.count("<svg") == len(CHARTS)
    for door in ("streaming", "batch", "hybrid", "device"):
        colour = DOOR_COLOURS[door].lower()
        assert colour in chart(page, "latency") and colour in chart(page, "user-latency"), door
    assert DOOR_COLOURS["streaming"].lower() in chart(page, "cost")
    assert "int8" in chart(page, "device-variants") and "pruned-50" in chart(page, "device-variants")


def test_the_page_refers_to_nothing_outside_itself(page):
    assert "http://" not in page and "https://" not in page
    assert "<script" not in page.lower() and "@import" not in page
    links = re.findall(r'\b(?:src|href)\s*=\s*["\']?([^"\'\s>]*)', page, flags=re.I)
    assert all(link.startswith(("#", "data:")) for link in links), links
    assert all(target.startswith("#") for target in re.findall(r"url\(([^)]*)\)", page))
    ids = re.findall(r'\bid="([^"]+)"', page)
    assert len(ids) == len(set(ids))  # four SVGs in one page: matplotlib's ids are prefixed per chart


def test_figures_say_how_they_were_obtained_measured_and_assumed_look_different(page):
    assert re.search(r'<tr class="measured"><td>p50_ms</td>.*?<span class="badge measured">', page)
    assert re.search(r'<tr class="assumption"><td>rtt_ms</td>.*?<span class="badge assumption">', page)
    assert re.search(r'<tr class="derived"><td>user_latency_ms.p50</td>', page)
    assert ".badge.measured{" in page and ".badge.assumption{" in page


def test_every_string_from_the_advice_is_escaped_in_the_page_and_in_the_charts():
    advice = full_advice()
    attack = "<script>alert(1)</script>"
    advice["doors"][1]["reasons"] = [attack]
    advice["doors"][1]["excluded_by"] = [f"known_in_advance: {attack}"]
    advice["doors"][0]["title"] = 'Streaming <img src=x onerror="alert(2)"> $5 & "quotes"'
    advice["recommendation"]["summary"] = attack
    advice["scenario"]["name"] = attack
    advice["doors"][0]["figures"][0]["how"] = f"measured: {attack}"
    page = render(advice)
    assert "<script" not in page and "<img" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "Streaming &lt;img src=x onerror=" in chart(page, "latency")  # matplotlib escapes its text too
    assert "$5 &amp;" in page  # a dollar sign is text, not mathtext


def test_a_partial_advice_renders_with_not_measured_in_the_gaps():
    advice = full_advice()
    for door in advice["doors"]:
        for key in ("latency_samples_ms", "cost_vs_qps", "hardware", "privacy", "complexity"):
            door.pop(key, None)
    advice["doors"][2] = {"door": "hybrid", "status": "not measured", "why_not": "no store configured"}
    del advice["device_variants"], advice["machine"], advice["ranking"]
    page = render(advice)
    assert "not measured" in chart(page, "device-variants") and "<svg" not in chart(page, "device-variants")
    assert "<svg" in chart(page, "latency")  # from p50 and p99 alone
    assert "<svg" in chart(page, "cost")  # one point per door at the scenario's QPS
    assert "no store configured" in page and "hybrid" in page


def test_without_a_recommendation_the_page_says_which_constraints_clash():
    advice = full_advice()
    advice["recommendation"], advice["ranking"] = None, []
    advice["no_door_because"] = ["offline and per_user_models clash: no door trains per user offline",
                                 "relax per_user_models to use the device door"]
    page = render(advice)
    assert "No door meets every constraint" in page
    assert "offline and per_user_models clash" in page and "relax per_user_models" in page


@pytest.mark.parametrize("advice", [
    {},
    {"schema": "mleditor-advice/1", "doors": [], "recommendation": None, "no_door_because": "nothing was measured"},
    {"doors": [{"door": "federated", "status": "not measured", "why_not": "install extra 'federated'"}]},
    {"doors": [{"door": "mystery", "figures": [{"name": "x", "value": None}], "user_latency_ms": {"p50": 0}}],
     "scenario": {"qps": 0}, "device_variants": [{"variant": "int8"}], "cost_vs_qps": "not a list"},
], ids=["empty", "no-doors", "only-not-measured", "odd-values"])
def test_any_subset_of_the_contract_renders(advice):
    page = render(copy.deepcopy(advice))
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert page.count('<figure class="chart"') == len(CHARTS)


def test_the_same_advice_renders_the_same_page(page):
    assert render(full_advice()) == page


def test_without_matplotlib_the_error_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(MissingExtraError, match=r"mleditor\[advise\]"):
        render_html(full_advice())
