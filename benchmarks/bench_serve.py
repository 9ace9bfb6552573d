"""Streaming API benchmark: requests/s and p50/p99 latency of `mleditor serve` under load, against a Flask baseline.

Run from the repository root (data: $MLEDITOR_DATA, else ../shared/data); copy the output to BENCHMARKS.md:
    .venv/bin/python benchmarks/bench_serve.py [--quick] [--duration S] [--concurrency 1,4,16] [--loadgen wrk|python]
Each server runs as its own process on a free loopback port, and the load comes from another process (wrk
when it is on PATH, else benchmarks/loadgen.py): closed-loop keep-alive connections, each POSTing the next
real question as soon as its previous answer arrived. The baseline, measured in the same run, is the book's
app (benchmarks/flask_baseline.py): Flask's threaded server, one synchronous predict per request.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import resource
import shlex
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from functools import partial
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any

from bench_core import latency, load_questions, machine_info
from loadgen import LoadGenerator
from serve_report import LATENCY_AIM_MS, counts, render_markdown
from servers import ServerProcess, free_ports, machine_busy_seconds

from mleditor.core.predictor import Predictor
from mleditor.core.records import Question
from mleditor.serve.settings import ENV_PREFIX, ServeSettings

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
VERSIONS = ("v2", "v3")
CONCURRENCY = (1, 4, 8, 16, 64)
# The server as benchmarked: every request runs the model (no cache) and no caller is throttled.
BENCH_SETTINGS = {"cache_size": "0", "rate_limit_per_minute": "0"}
# Micro-batching settings tried on the headline cell (2 workers, v3: the most rows per request); the first is the
# shipped default.
VARIANT_VERSION = "v3"
VARIANT_CONNECTIONS = (1, 8)  # one lone client (what waiting for a batch costs), and about the throughput knee
VARIANTS: tuple[dict[str, str], ...] = (
    {}, {"max_wait_ms": "0"}, {"max_wait_ms": "0.5", "max_batch_size": "16"},
    {"max_wait_ms": "0.5", "max_batch_size": "64"}, {"max_wait_ms": "2", "max_batch_size": "16"},
    {"max_wait_ms": "2", "max_batch_size": "64"}, {"log_level": "warning"},
)


@dataclass(frozen=True)
class ServerSpec:
    """One server to benchmark: the Flask baseline, or `mleditor serve` with some workers and settings."""

    name: str
    kind: str  # "flask" or "serve"
    workers: int = 1
    settings: dict[str, str] = field(default_factory=dict)  # MLEDITOR_SERVE_* overrides on top of BENCH_SETTINGS

    def command(self, port: int) -> list[str]:
        if self.kind == "flask":
            return [sys.executable, str(BENCH_DIR / "flask_baseline.py"), "--port", str(port)]
        return [sys.executable, "-m", "mleditor", "serve", "--port", str(port), "--workers", str(self.workers)]

    def environment(self, store: Path) -> dict[str, str]:
        """This process's environment without inherited MLEDITOR_SERVE_*, plus the benchmark's settings."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIX)}
        settings = {"store_path": str(store), **BENCH_SETTINGS, **self.settings}
        return env | {ENV_PREFIX + key.upper(): value for key, value in settings.items()}


@dataclass(frozen=True)
class Cell:
    """One load run: a server, a model version, a number of connections, and what came back."""

    server: str
    version: str
    connections: int
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    ok: int
    errors: int
    server_cpu: float  # cores the server's processes used on average during the run
    process_cpu: tuple[float, ...]  # the same per server process, busiest first (shows how work spreads over workers)
    client_cpu: float  # cores the load generator used
    other_cpu: float  # cores used by everything else on the machine (other tests, the OS)
    attempts: int = 1  # runs made: a cell is measured again when other programs were busy during it


class RunningServer(ServerProcess):
    """A server of a spec, as a `ServerProcess` on `port` logging into `workdir`."""

    def __init__(self, spec: ServerSpec, port: int, workdir: Path) -> None:
        self.spec = spec
        super().__init__(spec.name, spec.command(port), spec.environment(workdir / f"store-{port}.db"), REPO_ROOT,
                         workdir / f"server-{port}.log", port)

    def wait_ready(self, timeout_s: float = 60.0) -> None:
        """Until the health check answers 200 and (with info logs) every uvicorn worker has started."""
        check = "/healthz" if self.spec.kind == "flask" else "/readyz"
        started = time.monotonic()
        self.wait_until(lambda: self.answers(check), timeout_s)
        if self.spec.kind == "serve" and self.spec.settings.get("log_level", "info") in ("info", "debug"):
            deadline = started + timeout_s
            while self.log_path.read_bytes().count(b"Application startup complete") < self.spec.workers:
                if time.monotonic() > deadline:
                    break
                time.sleep(0.1)


@contextlib.contextmanager
def serving(specs: Sequence[ServerSpec], workdir: Path) -> Iterator[list[RunningServer]]:
    """Start every server at once (so their cells can be interleaved), wait until all are ready, stop them after."""
    servers: list[RunningServer] = []
    try:
        servers.extend(RunningServer(spec, port, workdir) for spec, port in zip(specs, free_ports(len(specs))))
        for server in servers:
            server.wait_ready()
        yield servers
    finally:
        for server in servers:
            server.stop()


