"""Device benchmark: each variant of the model as a bundle: size, quality, latency on one core, load, cold start.

Run from the repository root (data: $MLEDITOR_DATA, else ../shared/data), copy the table to BENCHMARKS.md:
    .venv/bin/python benchmarks/bench_device.py [--bundles DIR] [--variants a,b] [--calls C] [--json]

It builds each variant with `mleditor.device.build.build_bundle` (quality and |Δscore| measured on every
real question, as `mleditor device build` does) unless --bundles names a folder built before. Latency
runs in this process pinned to one core with one inference thread (the phone-class budget): end to end
is `Predictor.predict(question, "v2")` on the bundle (validate, featurize, model, checks), model alone
the scorer on ready inputs; both over the same real questions, after warm-up. Load is the scorer's
construction; cold start is a fresh `mleditor device predict` process, start to answer, with its peak
RSS. The fp32 source is the same-run baseline of every column.
"""

from __future__ import annotations

import argparse
import gzip
import itertools
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from mleditor import config
from mleditor.core.features import featurize_many
from mleditor.core.ingest import iter_dump_questions
from mleditor.core.registry import resolve_model
from mleditor.core.scorer import pad_ngram_ids
from mleditor.device.build import build_bundle
from mleditor.device.bundle import DeviceBundle, load_bundle
from mleditor.device.catalog import (
    DEFAULT_MAX_ABS_DELTA,
    DEFAULT_MAX_AUC_LOSS,
    default_variant,
    extra_installed,
    variant_specs,
)
from mleditor.device.runtime import load_predictor, load_scorer
from mleditor.device.variants import BuildOptions

DEFAULT_VARIANTS = ("fp32", "fp32-ort", "int8", "fp16", "pruned-50-int8", "pruned-20-int8", "pruned-10",
                    "pruned-10-int8", "reduced-14", "reduced-12", "litert")
WARMUP = 200
COLD_RUNS = 5
QUESTION = ["--title", "How do I stop my bottles from gushing?",
            "--body", "I prime with 120 g of sugar per 20 L and every bottle gushes. What should I check?"]


def percentiles(samples_ns: list[int]) -> tuple[float, float]:
    p50, p99 = np.percentile(np.array(samples_ns) / 1000, [50, 99])
    return float(p50), float(p99)


def time_calls(call: Any, items: list[Any], calls: int) -> tuple[float, float]:
    for item in itertools.islice(itertools.cycle(items), WARMUP):
        call(item)
    samples = []
    for item in itertools.islice(itertools.cycle(items), calls):
        start = time.perf_counter_ns()
        call(item)
        samples.append(time.perf_counter_ns() - start)
    return percentiles(samples)


def cold_start(bundle: Path) -> dict[str, float]:
    """A fresh `mleditor device predict` process: wall ms from start to its answer, and its peak RSS (MB)."""
    walls, rss = [], []
    for _ in range(COLD_RUNS):
        start = time.perf_counter()
        process = subprocess.Popen([sys.executable, "-m", "mleditor", "device", "predict", "--bundle", str(bundle),
                                    "--model", "v2", "--json", *QUESTION], stdout=subprocess.PIPE,
                                   stderr=subprocess.DEVNULL)
        _, status, usage = os.wait4(process.pid, 0)
        walls.append((time.perf_counter() - start) * 1000)
        if process.stdout is not None:
            process.stdout.close()
        if status != 0:
            raise SystemExit(f"mleditor device predict failed on {bundle} (status {status})")
        rss.append(usage.ru_maxrss / 1024)
    return {"cold_start_ms": statistics.median(walls), "peak_rss_mb": statistics.median(rss)}


def load_ms(bundle: DeviceBundle) -> float:
    """The median time to construct the bundle's scorer (its engine session), in ms."""
    times = []
    for _ in range(20):
        start = time.perf_counter()
        load_scorer(bundle)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def measure(bundle: DeviceBundle, questions: list[Any], inputs: list[tuple[np.ndarray, np.ndarray]],
            calls: int) -> dict[str, Any]:
    predictor = load_predictor(bundle.path)
    scorer = load_scorer(bundle)
    e2e = time_calls(lambda q: predictor.predict(q, "v2"), questions, calls)
    model = time_calls(lambda x: scorer.score(*x), inputs, calls)
    data = bundle.model_file.read_bytes()
    quality = bundle.manifest.get("quality") or {}
    return {"variant": bundle.variant, "runtime": bundle.runtime, "bytes": len(data),
            "gzip_bytes": len(gzip.compress(data, 9)), "quality": quality,
            "max_abs_delta_score": bundle.tolerance, "p99_abs_delta_score": quality.get("p99_abs_delta_score"),
            "e2e_p50_us": e2e[0], "e2e_p99_us": e2e[1], "model_p50_us": model[0], "model_p99_us": model[1],
            "load_ms": load_ms(bundle), **cold_start(bundle.path)}


