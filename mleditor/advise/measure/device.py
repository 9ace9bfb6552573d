"""Door 4 measured: each device bundle's size, load time, latency on one core and what it costs in quality.

The variants are the fp32 source (built as a bundle here: `build_bundle` without data, ~0.5 s),
the shipped int8 bundle (`mleditor/browser/model/int8`, when the model is the shipped one), and
fp16 when the `device` extra can build it. Latency is `Predictor.predict(q, "v2")` on the bundle,
this thread pinned to one core with one inference thread (the phone-class budget), after a
warm-up; |Δscore| is measured against fp32 on the same questions; the test ROC AUC change is the
one the bundle's manifest recorded when it was built on the data.
"""

from __future__ import annotations

import contextlib
import os
import statistics
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from mleditor.advise.measure.base import DoorMeasurement, Figure, percentile, thin
from mleditor.advise.measure.context import MeasureContext
from mleditor.core.records import Question

MIN_S = 2.0
WARMUP = 50
DEFAULT = "int8"


def measure(ctx: MeasureContext, seconds: float) -> DoorMeasurement:
    deadline = time.monotonic() + seconds
    with one_core():
        bundles, missing = bundles_to_measure(ctx)
        per_variant = max(0.2, (deadline - time.monotonic()) / max(1, len(bundles)) - 0.2)
        reference: list[float] = []
        rows = []
        for name, path in bundles:
            rows.append(measure_bundle(name, path, ctx.questions, per_variant, reference))
    default = next((r for r in rows if r["variant"] == DEFAULT), rows[0])
    how = (f"measured: {default['calls']:,} calls of Predictor.predict(q, 'v2') on the {default['variant']} bundle, "
           "1 core, 1 inference thread")
    figures = (
        Figure("variant", None, default["variant"], "the default variant: the smallest within the quality rule"),
        Figure("bytes", default["bytes"], "bytes", "measured: the bundle's model file"),
        Figure("load_ms", default["load_ms"], "ms", "measured: median of 5 engine session constructions"),
        Figure("p50_ms", default["p50_ms"], "ms", how),
        Figure("p99_ms", default["p99_ms"], "ms", how),
        Figure("max_abs_delta_score", default["max_abs_delta_score"], "score",
               "measured: against fp32 on the same questions"),
        Figure("delta_auc", default["delta_auc"], "ROC AUC", "recorded: the bundle's manifest (test split, at build)"),
        Figure("client_memory_mb", max(r["rss_mb"] for r in rows), "MB",
               "measured: resident memory added by loading the first bundle in this process (engine and model)"),
    )
    return DoorMeasurement("device", figures, missing=tuple(missing), samples_ms=tuple(default.pop("samples")),
                           variants=tuple({k: v for k, v in r.items() if k != "samples"} for r in rows))


def bundles_to_measure(ctx: MeasureContext) -> tuple[list[tuple[str, Path]], list[str]]:
    """(variant, bundle folder) for each variant measured here, and what could not be."""
    from mleditor.browser.site import BUNDLES_DIR
    from mleditor.core.registry import resolve_model
    from mleditor.device.build import build_bundle
    from mleditor.device.catalog import extra_installed, variant_specs
    from mleditor.device.variants import BuildOptions

    source, specs = resolve_model(ctx.model_dir), variant_specs()
    bundles: list[tuple[str, Path]] = []
    missing = []
    shipped_int8 = BUNDLES_DIR / "int8"
    for name in ("fp32", "int8", "fp16"):
        if name == "int8" and shipped_for(shipped_int8, source.model_id):
            bundles.append((name, shipped_int8))
        elif extra_installed(specs[name]):
            built = build_bundle(source, specs[name], BuildOptions(data_dir=None), ctx.workdir / "device" / name)
            bundles.append((name, built.path))
        else:
            missing.append(f"device: variant {name} not measured: install extra '{specs[name].extra}' "
                           f"(pip install 'mleditor[{specs[name].extra}]')")
    return bundles, missing


def shipped_for(bundle: Path, model_id: str) -> bool:
    import json

    manifest = bundle / "manifest.json"
    return manifest.is_file() and json.loads(manifest.read_text()).get("source_model_id") == model_id


def measure_bundle(name: str, path: Path, questions: list[Question], seconds: float,
                   reference: list[float]) -> dict[str, Any]:
    """One variant's row; the first (fp32) fills `reference` with its scores for the others' |Δscore|."""
    from mleditor.device.bundle import load_bundle
    from mleditor.device.runtime import load_predictor, load_scorer

    bundle = load_bundle(path)
    rss = resident_mb()
    predictor = load_predictor(path, threads=1)
    rss_mb = max(0.0, resident_mb() - rss)
    load_ms = statistics.median(timed_ms(lambda: load_scorer(bundle)) for _ in range(5))
    scores = [predictor.predict(q, "v2").score for q in questions]
    if not reference:
        reference.extend(scores)
    samples: list[float] = []
    deadline = time.monotonic() + seconds
    for n in range(10**6):
        if n >= WARMUP and time.monotonic() > deadline:
            break
        start = time.perf_counter()
        predictor.predict(questions[n % len(questions)], "v2")
        if n >= WARMUP:
            samples.append((time.perf_counter() - start) * 1000)
    quality = bundle.manifest.get("quality") or {}
    return {"variant": name, "bytes": bundle.model_file.stat().st_size, "load_ms": load_ms,
            "p50_ms": percentile(samples, 50), "p99_ms": percentile(samples, 99), "calls": len(samples),
            "max_abs_delta_score": max(abs(a - b) for a, b in zip(scores, reference)),
            "roc_auc": quality.get("test_auc"), "delta_auc": 0.0 if name == "fp32" else quality.get("delta_test_auc"),
            "rss_mb": rss_mb, "samples": thin(samples)}


def timed_ms(work: Callable[[], object]) -> float:
    start = time.perf_counter()
    work()
    return (time.perf_counter() - start) * 1000


def resident_mb() -> float:
    """This process's resident memory (VmRSS), MB; 0 where /proc is absent."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


@contextlib.contextmanager
def one_core() -> Iterator[None]:
    """This thread on one core for the block (as on a phone), then back on the cores it had."""
    if not hasattr(os, "sched_setaffinity"):
        yield
        return
    cores = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(cores)})
    try:
        yield
    finally:
        os.sched_setaffinity(0, cores)
