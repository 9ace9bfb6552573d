"""Core benchmark: featurizer throughput, single-question latency (v1, v2, v3), batch scoring, pathological bodies.

Run from the repository root (data: $MLEDITOR_DATA, else ../shared/data), copy the table to BENCHMARKS.md:
    .venv/bin/python benchmarks/bench_core.py [--questions N] [--repeat R] [--calls C] [--json] [--pathological-only]
Each figure sits next to its same-run baseline: the bare model call, scoring one question at a time, or an
ordinary 50,000-character body (for the pathological ones, FEATURES.md §10).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import random
import shlex
import statistics
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime

from mleditor import config
from mleditor.core.features import Features, featurize, featurize_many, normalize, normalize_title, use_featurizer
from mleditor.core.html_text import html_to_markdown
from mleditor.core.ingest import iter_dump_questions
from mleditor.core.pipeline import model_input, postprocess
from mleditor.core.predictor import Predictor
from mleditor.core.recommend import counterfactual_batch
from mleditor.core.records import Question
from mleditor.core.scorer import pad_ngram_ids

BATCH_SIZES = (1, 32, 256, 1024)
WARMUP_CALLS = 200
V3_MODEL_GOAL_US = 1000.0  # the v3 goal: the batched counterfactual call stays well under 1 ms
BODY_CHARS = 50_000  # the API's limit on a body
# FEATURES.md §10: a pathological body of BODY_CHARS costs at most this many times an ordinary one (HTML is
# allowed more: html.parser spends microseconds on each tag, and these shapes are denser in tags than a post).
PATHOLOGICAL_GOALS = {"featurize": 5.0, "html_to_markdown": 10.0}


def _repeated(unit: str, tail: str = "", note: str = "") -> tuple[str, str]:
    """A row's label and body: `unit` as many times as fits in BODY_CHARS with `tail`, then `tail`."""
    times = (BODY_CHARS - len(tail)) // len(unit)
    label = f"{times:,} × {unit.encode('unicode_escape').decode().rstrip()}" + (f" then {tail}" if tail else "") + note
    return label, unit * times + tail


PATHOLOGICAL = {
    "featurize": dict([
        _repeated("["), _repeated("]("), _repeated("!["), _repeated("[a]("), _repeated(".", "x"),
        _repeated("\u0301\u0316", note=" (marks out of order)"), _repeated("a\n"),
    ]),
    "html_to_markdown": dict([
        _repeated("<a", note=" (never closed)"), _repeated("<p ", note=" (never closed)"), _repeated("<!--x>"),
        _repeated("<p>a paragraph never closed "), _repeated("<ul><li>a nested item ", note=" (nested)"),
        _repeated("<blockquote><p>a quoted line</p>", note=" (nested)"),
    ]),
}

ModelInputs = tuple[np.ndarray, np.ndarray]  # (ngram_ids int64 [B, L], dense float32 [B, D])


@dataclass(frozen=True)
class Latency:
    """Per-call wall time of one operation, in microseconds."""

    name: str
    p50_us: float
    p90_us: float
    p99_us: float
    mean_us: float


def load_questions(limit: int | None) -> tuple[list[Question], str]:
    """Every question of every dump in the data dir (shuffled, seed 0), else a synthetic set; and which."""
    root = config.data_dir() / "stackexchange"
    dumps = sorted(root.glob("*/Posts.xml")) if root.is_dir() else []
    if not dumps:
        questions = synthetic_questions(limit or 2000)
        return questions, f"SYNTHETIC: {len(questions)} generated questions (no dumps under {root}; set MLEDITOR_DATA)"
    questions = [record.as_question() for dump in dumps for record in iter_dump_questions(dump)]
    random.Random(0).shuffle(questions)  # mix the sites, so a --questions prefix is not one site
    questions = questions[:limit]  # [:None] keeps them all
    return questions, f"real: {len(questions)} questions from {len(dumps)} sites under {root}"