def measure_cell(load: LoadGenerator, server: RunningServer, version: str, connections: int, seconds: int) -> Cell:
    """One timed load run, with the CPU the server, the load generator and everything else used meanwhile."""
    client_before = resource.getrusage(resource.RUSAGE_CHILDREN)  # the load generator is our only child to end
    server_before, busy_before, started = server.cpu_seconds(), machine_busy_seconds(), time.perf_counter()
    s = load.run(server.url(f"/predict/{version}"), connections, seconds)
    elapsed = time.perf_counter() - started
    server_after, busy = server.cpu_seconds(), machine_busy_seconds() - busy_before
    client_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    per_process = sorted((cpu - server_before.get(pid, 0.0) for pid, cpu in server_after.items()), reverse=True)
    server_cpu = sum(per_process)
    client_cpu = sum(getattr(client_after, f) - getattr(client_before, f) for f in ("ru_utime", "ru_stime"))
    return Cell(server.spec.name, version, connections, s["ok"] / s["seconds"], s["p50_us"] / 1000,
                s["p99_us"] / 1000, s["ok"], sum(s["errors"].values()), server_cpu / elapsed,
                tuple(cpu / elapsed for cpu in per_process if cpu / elapsed >= 0.02), client_cpu / elapsed,
                max(busy - server_cpu - client_cpu, 0.0) / elapsed)


def write_bodies(questions: Sequence[Question], path: Path) -> None:
    """One JSON request body per line (ASCII-escaped, so every body is exactly one line)."""
    path.write_text("".join(json.dumps({"title": q.title, "body": q.body}) + "\n" for q in questions))


def in_process_floor(questions: Sequence[Question], calls: int) -> list[dict[str, Any]]:
    """Predictor.predict per version in this process, no HTTP: the most one core could serve."""
    predictor = Predictor.load(threads=1)
    rows = []
    for version in VERSIONS:
        lat = latency(f"predict(q, {version!r})", partial(predictor.predict, version=version), questions, calls)
        rows.append({"version": version, "p50_us": lat.p50_us, "p99_us": lat.p99_us, "mean_us": lat.mean_us,
                     "per_core_per_s": 1e6 / lat.mean_us})
    return rows


@dataclass(frozen=True)
class Plan:
    """How each cell is measured: its length, the warm-up, and when a busy machine calls for another try."""

    seconds: int
    warmup_s: int = 1
    max_other_cpu: float = 0.3  # cores other programs may use during a cell before it is measured again
    retries: int = 1


def measure(load: LoadGenerator, specs: Sequence[ServerSpec], workdir: Path, connections: Sequence[int],
            plan: Plan, versions: Sequence[str] = VERSIONS) -> list[Cell]:
    """Every server, version and number of connections, the servers taking turns at each step, so that a
    disturbance from other programs hits them alike; each server gets a warm-up run per version first."""
    cells = []
    with serving(specs, workdir) as servers:
        for version in versions:
            for server in servers:
                load.run(server.url(f"/predict/{version}"), 8, plan.warmup_s)
            for count in connections:
                for server in servers:
                    cells.append(quietest_run(load, server, version, count, plan))
                    c = cells[-1]
                    progress(f"  {c.server:<44} {version} {count:>3} conns: {c.requests_per_s:7,.0f} req/s, "
                             f"p99 {c.p99_ms:6.1f} ms, other programs {c.other_cpu:.2f} cores")
    return cells


def quietest_run(load: LoadGenerator, server: RunningServer, version: str, connections: int, plan: Plan) -> Cell:
    """Run the cell; while other programs used more than plan.max_other_cpu, run it again (plan.retries times
    at most), and keep the run they disturbed least."""
    runs = [measure_cell(load, server, version, connections, plan.seconds)]
    while runs[-1].other_cpu > plan.max_other_cpu and len(runs) <= plan.retries:
        runs.append(measure_cell(load, server, version, connections, plan.seconds))
    return dataclasses.replace(min(runs, key=lambda c: c.other_cpu), attempts=len(runs))


def variant_name(settings: dict[str, str]) -> str:
    defaults = ServeSettings()
    if not settings:
        return f"shipped: max_wait_ms={defaults.max_wait_ms:g}, max_batch_size={defaults.max_batch_size}"
    return ", ".join(f"{k}={v}" for k, v in settings.items())


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def best_within_aim(cells: Sequence[Cell], server: str, version: str) -> Cell | None:
    """The highest-throughput cell of this server and version whose p99 stays within LATENCY_AIM_MS."""
    fitting = [c for c in cells if c.server == server and c.version == version and c.p99_ms <= LATENCY_AIM_MS]
    return max(fitting, key=lambda c: c.requests_per_s, default=None)


