"""The advice: measurements, derived figures and the verdicts assembled into one JSON object ("mleditor-advice/1").

`advise` measures (or takes a `MeasurementSet` given, as the tests do) and `assemble` builds the
object the report, the terminal table and the README's section all render; its shape is the
contract with `mleditor.advise.report.render_html`. The last advice is also saved where
`mleditor serve` can find it: `$MLEDITOR_HOME/advice/last.json`, else
`~/.cache/mleditor/advice/last.json` (`last_advice_path`).
"""

from __future__ import annotations

import datetime
import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from mleditor.advise.derive import Derived, derive
from mleditor.advise.doors import CATALOG, DOORS
from mleditor.advise.measure import MeasurementSet, measure_doors
from mleditor.advise.measure.base import DoorMeasurement, Figure
from mleditor.advise.recommend import (
    Verdict,
    describe_constraints,
    no_door_because,
    rank,
    ranking_reasons,
    verdicts,
)
from mleditor.advise.scenario import Scenario

SCHEMA = "mleditor-advice/1"
HOME_ENV = "MLEDITOR_HOME"
SERVER_DOORS = ("streaming", "batch", "hybrid")


def advise(scenario: Scenario, model_dir: str | None = None, command: str = "mleditor advise",
           measure: Callable[..., MeasurementSet] = measure_doors,
           on_progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Measure every door within the scenario's budget (unless the constraints already exclude all), then decide."""
    if preflight(scenario) is not None:
        why = "not measured: no door can meet the scenario's constraints, so nothing was measured"
        found = MeasurementSet({door: DoorMeasurement.not_measured(door, why) for door in DOORS})
    else:
        found = measure(scenario, model_dir=model_dir, on_progress=on_progress)
    return assemble(scenario, found, command)


def preflight(scenario: Scenario) -> str | None:
    """Why no door can meet the constraints, decided before measuring anything; None when some door can."""
    return no_door_because(scenario, verdicts(scenario))


def assemble(scenario: Scenario, found: MeasurementSet, command: str,
             created: datetime.datetime | None = None) -> dict[str, Any]:
    """The advice object for `scenario` from the measurements `found` (see the module docstring)."""
    derived = {door: derive(door, found, scenario) for door in DOORS}
    judged = verdicts(scenario, derived)
    ranking = rank(judged, derived, {door: found.door(door).measured for door in DOORS})
    doors = [door_entry(door, found.door(door), derived[door], judged[door], scenario, ranking) for door in DOORS]
    device = found.door("device")
    return {
        "schema": SCHEMA,
        "created": (created or datetime.datetime.now(datetime.UTC)).isoformat(timespec="seconds"),
        "machine": dict(found.machine), "model": dict(found.model), "scenario": scenario.to_dict(),
        "doors": doors,
        "device_variants": [dict(v) for v in device.variants],
        "ranking": ranking,
        "recommendation": recommendation(ranking, doors, scenario),
        "no_door_because": no_door_because(scenario, judged),
        "missing": missing(found),
        "measure_seconds": round(found.seconds, 1),
        "command": command,
    }


def door_entry(door: str, m: DoorMeasurement, d: Derived, verdict: Verdict, scenario: Scenario,
               ranking: list[str]) -> dict[str, Any]:
    """One door's block of the advice."""
    figures = [f.to_dict() for f in (*m.figures, *assumed_figures(door, scenario, m))]
    if verdict.meets:
        position = ranking.index(door)
        reasons = ranking_reasons(door, position, verdict, d, scenario, ranking)
    else:
        reasons = [f"excluded: {why}" for why in verdict.excluded_by]
    return {
        "door": door, "title": CATALOG[door].title, "choose_when": CATALOG[door].choose_when,
        "status": "measured" if m.measured else "not measured", "why_not": m.why_not,
        "partial": list(m.missing), "figures": figures, "latency_samples_ms": list(m.samples_ms),
        "user_latency_ms": d.user_latency_ms, "cost": d.cost, "cost_vs_qps": d.cost_vs_qps,
        "hardware": d.hardware, "network": d.network, "privacy": d.privacy, "complexity": d.complexity,
        "meets": verdict.meets, "excluded_by": list(verdict.excluded_by), "concerns": list(verdict.concerns),
        "reasons": reasons,
    }


def assumed_figures(door: str, scenario: Scenario, m: DoorMeasurement) -> list[Figure]:
    """The assumptions a door's derived numbers rest on, as figures that say so."""
    if not m.measured:
        return []
    profile = scenario.profile
    found = [Figure("price_vcpu_hour", scenario.price_vcpu_hour, "USD", scenario.price_source),
             Figure("price_egress_gb", scenario.price_egress_gb, "USD", scenario.price_source)]
    if door in (*SERVER_DOORS, "browser"):
        found += [Figure("rtt_ms", profile.rtt_ms, "ms", f"{profile.source} (network profile {profile.name})"),
                  Figure("down_mbps", profile.down_mbps, "Mbit/s", profile.source),
                  Figure("up_mbps", profile.up_mbps, "Mbit/s", profile.source)]
    return found


def recommendation(ranking: list[str], doors: list[dict[str, Any]], scenario: Scenario) -> dict[str, Any] | None:
    """The first door of the ranking, why, and what excludes each of the others."""
    if not ranking:
        return None
    best = next(d for d in doors if d["door"] == ranking[0])
    summary = (f"{best['title']}: the simplest door that meets every constraint ({describe_constraints(scenario)})"
               + (" and has the fewest concerns" if len(ranking) > 1 else ""))
    if best["status"] != "measured":
        summary += f"; {best['why_not']}: its place follows from the constraints alone"
    others = [f"{d['door']}: excluded — {d['excluded_by'][0]}" for d in doors if not d["meets"]]
    others += [f"{door}: ranked {n + 2}" for n, door in enumerate(ranking[1:])]
    return {"door": best["door"], "summary": summary, "reasons": [*best["reasons"], *others]}


def missing(found: MeasurementSet) -> list[str]:
    """One line per door, or part of a door, that was not measured."""
    lines = []
    for door in DOORS:
        m = found.door(door)
        lines += [f"{door}: {m.why_not}"] if not m.measured else list(m.missing)
    reasons = {found.door(door).why_not for door in DOORS}
    if len(reasons) == 1 and None not in reasons:
        return [f"every door: {reasons.pop()}"]
    return lines


def last_advice_path(environ: Mapping[str, str] | None = None) -> Path:
    """Where the last advice is saved: $MLEDITOR_HOME/advice/last.json, else ~/.cache/mleditor/advice/last.json."""
    env = os.environ if environ is None else environ
    home = Path(env[HOME_ENV]).expanduser() if env.get(HOME_ENV) else Path.home() / ".cache" / "mleditor"
    return home / "advice" / "last.json"


def save_advice(advice: Mapping[str, Any], path: Path | None = None) -> Path:
    """Write the advice as JSON (atomically) to `path`, default `last_advice_path()`; the path written."""
    target = path or last_advice_path()
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".json.partial")
    partial.write_text(json.dumps(advice, indent=1) + "\n", encoding="utf-8")
    partial.replace(target)
    return target
