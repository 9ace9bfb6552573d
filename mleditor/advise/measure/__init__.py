"""Short, bounded measurements of every door through the project's own code (the benchmarks share it).

`measure_doors` runs each door's `measure(ctx, seconds)` in turn, each within its share of the
budget (`Budget`: a door that finishes early leaves its time to the next). A door whose extra is
missing, or whose share is under the least it needs, or that fails, comes back "not measured" with
the reason in one line; nothing here raises for a door. `MIN_BUDGET_S` is the least budget that
measures anything.

    found = measure_doors(scenario, model_dir=None, on_progress=print)
    found.door("streaming").value("p99_ms")
"""

from __future__ import annotations

import importlib
import os
import platform
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from mleditor.advise.doors import DOORS
from mleditor.advise.measure.base import Budget, DoorMeasurement, Figure, MeasurementSet
from mleditor.advise.measure.context import MeasureContext
from mleditor.advise.scenario import MIN_BUDGET_S, Scenario
from mleditor.errors import MLEditorError

__all__ = ["MIN_BUDGET_S", "WEIGHTS", "Budget", "DoorMeasurement", "Figure", "MeasurementSet", "machine_info",
           "measure_doors", "model_info"]

# Each door's share of the budget; the browser's is large because Chromium is slow to start.
WEIGHTS = {"streaming": 0.3, "batch": 0.12, "hybrid": 0.1, "device": 0.1, "browser": 0.35, "federated": 0.03}
ORDER = ("federated", "device", "batch", "hybrid", "streaming", "browser")  # the cheap first, Chromium last
Progress = Callable[[str], None]


def measure_doors(scenario: Scenario, model_dir: str | None = None, doors: Sequence[str] = DOORS,
                  on_progress: Progress | None = None) -> MeasurementSet:
    """Measure `doors` within `scenario.budget_s` seconds in all (see the module docstring)."""
    started = time.monotonic()
    budget = Budget(scenario.budget_s, {d: WEIGHTS[d] for d in doors})
    found: dict[str, DoorMeasurement] = {}
    with tempfile.TemporaryDirectory(prefix="mleditor-advise-") as scratch:
        ctx = MeasureContext(scenario, Path(scratch), model_dir)
        try:
            for door in sorted(doors, key=ORDER.index):
                seconds = budget.share(door)
                if on_progress:
                    on_progress(f"measuring {door} ({seconds:.0f} s)")
                found[door] = measure_one(door, ctx, seconds)
        finally:
            ctx.close()
    found = {door: found[door] for door in doors}
    return MeasurementSet(found, machine_info(), model_info(model_dir), time.monotonic() - started)


def measure_one(door: str, ctx: MeasureContext, seconds: float) -> DoorMeasurement:
    """One door's measurement; whatever goes wrong becomes "not measured: <why>" in one line."""
    module: Any = importlib.import_module(f"mleditor.advise.measure.{door}")
    if seconds < module.MIN_S:
        return DoorMeasurement.not_measured(door, f"its share of the budget ({seconds:.1f} s) is under the "
                                                  f"{module.MIN_S:g} s it needs; raise --budget-s")
    try:
        result: DoorMeasurement = module.measure(ctx, seconds)
    except MLEditorError as exc:
        return DoorMeasurement.not_measured(door, str(exc))
    except Exception as exc:  # noqa: BLE001 - a door that fails is reported, the other doors go on
        return DoorMeasurement.not_measured(door, f"it failed: {type(exc).__name__}: {_first_line(exc)}")
    return result


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else "(no message)"


def machine_info() -> dict[str, Any]:
    """The machine the figures were taken on."""
    cpu = "unknown"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        cpu = next((line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines()
                    if line.startswith("model name")), cpu)
    memory = 0.0
    meminfo = Path("/proc/meminfo")
    if meminfo.is_file():
        memory = int(meminfo.read_text().split("\n", 1)[0].split()[1]) / 2**20
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return {"cpus": cpus, "cpu_model": cpu, "memory_gb": round(memory, 1), "python": platform.python_version(),
            "platform": platform.platform()}


def model_info(model_dir: str | None) -> dict[str, Any]:
    """The model the doors serve: its id, folder and file size."""
    from mleditor.core.registry import resolve_model

    model = resolve_model(model_dir)
    path = model.path.resolve()
    shown = path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path
    return {"model_id": model.model_id, "path": str(shown), "bytes": model.onnx_path.stat().st_size}