def aim_rows(cells: Sequence[Cell], baseline: str) -> list[dict[str, Any]]:
    """Per server and version: the best cell within the latency aim, its ratio to the baseline's, and the peak."""
    rows = []
    for server in dict.fromkeys(c.server for c in cells):
        for version in VERSIONS:
            best, base = best_within_aim(cells, server, version), best_within_aim(cells, baseline, version)
            peak = max((c for c in cells if c.server == server and c.version == version),
                       key=lambda c: c.requests_per_s)
            rows.append({"server": server, "version": version, "best": best and asdict(best),
                         "vs_baseline": best.requests_per_s / base.requests_per_s if best and base else None,
                         "peak": asdict(peak)})
    return rows


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: 2 s cells, 1 and 16 connections, "
                                                             "no batching variants (~1 min)")
    parser.add_argument("--duration", type=int, metavar="S", help="seconds per cell (default 5; --quick 2)")
    parser.add_argument("--concurrency", metavar="N,N", help="connections per cell (default 1,4,8,16,64)")
    parser.add_argument("--variant-connections", metavar="N,N",
                        help="connections for the batching-settings table (default 1,8)")
    parser.add_argument("--no-variants", action="store_true", help="skip the batching-settings table")
    parser.add_argument("--loadgen", choices=("auto", "wrk", "python"), default="auto",
                        help="load generator: wrk (apt-get install wrk), benchmarks/loadgen.py, or auto (wrk if "
                             "installed)")
    parser.add_argument("--retries", type=int, default=1, metavar="R",
                        help="measure a cell again, up to R times, while other programs use more than "
                             "--max-other-cpu cores; the least disturbed run is kept (default 1)")
    parser.add_argument("--max-other-cpu", type=float, default=0.3, metavar="CORES",
                        help="CPU other programs may use during a cell before it is measured again (default 0.3)")
    parser.add_argument("--questions", type=int, metavar="N", help="use at most N questions (default: all)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON instead of Markdown")
    args = parser.parse_args(argv)
    try:
        args.connections = counts(args.concurrency) or ((1, 16) if args.quick else CONCURRENCY)
        args.variant_connections = counts(args.variant_connections) or VARIANT_CONNECTIONS
    except ValueError:
        parser.error("--concurrency and --variant-connections take whole numbers separated by commas, e.g. 1,4,16")
    args.duration = args.duration or (2 if args.quick else 5)
    if min(args.connections + args.variant_connections) < 1 or args.duration < 1:
        parser.error("--concurrency, --duration and --variant-connections must be >= 1")
    if args.retries < 0 or args.max_other_cpu < 0:
        parser.error("--retries and --max-other-cpu must be >= 0")
    if args.loadgen == "auto":
        args.loadgen = "wrk" if shutil.which("wrk") else "python"
    elif args.loadgen == "wrk" and not shutil.which("wrk"):
        parser.error("wrk is not on PATH: install it (apt-get install wrk) or use --loadgen python")
    return args


BASELINE = ServerSpec("Flask baseline (1 process, threads)", "flask")
SERVERS = (BASELINE, ServerSpec("mleditor serve, 1 worker", "serve", 1),
           ServerSpec("mleditor serve, 2 workers", "serve", 2))


def measure_all(args: argparse.Namespace, questions: Sequence[Question], plan: Plan) -> dict[str, Any]:
    """Every server at every number of connections, then the batching settings on the headline cell."""
    with tempfile.TemporaryDirectory(prefix="bench_serve-") as tmp:
        workdir = Path(tmp)
        write_bodies(questions, workdir / "bodies.jsonl")
        load = LoadGenerator(args.loadgen, workdir / "bodies.jsonl")
        cells = measure(load, SERVERS, workdir, args.connections, plan)
        variants = []
        if not (args.quick or args.no_variants):
            specs = [ServerSpec(variant_name(settings), "serve", 2, settings) for settings in VARIANTS]
            variants = measure(load, specs, workdir, args.variant_connections, plan, [VARIANT_VERSION])
        return {"loadgen": load.describe(), "baseline": BASELINE.name, "cells": [asdict(c) for c in cells],
                "aim": aim_rows(cells, BASELINE.name), "variants": [asdict(c) for c in variants],
                "shipped": variant_name({}), "variant_server": SERVERS[-1].name}


def main(argv: Sequence[str] | None = None) -> None:
    """Measure the Flask baseline and mleditor serve (1 and 2 workers), then the batching settings; print the report."""
    args = parse_args(argv)
    questions, source = load_questions(args.questions)
    progress(f"{source}\nin-process floor…")
    floor = in_process_floor(questions, calls=1000 if args.quick else 2000)
    plan = Plan(args.duration, max_other_cpu=args.max_other_cpu, retries=args.retries)
    measured = measure_all(args, questions, plan)
    packages = ", ".join(f"{name} {package_version(name)}"
                         for name in ("fastapi", "uvicorn", "uvloop", "httptools", "flask", "werkzeug"))
    report = {"command": shlex.join(sys.orig_argv), "date": time.strftime("%Y-%m-%d"), "data": source,
              "machine": machine_info(), "packages": packages, "plan": asdict(plan),
              "serve_defaults": asdict(ServeSettings()), "floor": floor, **measured}
    print(json.dumps(report, indent=2) if args.json else render_markdown(report))

if __name__ == "__main__":
    main()