def bundles_to_measure(args: argparse.Namespace, work: Path) -> list[DeviceBundle]:
    names = args.variants.split(",") if args.variants else list(DEFAULT_VARIANTS)
    if args.bundles:
        return [load_bundle(Path(args.bundles) / name) for name in names if (Path(args.bundles) / name).is_dir()]
    specs = variant_specs()
    source = resolve_model(None)
    options = BuildOptions(data_dir=config.data_dir())
    built = []
    for name in names:
        spec = specs[name]
        if not extra_installed(spec):
            print(f"# {name}: skipped (extra {spec.extra} not installed)", file=sys.stderr)
            continue
        try:
            built.append(build_bundle(source, spec, options, work / name))
        except Exception as exc:  # noqa: BLE001 - a variant that cannot be built here is reported, the rest go on
            print(f"# {name}: not built ({exc})", file=sys.stderr)
    return built


def real_questions(limit: int) -> list[Any]:
    questions = [record.as_question() for folder in config.dump_dirs() for record in iter_dump_questions(folder)]
    if not questions:
        raise SystemExit(f"no dumps under {config.data_dir()}; set MLEDITOR_DATA")
    return questions[:: max(1, len(questions) // limit)][:limit]


def render(report: dict[str, Any]) -> str:
    rows = report["rows"]
    base = next((r for r in rows if r["variant"] == "fp32"), rows[0])

    def delta(q: dict[str, Any], key: str) -> str:
        value, source = q.get(key), q.get(f"source_{key}")
        if not isinstance(value, (int, float)) or not isinstance(source, (int, float)):
            return "—"
        return f"{value:.4f} ({value - source:+.4f})"

    header = ["variant", "runtime", "file", "gzip", "test AUC (Δ)", "test ECE (Δ)", "held-out AUC (Δ)",
              "held-out ECE (Δ)", "max / p99 \\|Δscore\\|", "e2e p50 / p99 µs", "model p50 / p99 µs", "load ms",
              "cold start ms", "peak RSS MB"]
    lines = [f"command: `{report['command']}`  ", f"date: {report['date']}  ", f"machine: {report['machine']}  ",
             f"data: {report['data']}", "", "| " + " | ".join(header) + " |", "|---|---|" + "---:|" * 12]
    for r in rows:
        q = r["quality"]
        p99 = r["p99_abs_delta_score"]
        lines.append(
            f"| {r['variant']} | {r['runtime']} | {r['bytes'] / 1024:,.0f} KB | {r['gzip_bytes'] / 1024:,.0f} KB "
            f"| {delta(q, 'test_auc')} | {delta(q, 'test_ece')} "
            f"| {delta(q, 'holdout_auc')} | {delta(q, 'holdout_ece')} "
            f"| {r['max_abs_delta_score']:.4f} / {p99 if p99 is None else f'{p99:.4f}'} "
            f"| {r['e2e_p50_us']:,.0f} / {r['e2e_p99_us']:,.0f} | {r['model_p50_us']:,.0f} / {r['model_p99_us']:,.0f} "
            f"| {r['load_ms']:.2f} | {r['cold_start_ms']:,.0f} | {r['peak_rss_mb']:,.0f} |")
    pick = report["default"]
    smaller = ", ".join(f"{r['variant']} {base['bytes'] / r['bytes']:.1f}× smaller" for r in rows if r is not base)
    rule = f"smallest file with test ROC AUC loss ≤ {DEFAULT_MAX_AUC_LOSS} and max |Δscore| ≤ {DEFAULT_MAX_ABS_DELTA}"
    lines += ["", f"Size vs fp32 in the same run: {smaller}.", f"Default by rule ({rule}): **{pick or 'none'}**."]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--bundles", help="measure the bundles built before under this folder (one per variant)")
    parser.add_argument("--variants", help=f"comma-separated (default: {','.join(DEFAULT_VARIANTS)})")
    parser.add_argument("--calls", type=int, default=2000, help="timed calls per latency figure (default 2000)")
    parser.add_argument("--questions", type=int, default=500, help="real questions to time over (default 500)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core, as on a phone
    questions = real_questions(args.questions)
    features = featurize_many([q.title for q in questions], [q.body for q in questions])
    inputs = [(pad_ngram_ids([f.ngram_ids]), f.dense[None, :].astype(np.float32)) for f in features]
    with tempfile.TemporaryDirectory(prefix="bench-device-") as work:
        rows = [measure(bundle, questions, inputs, args.calls) for bundle in bundles_to_measure(args, Path(work))]
    report = {"command": shlex.join(sys.orig_argv), "date": time.strftime("%Y-%m-%d"),
              "machine": f"{platform.processor() or platform.machine()}, pinned to 1 core, 1 inference thread; "
                         f"Python {platform.python_version()}",
              "data": f"{len(questions)} real questions timed; quality on every real question of {config.data_dir()}",
              "rows": rows,
              "default": default_variant({r["variant"]: (r["bytes"], r["quality"], r["max_abs_delta_score"])
                                          for r in rows})}
    print(json.dumps(report, indent=2) if args.json else render(report))


if __name__ == "__main__":
    main()
