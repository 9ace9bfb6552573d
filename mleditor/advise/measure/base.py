"""What a door's measurement returns, and the budget every measurement keeps to.

Every number is a `Figure` that says how it was obtained ("measured: ...", "recorded: ...",
"assumption: ..."). A door that could not be measured is a `DoorMeasurement` with `why_not`
("not measured: install extra 'federated' ..."), never a made-up number; one measured in part lists
what is missing. Tests build a `MeasurementSet` from these same classes to decide without timing.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Figure:
    """One number, its unit and how it was obtained."""

    name: str
    value: float | None
    unit: str
    how: str

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "value": self.value, "unit": self.unit, "how": self.how}


@dataclass(frozen=True)
class DoorMeasurement:
    """What was measured of one door: its figures, compute-only latency samples, and what is missing."""

    door: str
    figures: tuple[Figure, ...] = ()
    why_not: str | None = None  # None: measured (perhaps in part: see `missing`)
    missing: tuple[str, ...] = ()
    samples_ms: tuple[float, ...] = ()
    variants: tuple[Mapping[str, Any], ...] = ()  # device: one row per variant

    @classmethod
    def not_measured(cls, door: str, why: str) -> DoorMeasurement:
        return cls(door, why_not=why if why.startswith("not measured") else f"not measured: {why}")

    @property
    def measured(self) -> bool:
        return self.why_not is None

    def value(self, name: str) -> float | None:
        """The value of the figure `name`, or None when it is absent or was not obtained."""
        return next((f.value for f in self.figures if f.name == name), None)

    def figure(self, name: str) -> Figure | None:
        return next((f for f in self.figures if f.name == name), None)


@dataclass(frozen=True)
class MeasurementSet:
    """Every door's measurement, and the machine and model they were taken on."""

    doors: Mapping[str, DoorMeasurement]
    machine: Mapping[str, Any] = field(default_factory=dict)
    model: Mapping[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    def door(self, name: str) -> DoorMeasurement:
        return self.doors.get(name) or DoorMeasurement.not_measured(name, "not measured: not asked for")


class Budget:
    """Seconds for all the measurements: each door gets its weight's share of what is left when its turn comes.

    A door that finishes early leaves its seconds to the doors after it.
    """

    def __init__(self, total_s: float, weights: Mapping[str, float],
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.total_s = total_s
        self.weights = dict(weights)
        self.clock = clock
        self.started = clock()
        self._waiting = list(weights)

    def remaining(self) -> float:
        return max(0.0, self.total_s - (self.clock() - self.started))

    def share(self, door: str, still_to_come: Sequence[str] | None = None) -> float:
        """Seconds for `door` now: the remaining time × its weight / the weights of the doors still to come."""
        waiting = [d for d in (still_to_come or self._waiting) if d in self.weights]
        total = sum(self.weights[d] for d in waiting) or 1.0
        if door in self._waiting:
            self._waiting.remove(door)
        return self.remaining() * self.weights.get(door, 0.0) / total


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) by nearest rank; 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]


def thin(samples: Sequence[float], most: int = 2000) -> tuple[float, ...]:
    """At most `most` samples, evenly spaced, rounded to 0.1 µs."""
    step = max(1, len(samples) // most)
    return tuple(round(s, 4) for s in list(samples)[::step][:most])


def mixture_percentile(hits: Sequence[float], misses: Sequence[float], hit_ratio: float, q: float) -> float:
    """The q-th percentile (0-100) of latencies that are a hit with probability `hit_ratio`, else a miss."""
    weighted = [(v, hit_ratio / len(hits)) for v in hits] if hits else []
    weighted += [(v, (1 - hit_ratio) / len(misses)) for v in misses] if misses else []
    if not weighted:
        return 0.0
    weighted.sort()
    total, seen = sum(w for _, w in weighted), 0.0
    for value, weight in weighted:
        seen += weight
        if seen >= q / 100 * total:
            return value
    return weighted[-1][0]
