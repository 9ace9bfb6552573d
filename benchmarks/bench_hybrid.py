"""Hybrid door: latency of a stored hit against a live computation, in the same run.

    python benchmarks/bench_hybrid.py [--questions 1000] [--store sqlite:///PATH]

Both paths go through `HybridService.predict` in-process with the shipped model and a SQLite
prediction store: the first pass over N distinct real questions misses and computes live (cache
off, written back), the second pass finds every one stored and fresh.
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

from mleditor.config import data_dir
from mleditor.core.ingest import iter_dump_questions
from mleditor.core.requests import PredictRequest
from mleditor.hybrid.lookup import StoreLookup
from mleditor.hybrid.service import HybridService
from mleditor.serve.service import PredictionService
from mleditor.serve.settings import ServeSettings


def load_questions(n: int) -> list[tuple[str, str]]:
    dumps = sorted((data_dir() / "stackexchange").glob("*/Posts.xml"))
    questions = [(r.title, r.body) for path in dumps for r in iter_dump_questions(path)]
    if not questions:
        print("no dumps found: using synthetic questions", file=sys.stderr)
        questions = [(f"How do I fix error {i}?", f"I tried step {i}. It failed with code {i * 7}.") for i in range(n)]
    return questions[:n]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def timed_pass(hybrid: HybridService, questions: list[tuple[str, str]], version: str) -> tuple[list[float], dict]:
    latencies, sources = [], {}
    for title, body in questions:
        start = time.perf_counter()
        result = await hybrid.predict(PredictRequest(title, body, version=version))
        latencies.append((time.perf_counter() - start) * 1e6)
        sources[result.source] = sources.get(result.source, 0) + 1
    await hybrid.drain()
    return latencies, sources


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=1000)
    parser.add_argument("--store", default=None, help="prediction store URL (default: a temporary SQLite file)")
    args = parser.parse_args()
    questions = load_questions(args.questions)
    with tempfile.TemporaryDirectory() as tmp:
        store_url = args.store or f"sqlite:///{Path(tmp) / 'predictions.db'}"
        service = PredictionService.from_settings(ServeSettings(store_path=str(Path(tmp) / "serve.db"), cache_size=0,
                                                                rate_limit_per_minute=0, max_wait_ms=0.0))
        service.start()
        rows = []
        hybrid = HybridService(service, StoreLookup.open(store_url))
        for version in ("v2", "v3"):
            live, live_sources = await timed_pass(hybrid, questions, version)
            hits, hit_sources = await timed_pass(hybrid, questions, version)
            for name, values, sources in (("live (miss, written back)", live, live_sources),
                                          ("precomputed (hit)", hits, hit_sources)):
                rows.append((version, name, statistics.median(values), percentile(values, 0.99), sources))
        await hybrid.close()
        await service.close()
    print(f"# Hybrid: stored hit vs live, {len(questions)} distinct questions, in-process")
    print(f"command: python {' '.join(sys.argv)}")
    print(f"machine: {platform.machine()}, {platform.processor() or 'cpu'}, python {platform.python_version()}\n")
    print("| version | path | p50 µs | p99 µs | answers by source |")
    print("|---|---|---:|---:|---|")
    for version, name, p50, p99, sources in rows:
        print(f"| {version} | {name} | {p50:,.0f} | {p99:,.0f} | {sources} |")
    for version in ("v2", "v3"):
        live = next(r for r in rows if r[0] == version and r[1].startswith("live"))
        hit = next(r for r in rows if r[0] == version and r[1].startswith("pre"))
        print(f"\n{version}: a hit takes {hit[2] / live[2]:.2f}× the time of a live answer at p50")


if __name__ == "__main__":
    asyncio.run(main())
