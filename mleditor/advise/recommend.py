"""From constraints to a choice: the doors that meet the scenario's hard constraints, in order, and why not the others.

Hard constraints are data (`doors.CATALOG[...].excludes`): a door is excluded by every active
constraint it names, and by a measured p99 user latency over `max_latency_ms`. A door's fit is
then weighed by soft concerns (a server idling for answers read later, a store holding nothing),
and among equal fits the simplest door wins — start simple; move to a more complex door only once
it is shown to be needed — then the cheaper, then the faster. Everything here but the latency check
follows from the scenario alone, so the chapter's answers do not depend on timing.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mleditor.advise.derive import Derived
from mleditor.advise.doors import CATALOG, DOORS
from mleditor.advise.scenario import Scenario

BOOL_CONSTRAINTS = ("offline", "text_must_stay_on_device", "per_user_models", "needs_server_data")


@dataclass(frozen=True)
class Verdict:
    """One door against one scenario: excluded by what, concerns, and the reasons for its place."""

    door: str
    excluded_by: tuple[str, ...]
    concerns: tuple[str, ...]

    @property
    def meets(self) -> bool:
        return not self.excluded_by


def active_constraints(scenario: Scenario) -> list[str]:
    """The hard constraints the scenario sets, by name ("known_in_advance" when not every question is known)."""
    names = [name for name in BOOL_CONSTRAINTS if getattr(scenario, name)]
    return names + (["known_in_advance"] if scenario.known_in_advance < 1 else [])


def describe_constraints(scenario: Scenario) -> str:
    """The active constraints in words, for reasons and summaries ("none set" when there are none)."""
    words = [name for name in active_constraints(scenario) if name != "known_in_advance"]  # a fact, not a wish
    return ", ".join(words) or "none set"


def static_exclusions(door: str, scenario: Scenario) -> list[str]:
    """`constraint: reason` for each of the scenario's constraints that excludes `door` (timing plays no part)."""
    excludes = CATALOG[door].excludes
    unknown = f"{1 - scenario.known_in_advance:.0%}"
    return [f"{name}: {excludes[name].format(unknown=unknown)}" for name in active_constraints(scenario)
            if name in excludes]


def latency_exclusion(scenario: Scenario, derived: Derived | None) -> str | None:
    latency = derived.user_latency_ms if derived else None
    if latency is None or latency["p99"] <= scenario.max_latency_ms:
        return None
    return (f"max_latency_ms: a user waits {latency['p99']:,.0f} ms at p99 here, over the "
            f"{scenario.max_latency_ms:g} ms limit")


def concerns(door: str, scenario: Scenario) -> list[str]:
    """Soft reasons to prefer another door that also meets the constraints."""
    found = []
    live = door in ("streaming", "hybrid")
    if live and scenario.read_later and scenario.known_in_advance >= 1:
        found.append("the answers are read later: a live server would wait for requests to compute what one "
                     "scheduled run computes once")
    if door == "streaming" and scenario.known_in_advance >= 0.5 and not scenario.read_later:
        found.append(f"{scenario.known_in_advance:.0%} of the questions are known in advance: a live server "
                     "recomputes answers that could be looked up")
    if door == "hybrid" and scenario.hit_ratio < 0.3:
        found.append(f"only {scenario.hit_ratio:.0%} of the requests would be answered from the store: the store "
                     "and its batch job add little")
    if door == "browser" and scenario.offline:
        found.append("it works offline only after one online visit (the page, the wasm runtime and the model)")
    if door == "federated" and not scenario.per_user_models:
        found.append("every author gets the same model: federated rounds add a server and a protocol for no gain")
    return found


def verdicts(scenario: Scenario, derived: Mapping[str, Derived] | None = None) -> dict[str, Verdict]:
    """Every door's verdict; with `derived`, a measured p99 over the limit excludes too."""
    result = {}
    for door in DOORS:
        excluded = static_exclusions(door, scenario)
        slow = latency_exclusion(scenario, (derived or {}).get(door))
        result[door] = Verdict(door, tuple(excluded + ([slow] if slow else [])), tuple(concerns(door, scenario)))
    return result


def rank(found: Mapping[str, Verdict], derived: Mapping[str, Derived], measured: Mapping[str, bool]) -> list[str]:
    """The doors that meet the constraints, best first (fewest concerns, simplest, measured, cheapest, fastest)."""

    def key(door: str) -> tuple[float, ...]:
        d = derived.get(door)
        cost = d.cost["per_million_usd"] if d and d.cost else math.inf
        p99 = d.user_latency_ms["p99"] if d and d.user_latency_ms else math.inf
        return (len(found[door].concerns), CATALOG[door].complexity, 0 if measured.get(door) else 1, cost, p99)

    return sorted((door for door in DOORS if found[door].meets), key=key)


def no_door_because(scenario: Scenario, found: Mapping[str, Verdict]) -> str | None:
    """When no door meets the constraints: which clash, and which one to relax (and what it would allow)."""
    if any(v.meets for v in found.values()):
        return None
    active = active_constraints(scenario)
    static_ok = [door for door in DOORS if not static_exclusions(door, scenario)]
    if static_ok:
        return (f"no door answers within max_latency_ms={scenario.max_latency_ms:g}: {', '.join(static_ok)} meet "
                "the other constraints but are too slow here; raise --max-latency-ms or assume a faster --network")
    clash = "; ".join(f"{door} by {', '.join(e.split(':', 1)[0] for e in static_exclusions(door, scenario))}"
                      for door in DOORS)
    wishes = [name for name in active if name != "known_in_advance"] or active  # how many are known is a fact
    relax = [f"{name} (then {', '.join(allows)})" for name in wishes
             if (allows := [d for d in DOORS if not static_exclusions(d, relaxed(scenario, name))])]
    advice = f"relax one of: {'; '.join(relax)}" if relax else "relax more than one of them"
    return f"no door satisfies {' + '.join(wishes)} together: each door is excluded ({clash}); {advice}"


def relaxed(scenario: Scenario, name: str) -> Scenario:
    """The scenario without the constraint `name`."""
    if name == "known_in_advance":
        return dataclasses.replace(scenario, known_in_advance=1.0)
    changes: dict[str, Any] = {name: False}
    return dataclasses.replace(scenario, **changes)


def ranking_reasons(door: str, position: int, verdict: Verdict, derived: Derived | None,
                    scenario: Scenario, ranked: Sequence[str]) -> list[str]:
    """Why `door` sits at `position` of the ranking: the constraints it meets, its numbers, its concerns."""
    reasons = [f"meets every constraint ({describe_constraints(scenario)})"]
    if derived and derived.user_latency_ms:
        latency = derived.user_latency_ms
        reasons.append(f"a user waits {latency['p50']:,.1f} ms (p50), {latency['p99']:,.1f} ms (p99); "
                       f"limit {scenario.max_latency_ms:g} ms")
    if derived and derived.cost:
        reasons.append(f"${derived.cost['per_million_usd']:,.2f} per million predictions, "
                       f"${derived.cost['per_month_usd']:,.2f} a month at {scenario.qps:g} requests/s peak")
    reasons.append(f"complexity {CATALOG[door].complexity}: runs {', '.join(CATALOG[door].runs)}")
    reasons += [f"but {c}" for c in verdict.concerns]
    if position > 0:
        reasons.append(f"ranked after {ranked[position - 1]}: "
                       + ("more concerns" if verdict.concerns else "more to run and operate, or costlier"))
    return reasons