def synthetic_questions(count: int, seed: int = 0) -> list[Question]:
    """Deterministic word-salad questions with paragraphs and some code, for machines without the dumps."""
    rng = random.Random(seed)
    words = "how what why which does the a to of in is it not my model data error value python train file".split()

    def sentence() -> str:
        return " ".join(rng.choices(words, k=rng.randint(5, 25))).capitalize() + rng.choice(".?.!")

    def body() -> str:
        paragraphs = [" ".join(sentence() for _ in range(rng.randint(1, 5))) for _ in range(rng.randint(1, 6))]
        return "\n\n".join(paragraphs + (["```\nx = compute(y)\nprint(x)\n```"] if rng.random() < 0.4 else []))

    return [Question(sentence(), body()) for _ in range(count)]


def latency(name: str, call: Callable[[Any], object], items: Sequence[Any], calls: int) -> Latency:
    """Time `calls` single calls of `call`, cycling through `items`, after WARMUP_CALLS untimed ones."""
    for item in itertools.islice(itertools.cycle(items), WARMUP_CALLS):
        call(item)
    times = np.empty(calls)
    for index, item in zip(range(calls), itertools.cycle(items)):
        start = time.perf_counter_ns()
        call(item)
        times[index] = time.perf_counter_ns() - start
    p50, p90, p99 = (float(v) / 1000 for v in np.percentile(times, [50, 90, 99]))
    return Latency(name, p50, p90, p99, float(times.mean()) / 1000)


def throughput(run: Callable[[], object], count: int, repeat: int) -> float:
    """Median items per second over `repeat` runs of `run()`, each of which handles `count` items."""
    rates = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        rates.append(count / (time.perf_counter() - start))
    return statistics.median(rates)


def featurize_all(questions: Sequence[Question]) -> list[Features]:
    """Featurize each question, in order."""
    return [featurize(q.title, q.body) for q in questions]


def model_inputs(features: Sequence[Features]) -> ModelInputs:
    """What Predictor.model_scores builds for the model: padded ids and float32 dense rows."""
    return pad_ngram_ids([f.ngram_ids for f in features]), np.stack([f.dense for f in features]).astype(np.float32)


def featurizer_modes(questions: Sequence[Question]) -> dict[str, tuple[str, Callable[[], object]]]:
    """Each way to featurize all questions: label → (implementation, run). The first is the baseline."""
    titles, bodies = [q.title for q in questions], [q.body for q in questions]
    clean_titles, clean_bodies = [normalize_title(t) for t in titles], [normalize(b) for b in bodies]
    return {
        "featurize(title, body), reference (baseline)": ("reference", lambda: featurize_all(questions)),
        "featurize(title, body), native": ("native", lambda: featurize_all(questions)),
        "featurize_many(titles, bodies), native": ("native", lambda: featurize_many(titles, bodies)),
        "featurize_many(..., normalized=True), native (after validation)":
            ("native", lambda: featurize_many(clean_titles, clean_bodies, normalized=True)),
    }


def bench_featurizer(questions: Sequence[Question], repeat: int) -> list[dict[str, Any]]:
    """Single-process throughput of each featurizer mode over all questions; the modes take turns in each round."""
    modes = featurizer_modes(questions)
    rates: dict[str, list[float]] = {label: [] for label in modes}
    for _ in range(repeat):
        for label, (implementation, run) in modes.items():
            use_featurizer(implementation)
            rates[label].append(throughput(run, len(questions), 1))
    use_featurizer()
    chars = statistics.fmean(len(q.title) + len(q.body) for q in questions)
    baseline = statistics.median(next(iter(rates.values())))
    return [{"mode": label, "questions_per_s": statistics.median(r), "mean_chars": chars,
             "chars_per_s": statistics.median(r) * chars, "vs_reference": statistics.median(r) / baseline}
            for label, r in rates.items()]


def featurize_with(implementation: str) -> Callable[[Question], object]:
    """`featurize` of one question, by `implementation` ("native" or "reference")."""
    featurizer = use_featurizer(implementation)
    use_featurizer()
    return lambda question: featurizer.featurize_normalized(normalize_title(question.title), normalize(question.body))


