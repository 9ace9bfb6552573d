"""Batch benchmark: featurize + score + store throughput, against one-by-one scoring in the same run.

Run from the repository root (data: $MLEDITOR_DATA, else ../shared/data), copy the tables to BENCHMARKS.md:
    .venv/bin/python benchmarks/bench_batch.py [--min-rows 20000] [--workers 1,2] [--chunk-size 1000] [--json]

It writes, in a temporary folder, one Posts.xml holding every real question repeated until there
are at least --min-rows (each copy gets new ids and a numbered title, so no copy is "unchanged"),
and the same rows as Parquet (bodies already converted, as a warehouse export would hold them).
Every measurement runs in a fresh process, so no run profits from another's warm caches, and
reports wall time and CPU time (this process and its workers): on a shared machine CPU ms per
question is the figure that does not depend on what else is running.

Tables: (1) throughput: the in-process `Pipeline.run` one question at a time (v3, no store) as the
baseline, then `mleditor batch run` (v3, SQLite) from Parquet and from Posts.xml with 1 and 2
processes, and incremental re-runs where nothing changed; (2) peak memory (RSS) for a dump of
1x and 4x the size; (3) where one process spends its time per question.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import platform
import resource
import shlex
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any
from xml.sax.saxutils import quoteattr

from mleditor import config

ROOT = Path(__file__).resolve().parent.parent
SITE_STRIDE = 10_000_000  # all sites go into one file: keep their post ids apart
COPY_STRIDE = 1_000_000_000


def real_rows() -> list[dict[str, str]]:
    """The raw attributes of every question row of every dump, with ids made unique across sites."""
    rows = []
    for site, path in enumerate(sorted(glob.glob(str(config.data_dir() / "stackexchange" / "*" / "Posts.xml")))):
        for _, element in ET.iterparse(path):
            if element.tag == "row" and element.get("PostTypeId") == "1":
                rows.append({**element.attrib, "Id": str(site * SITE_STRIDE + int(element.get("Id", "0")))})
            element.clear()
    if not rows:
        sys.exit(f"no dumps under {config.data_dir() / 'stackexchange'}; set MLEDITOR_DATA")
    return rows


def write_dump(rows: list[dict[str, str]], copies: int, folder: Path) -> int:
    """Posts.xml with `copies` copies of the rows: new ids, numbered titles. Returns the number of questions."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "Posts.xml", "w", encoding="utf-8") as out:
        out.write('<?xml version="1.0" encoding="utf-8"?>\n<posts>\n')
        for copy in range(copies):
            for row in rows:
                attrs = {**row, "Id": str(int(row["Id"]) + copy * COPY_STRIDE)}
                if copy:
                    attrs["Title"] = f"{row.get('Title', '')} ({copy})"
                out.write("  <row " + " ".join(f"{k}={quoteattr(v)}" for k, v in attrs.items()) + " />\n")
        out.write("</posts>\n")
    return copies * len(rows)