def v3_model_inputs(predictor: Predictor, features: Features) -> ModelInputs:
    """The exact batch v3 sends to the model: the question plus one row per counterfactual edit."""
    _, rows = counterfactual_batch(features.dense, predictor.model.typical_values)
    return pad_ngram_ids([features.ngram_ids] * len(rows)), rows.astype(np.float32)


def v2_from_features(predictor: Predictor, features: Features) -> object:
    """Steps 3b-5 for v2 on ready features: the model rows, the runner's call, the range check."""
    inputs = model_input(features, "v2", predictor.model.typical_values)
    return postprocess(inputs, predictor.pipeline.runner.score_inputs([inputs])[0], predictor.model)


def bench_latency(predictor: Predictor, questions: Sequence[Question], calls: int) -> tuple[list[Latency], float]:
    """Single-question latencies, from the bare model call up to v3; plus v3's mean rows per model call."""
    sample = list(questions[:calls])
    features = featurize_all(sample)
    single = [model_inputs([f]) for f in features]
    v3_batches = [v3_model_inputs(predictor, f) for f in features]
    cases: list[tuple[str, Callable[[Any], object], Sequence[Any]]] = [
        ("model alone, 1 row (floor)", lambda x: predictor.scorer.score(*x), single),
        ("featurize, reference", featurize_with("reference"), sample),
        ("featurize, native", featurize_with("native"), sample),
        ("v2 from features (pad + model + checks)", lambda f: v2_from_features(predictor, f), features),
        ("v1 end-to-end (rules)", lambda q: predictor.predict(q, "v1"), sample),
        ("v2 end-to-end (score)", lambda q: predictor.predict(q, "v2"), sample),
        ("v3 end-to-end (score + advice)", lambda q: predictor.predict(q, "v3"), sample),
        ("v3 model call alone (question + counterfactuals)", lambda x: predictor.scorer.score(*x), v3_batches),
    ]
    rows_per_call = statistics.fmean(ids.shape[0] for ids, _ in v3_batches)
    return [latency(name, call, items, calls) for name, call, items in cases], rows_per_call


def run_each(call: Callable[[Any], object], items: Sequence[Any]) -> None:
    """Call `call` on each item, discarding the results."""
    for item in items:
        call(item)


def bench_batches(predictor: Predictor, questions: Sequence[Question], repeat: int) -> list[dict[str, Any]]:
    """v2 throughput with predict_many at each batch size, against predict() one question at a time."""
    count = len(questions)
    baseline = throughput(lambda: [predictor.predict(q, "v2") for q in questions], count, repeat)
    features = featurize_all(questions)
    rows: list[dict[str, Any]] = [{"mode": "predict(q, 'v2') one by one (baseline)", "batch": 1,
                                   "questions_per_s": baseline, "speedup": 1.0, "model_questions_per_s": None}]
    for size in BATCH_SIZES:
        starts = range(0, count, size)
        chunks = [questions[i:i + size] for i in starts]
        inputs = [model_inputs(features[i:i + size]) for i in starts]
        rate = throughput(partial(run_each, lambda c: predictor.predict_many(c, "v2"), chunks), count, repeat)
        model_rate = throughput(partial(run_each, lambda x: predictor.scorer.score(*x), inputs), count, repeat)
        rows.append({"mode": "predict_many(batch, 'v2')", "batch": size, "questions_per_s": rate,
                     "speedup": rate / baseline, "model_questions_per_s": model_rate})
    return rows


def dump_html(limit: int) -> tuple[str, str]:
    """The first `limit` characters of the dumps' question bodies (HTML) in file order, and where they came from."""
    root = config.data_dir() / "stackexchange"
    parts: list[str] = []
    for dump in sorted(root.glob("*/Posts.xml")) if root.is_dir() else []:
        for _, row in ET.iterparse(dump):
            if row.tag == "row" and row.get("PostTypeId") == "1":
                parts.append(row.get("Body") or "")
            row.clear()
            if sum(map(len, parts)) >= limit:
                return "".join(parts)[:limit], f"real: question bodies from the dumps under {root}"
    questions = synthetic_questions(limit // 200)
    html = "".join(f"<p>{q.body}</p>" for q in questions)[:limit]
    return html, "SYNTHETIC: generated paragraphs"


def best_ms(call: Callable[[str], object], text: str, runs: int = 5, budget_s: float = 10.0) -> float:
    """The fastest of `runs` calls, in ms; fewer once they have taken `budget_s` (a quadratic step takes minutes)."""
    best, spent = float("inf"), 0.0
    for _ in range(runs):
        start = time.perf_counter()
        call(text)
        elapsed = time.perf_counter() - start
        best, spent = min(best, elapsed), spent + elapsed
        if spent > budget_s:
            break
    return best * 1000


def bench_pathological(questions: Sequence[Question]) -> dict[str, Any]:
    """Each pathological 50,000-character body against an ordinary one, for featurize and html_to_markdown."""
    ordinary_markdown = "\n\n".join(q.body for q in questions)[:BODY_CHARS]
    ordinary_html, html_source = dump_html(BODY_CHARS)
    ordinary = {"featurize": ordinary_markdown, "html_to_markdown": ordinary_html}
    calls: dict[str, Callable[[str], object]] = {"featurize": partial(featurize, "A title"),
                                                 "html_to_markdown": html_to_markdown}
    rows = []
    for step, shapes in PATHOLOGICAL.items():
        baseline = best_ms(calls[step], ordinary[step])
        rows.append({"step": step, "body": "ordinary (baseline)", "ms": baseline, "ratio": 1.0})
        for name, text in shapes.items():
            ms = best_ms(calls[step], text)
            rows.append({"step": step, "body": name, "ms": ms, "ratio": ms / baseline})
    return {"rows": rows, "html_source": html_source}


def machine_info() -> dict[str, Any]:
    """What the figures depend on: CPU (from /proc/cpuinfo), cores, Python, onnxruntime and numpy versions."""
    cpuinfo = Path("/proc/cpuinfo")
    lines = cpuinfo.read_text().splitlines() if cpuinfo.is_file() else []
    cpu = next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")), "unknown")
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {"cpu": cpu, "cores": os.cpu_count(), "usable_cores": usable, "python": platform.python_version(),
            "onnxruntime": onnxruntime.__version__, "numpy": np.__version__, "platform": platform.platform(),
            "onnx_intra_op_threads": 1}


def table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> list[str]:
    """A Markdown table (first column left, the others right-aligned), then a blank line."""
    lines = [f"| {' | '.join(map(cell, row))} |" for row in (header, *rows)]
    return [lines[0], "|---|" + "---:|" * (len(header) - 1), *lines[1:], ""]


def cell(value: object) -> str:
    """A table cell: floats as whole numbers with thousands separators, None as a dash."""
    return "—" if value is None else f"{value:,.0f}" if isinstance(value, float) else str(value)


def render_pathological(pathological: dict[str, Any]) -> list[str]:
    """The pathological-body table and, per step, whether its goal is met."""
    rows = pathological["rows"]
    verdicts = []
    for step, goal in PATHOLOGICAL_GOALS.items():
        worst = max((r for r in rows if r["step"] == step), key=lambda r: r["ratio"])
        verdict = "met" if worst["ratio"] <= goal else "NOT met"
        verdicts.append(f"{step} within {goal:.0f}× of the ordinary body: {verdict} "
                        f"(worst: {worst['body']}, {worst['ratio']:.1f}×)")
    return [
        *table(["50,000 characters", "body", "ms (best of 5)", "vs ordinary"],
               [[r["step"], r["body"], f"{r['ms']:,.1f}", f"{r['ratio']:.1f}×"] for r in rows]),
        (f"Ordinary bodies: featurize, the real questions' text joined; HTML, {pathological['html_source']}. "
         f"Goals (FEATURES.md §10): {'; '.join(verdicts)}."),
    ]


def render_head(report: dict[str, Any]) -> list[str]:
    """How the report was made: command, date, machine, data."""
    m = report["machine"]
    return [
        f"command: `{report['command']}`  ", f"date: {report['date']}  ",
        (f"machine: {m['cpu']}, {m['cores']} cores ({m['usable_cores']} usable), {m['platform']}; "
         f"Python {m['python']}, onnxruntime {m['onnxruntime']} ({m['onnx_intra_op_threads']} intra-op thread), "
         f"numpy {m['numpy']}  "),
        f"data: {report['data']}", "",
    ]


def render_markdown(report: dict[str, Any]) -> str:
    """The report as Markdown: how it was made, then the featurizer, latency, batch and pathological tables."""
    if "featurizer" not in report:
        return "\n".join([*render_head(report), *render_pathological(report["pathological"])]).rstrip()
    f, lat = report["featurizer"], report["latency"]
    floor, v3 = lat[0]["p50_us"], lat[-1]
    return "\n".join([
        *render_head(report),
        *table(["featurizer, 1 process", "questions/s (median)", "vs reference", "mean chars/question", "M chars/s"],
               [[r["mode"], r["questions_per_s"], f"{r['vs_reference']:.1f}×", r["mean_chars"],
                 f"{r['chars_per_s'] / 1e6:.2f}"] for r in f]),
        *table(["single question", "p50 µs", "p90 µs", "p99 µs", "mean µs", "p50 vs model alone"],
               [[r["name"], r["p50_us"], r["p90_us"], r["p99_us"], r["mean_us"], f"{r['p50_us'] / floor:.1f}×"]
                for r in lat]),
        (f"{report['calls']:,} timed calls per row after {WARMUP_CALLS} warm-up calls. v3 model call: "
         f"{report['v3_rows_per_call']:.1f} rows on average, p99 {v3['p99_us']:,.0f} µs; "
         f"goal \"well under 1 ms of model time\": {'met' if v3['p99_us'] < V3_MODEL_GOAL_US else 'NOT met'}."), "",
        *table(["v2 scoring", "batch", "questions/s (median)", "vs one by one", "model alone questions/s"],
               [[r["mode"], r["batch"], r["questions_per_s"], f"{r['speedup']:.2f}×", r["model_questions_per_s"]]
                for r in report["batches"]]),
        *render_pathological(report["pathological"]),
    ]).rstrip()


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command-line options, each checked to be >= 1."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--questions", type=int, metavar="N", help="use at most N questions (default: all)")
    parser.add_argument("--repeat", type=int, metavar="R", default=5, help="runs per throughput median (default: 5)")
    parser.add_argument("--calls", type=int, metavar="C", default=3000, help="calls per latency row (default: 3000)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON instead of Markdown")
    parser.add_argument("--pathological-only", action="store_true",
                        help="time only the pathological bodies against ordinary ones (no model needed)")
    args = parser.parse_args(argv)
    for name in ("questions", "repeat", "calls"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            parser.error(f"--{name} must be a whole number >= 1; got {getattr(args, name)}")
    return args


def main(argv: Sequence[str] | None = None) -> None:
    """Run every benchmark and print the report (progress goes to stderr)."""
    args = parse_args(argv)
    step = partial(print, file=sys.stderr, flush=True)
    questions, source = load_questions(args.questions)
    report: dict[str, Any] = {"command": shlex.join(sys.orig_argv), "date": time.strftime("%Y-%m-%d"),
                              "data": source, "machine": machine_info()}
    if args.pathological_only:
        step(f"{source}\npathological bodies…")
        report["pathological"] = bench_pathological(questions)
        print(json.dumps(report, indent=2) if args.json else render_markdown(report))
        return
    predictor = Predictor.load()
    step(f"{source}\nfeaturizer throughput…")
    featurizer = bench_featurizer(questions, args.repeat)
    step("single-question latency…")
    latencies, rows_per_call = bench_latency(predictor, questions, args.calls)
    step("batch scoring…")
    batches = bench_batches(predictor, questions, args.repeat)
    step("pathological bodies…")
    report |= {"featurizer": featurizer, "calls": args.calls, "latency": [asdict(x) for x in latencies],
               "v3_rows_per_call": rows_per_call, "batches": batches, "pathological": bench_pathological(questions)}
    print(json.dumps(report, indent=2) if args.json else render_markdown(report))


if __name__ == "__main__":
    main()