def write_parquet(dump: Path, path: Path) -> int:
    """The dump's questions with Markdown bodies, as Parquet (site, question_id, title, body)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from mleditor.core.ingest import iter_dump_questions

    records = [{"site": q.site, "question_id": q.id, "title": q.title, "body": q.body}
               for q in iter_dump_questions(dump)]
    pq.write_table(pa.Table.from_pylist(records), path)
    return len(records)


# Probes: each measurement runs in its own process (python bench_batch.py --probe KIND ...).

def probe_batch(args: argparse.Namespace) -> dict[str, Any]:
    from mleditor.batch.job import JobSpec, run_batch_job
    from mleditor.stores.predictions.factory import open_store

    spec = JobSpec(inputs=(args.input,), workers=args.workers, chunk_size=args.chunk_size, resume=False)
    watcher = WorkerMemory()
    started, cpu = time.perf_counter(), _cpu()
    with open_store(args.store) as store:
        job = run_batch_job(spec, store).job
    return {"rows": job.rows_read, "scored": job.rows_scored, "skipped": job.rows_skipped,
            "failed": job.rows_failed, "wall_s": time.perf_counter() - started, "cpu_s": _cpu() - cpu,
            "rss_main_mb": _peak_rss_mb(os.getpid()), "rss_worker_mb": watcher.stop()}


def probe_one_by_one(args: argparse.Namespace) -> dict[str, Any]:
    from mleditor.core.ingest import iter_dump_questions
    from mleditor.core.pipeline import Pipeline, PredictRequest
    from mleditor.core.predictor import Predictor

    questions = [q.as_question() for q in iter_dump_questions(Path(args.input))][: args.limit or None]
    predictor = Predictor.load(None)
    pipeline = Pipeline(predictor.model, predictor.scorer.score)
    started, cpu = time.perf_counter(), _cpu()
    for question in questions:
        pipeline.run(PredictRequest(question.title, question.body, version="v3"))
    return {"rows": len(questions), "scored": len(questions), "wall_s": time.perf_counter() - started,
            "cpu_s": _cpu() - cpu, "rss_main_mb": _peak_rss_mb(os.getpid()), "rss_worker_mb": 0.0}


def probe_profile(args: argparse.Namespace) -> dict[str, Any]:
    """CPU µs per question of each stage, in one process, on the first --limit rows of the dump."""
    import itertools

    from mleditor.batch.inputs import iter_rows, parse_inputs
    from mleditor.batch.scoring import ChunkScorer, prepare_row
    from mleditor.core.features import featurize_normalized
    from mleditor.core.pipeline import model_input, postprocess
    from mleditor.stores.predictions.factory import open_store

    scorer = ChunkScorer.load(None, "v3")
    stages: dict[str, float] = {}

    def timed(name: str, work):
        start = time.process_time()
        value = work()
        stages[name] = stages.get(name, 0.0) + time.process_time() - start
        return value

    rows = timed("read dump (XML + HTML to Markdown)",
                 lambda: list(itertools.islice(iter_rows(parse_inputs([args.input])), args.limit)))
    prepared = timed("validate + content hash", lambda: [prepare_row(r, scorer.limits) for r in rows])
    features = timed("featurize (FEATURES.md, the selected implementation)",
                     lambda: [featurize_normalized(t, b) for t, b, _ in prepared])
    inputs = timed("v3 counterfactual rows (model_input)",
                   lambda: [model_input(f, "v3", scorer.model.typical_values) for f in features])
    scores = timed("model: one ONNX call per width band", lambda: scorer.pipeline.runner.score_inputs(inputs))
    timed("postprocess (range check, recommendations)",
          lambda: [postprocess(i, s, scorer.model) for i, s in zip(inputs, scores)])
    result = scorer(rows)  # the same rows end to end, for the records to store
    with open_store(args.store) as store:
        timed("store: upsert into SQLite (one transaction)", lambda: store.upsert(result.predictions))
    return {"rows": len(rows), "stages_us": {k: v / len(rows) * 1e6 for k, v in stages.items()}}


def _cpu() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _peak_rss_mb(pid: int) -> float:
    """Peak RSS (VmHWM) of a process. Not ru_maxrss: Linux carries that over fork and exec from the parent."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0.0
    return next((int(line.split()[1]) / 1024 for line in status.splitlines() if line.startswith("VmHWM:")), 0.0)


class WorkerMemory:
    """Samples the peak RSS of this process's children (the scoring workers) while a job runs."""

    def __init__(self) -> None:
        import threading

        self.peak = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        me = str(os.getpid())
        while not self._stop.wait(0.2):
            for stat in Path("/proc").glob("[0-9]*/stat"):
                try:
                    if stat.read_text().rsplit(")", 1)[1].split()[1] == me:
                        self.peak = max(self.peak, _peak_rss_mb(int(stat.parent.name)))
                except (OSError, IndexError):
                    continue

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        return self.peak


PROBES = {"batch": probe_batch, "one-by-one": probe_one_by_one, "profile": probe_profile}


def run_probe(kind: str, **options: Any) -> dict[str, Any]:
    argv = [sys.executable, __file__, "--probe", kind]
    for key, value in options.items():
        argv += [f"--{key.replace('_', '-')}", str(value)]
    result = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT)
    if result.returncode != 0:
        sys.exit(f"probe {kind} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.splitlines()[-1])


def measure(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    rows = real_rows()
    copies = max(1, -(-args.min_rows // len(rows)))
    dump = work / "bench"
    n_rows = write_dump(rows, copies, dump)
    parquet = work / "bench.parquet"
    write_parquet(dump, parquet)
    print(f"# {n_rows:,} questions: {len(rows):,} real ones x {copies}", file=sys.stderr)

    results: list[dict[str, Any]] = []

    def record(name: str, workers: int, data: dict[str, Any]) -> None:
        results.append({"path": name, "workers": workers, **data})
        print(f"# {name} ({workers}): {data['rows'] / data['wall_s']:,.0f} q/s", file=sys.stderr)

    record("one by one: Pipeline.run, in memory, no store", 1,
           run_probe("one-by-one", input=dump, limit=args.baseline_rows))
    for workers in args.workers:
        record("batch run: Parquet -> SQLite", workers,
               run_probe("batch", input=parquet, store=f"sqlite:///{work / f'pq{workers}.db'}", workers=workers,
                         chunk_size=args.chunk_size))
    for workers in args.workers:
        record("batch run: Posts.xml -> SQLite", workers,
               run_probe("batch", input=dump, store=f"sqlite:///{work / f'xml{workers}.db'}", workers=workers,
                         chunk_size=args.chunk_size))
    top = max(args.workers)
    for name, source, db in (("Parquet", parquet, "pq"), ("Posts.xml", dump, "xml")):
        record(f"incremental re-run, nothing changed: {name}", top,
               run_probe("batch", input=source, store=f"sqlite:///{work / f'{db}{top}.db'}", workers=top,
                         chunk_size=args.chunk_size))

    memory = []
    for factor in (1, 4):
        folder = work / f"memory{factor}"
        count = write_dump(rows, factor, folder)
        data = run_probe("batch", input=folder, store=f"sqlite:///{work / f'mem{factor}.db'}", workers=top,
                         chunk_size=args.chunk_size)
        size_mb = (folder / "Posts.xml").stat().st_size / 2**20
        memory.append({"factor": factor, "rows": count, "size_mb": size_mb, **data})
    profile = run_probe("profile", input=dump, store=f"sqlite:///{work / 'profile.db'}", limit=args.profile_rows)
    return {"rows": n_rows, "copies": copies, "real_questions": len(rows), "throughput": results,
            "memory": memory, "profile": profile}


def print_tables(report: dict[str, Any]) -> None:
    baseline = report["throughput"][0]
    base_qps = baseline["rows"] / baseline["wall_s"]
    base_cpu = baseline["cpu_s"] / baseline["rows"]
    print(f"Rows: {report['rows']:,} ({report['real_questions']:,} real questions x {report['copies']}); "
          "model se15-v1 v3; chunk size as given; SQLite store.\n")
    print("| path | processes | rows | wall s | questions/s | CPU ms/question | x one-by-one (q/s) | x cheaper (CPU) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for row in report["throughput"]:
        qps, cpu = row["rows"] / row["wall_s"], row["cpu_s"] / row["rows"]
        print(f"| {row['path']} | {row['workers']} | {row['rows']:,} | {row['wall_s']:.1f} | {qps:,.0f} | "
              f"{cpu * 1e3:.3f} | {qps / base_qps:.2f} | {base_cpu / cpu:.2f} |")
    print("\n| Posts.xml | questions | file MB | peak RSS, job process MB | peak RSS, largest worker MB |")
    print("|---|---:|---:|---:|---:|")
    for row in report["memory"]:
        print(f"| {row['factor']}x | {row['rows']:,} | {row['size_mb']:.0f} | {row['rss_main_mb']:.0f} | "
              f"{row['rss_worker_mb']:.0f} |")
    stages = report["profile"]["stages_us"]
    total = sum(stages.values())
    print(f"\nWhere one process spends its CPU time ({report['profile']['rows']:,} questions, v3):\n")
    print("| stage | µs/question | share |")
    print("|---|---:|---:|")
    for name, micros in stages.items():
        print(f"| {name} | {micros:.0f} | {micros / total:.0%} |")
    print(f"| total | {total:.0f} | 100% |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--min-rows", type=int, default=20_000, help="repeat the real questions to at least this many")
    parser.add_argument("--workers", default="1,2", help="process counts to measure, comma-separated")
    parser.add_argument("--chunk-size", type=int, default=1000)
    parser.add_argument("--baseline-rows", type=int, default=0, help="one-by-one rows (0: all)")
    parser.add_argument("--profile-rows", type=int, default=5000)
    parser.add_argument("--json", action="store_true", help="print the raw figures as JSON")
    parser.add_argument("--probe", choices=sorted(PROBES), help=argparse.SUPPRESS)
    parser.add_argument("--input", help=argparse.SUPPRESS)
    parser.add_argument("--store", help=argparse.SUPPRESS)
    parser.add_argument("--limit", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.probe:
        args.workers = int(args.workers.split(",")[0])
        print(json.dumps(PROBES[args.probe](args)))
        return
    args.workers = [int(w) for w in args.workers.split(",")]
    with tempfile.TemporaryDirectory(prefix="mleditor-bench-batch-") as folder:
        report = measure(args, Path(folder))
    report["machine"] = f"{platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
    report["command"] = shlex.join([Path(sys.executable).name, *sys.argv])
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(f"`{report['command']}` on {report['machine']}\n")
        print_tables(report)


if __name__ == "__main__":
    main()
