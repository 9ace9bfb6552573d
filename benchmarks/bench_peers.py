"""Peers benchmark: `mleditor serve` against the serving frameworks a user would pick instead, same work per request.

Run from the repository root (data: $MLEDITOR_DATA, else ../shared/data); copy the output to BENCHMARKS.md:
    .venv/bin/python benchmarks/bench_peers.py [--peers serve,fastapi,...] [--seconds S] [--connections 1,8,32] [--json]
Every peer validates, featurizes and scores a question with model v2 through mleditor's core (`Predictor`, one
onnxruntime thread), with per-request access logs off: plain FastAPI, LitServe and BentoML (each also with its
batching), Ray Serve (plain and `@serve.batch`) and the book's Flask app (benchmarks/flask_baseline.py). Each
framework lives in a virtualenv of its own that this program creates under --cache (reused; --fresh recreates
it), never in mleditor's dependencies; Ray comes from this venv (mleditor's `ray` extra). Each peer runs as a
subprocess on a free 127.0.0.1 port, one peer at a time; its answers to real questions must carry the score
this process's Predictor gives (within 1e-6) before it is loaded. Load: benchmarks/loadgen.py (or wrk), closed
loop, keep-alive. Reported per peer: server CPU µs per request (utime + stime of its whole process tree), the
best requests/s with p99 ≤ 10 ms, and both against `mleditor serve` measured in the same run.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import resource
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any

from bench_core import load_questions, machine_info, table
from loadgen import LoadGenerator
from serve_report import LATENCY_AIM_MS, counts
from servers import ServerProcess, free_ports, machine_busy_seconds

from mleditor.core.predictor import Predictor
from mleditor.core.records import Question
from mleditor.errors import MLEditorError
from mleditor.serve.settings import ENV_PREFIX

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
PEERS_DIR = BENCH_DIR / "peers"
VERSION = "v2"  # one model call of one row per question: the same work in every peer
CONNECTIONS = (1, 8, 32)
CHECKED_QUESTIONS = 20
SCORE_TOLERANCE = 1e-6
BATCH = "16"  # max batch size of the batching peers (mleditor serve: its shipped 64, 0.5 ms)
CORE_PACKAGES = ("numpy", "onnxruntime", "mmh3")  # what mleditor.core imports, pinned to this venv's versions
# mleditor serve as benchmarked: every request runs the model, nobody is throttled, no access line per request.
SERVE_SETTINGS = {"cache_size": "0", "rate_limit_per_minute": "0", "log_level": "warning"}
QUIET_ENV = {"BENTOML_DO_NOT_TRACK": "True", "RAY_USAGE_STATS_ENABLED": "0", "PYTHONUNBUFFERED": "1"}


@dataclass(frozen=True)
class Peer:
    """One server to compare: its virtualenv and pins, its command ("python"/"bentoml" resolved in that venv)."""

    name: str
    label: str
    env: str | None  # virtualenv name under --cache; None: this venv
    requirements: tuple[str, ...]
    argv: tuple[str, ...]  # "{port}" is replaced
    path: str = "/predict"
    batch_body: bool = False  # POST {"questions": [question]} (BentoML's batchable API) instead of the question
    cwd: Path = REPO_ROOT

    def command(self, python: Path, port: int) -> list[str]:
        program = {"python": str(python), "bentoml": str(python.with_name("bentoml"))}
        return [program.get(a, a).replace("{port}", str(port)) for a in self.argv]

    def body(self, question: Question) -> dict[str, Any]:
        one = {"title": question.title, "body": question.body}
        return {"questions": [one]} if self.batch_body else one


FASTAPI = ("fastapi==0.165.0", "uvicorn[standard]==0.54.0")
LITSERVE = ("litserve==0.2.19",)
BENTOML = ("bentoml==1.4.40",)
PEERS = {p.name: p for p in (
    Peer("serve", "mleditor serve (1 worker, micro-batching)", None, (),
         ("python", "-m", "mleditor", "serve", "--port", "{port}"), path=f"/predict/{VERSION}"),
    Peer("fastapi", "FastAPI + uvicorn, async def", "fastapi", FASTAPI,
         ("python", str(PEERS_DIR / "fastapi_app.py"), "--port", "{port}")),
    Peer("litserve", "LitServe", "litserve", LITSERVE,
         ("python", str(PEERS_DIR / "litserve_app.py"), "--port", "{port}")),
    Peer("litserve-batched", f"LitServe, batching (≤ {BATCH}, 1 ms)", "litserve", LITSERVE,
         ("python", str(PEERS_DIR / "litserve_app.py"), "--port", "{port}", "--batch", BATCH)),
    Peer("bentoml", "BentoML", "bentoml", BENTOML,
         ("bentoml", "serve", "bentoml_app:Plain", "--host", "127.0.0.1", "--port", "{port}"), cwd=PEERS_DIR),
    Peer("bentoml-batched", f"BentoML, batchable API (≤ {BATCH}, 10 ms)", "bentoml", BENTOML,
         ("bentoml", "serve", "bentoml_app:Batched", "--host", "127.0.0.1", "--port", "{port}"),
         batch_body=True, cwd=PEERS_DIR),
    Peer("ray", "Ray Serve, 1 replica", None, (),
         ("python", str(PEERS_DIR / "ray_serve_app.py"), "--port", "{port}")),
    Peer("ray-batched", f"Ray Serve, 1 replica, @serve.batch (≤ {BATCH}, 1 ms)", None, (),
         ("python", str(PEERS_DIR / "ray_serve_app.py"), "--port", "{port}", "--batch", BATCH)),
    Peer("flask", "Flask, book style (threaded Werkzeug)", "flask", ("flask==3.1.3",),
         ("python", str(BENCH_DIR / "flask_baseline.py"), "--port", "{port}", "--quiet"), path=f"/predict/{VERSION}"),
)}
BASELINE = "serve"


@dataclass(frozen=True)
class Cell:
    """One load run of one peer at one number of connections."""

    peer: str
    connections: int
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    ok: int
    errors: int
    cpu_us_per_request: float  # server process tree, utime + stime, per 2xx answer
    server_cpu: float  # cores the server's tree used on average
    other_cpu: float  # cores used by everything but the server and the load generator


class PeerFailed(RuntimeError):
    """A peer that could not be installed, started or checked; the run goes on without it."""


# ---- virtualenvs


def core_pins() -> list[str]:
    return [f"{name}=={package_version(name)}" for name in CORE_PACKAGES]


def ensure_venv(peer: Peer, cache: Path, fresh: bool) -> Path:
    """The peer's interpreter: this one, or its virtualenv's, created with the pins if missing or different."""
    if peer.env is None:
        return Path(sys.executable)
    root, wanted = cache / peer.env, [*peer.requirements, *core_pins()]
    marker, python = root / "bench-peers.json", root / "bin" / "python"
    if not fresh and marker.is_file() and json.loads(marker.read_text()) == wanted and python.exists():
        return python
    shutil.rmtree(root, ignore_errors=True)
    progress(f"  creating {root} with {' '.join(wanted)}…")
    install = [[sys.executable, "-m", "venv", str(root)],
               [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", *wanted]]
    for command in install:
        done = subprocess.run(command, capture_output=True, text=True, timeout=1200)
        if done.returncode != 0:
            raise PeerFailed(f"{shlex.join(command[:2])} … failed: {(done.stderr or done.stdout)[-800:]}")
    marker.write_text(json.dumps(wanted))
    return python


def environment(peer: Peer, store: Path) -> dict[str, str]:
    """This environment minus MLEDITOR_SERVE_* and the venv; mleditor on PYTHONPATH; the serve settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIX) and k != "VIRTUAL_ENV"}
    env |= QUIET_ENV | {"PYTHONPATH": str(REPO_ROOT)}  # peer venvs get mleditor from the checkout, not pip
    if peer.name == BASELINE:
        settings = {"store_path": str(store), **SERVE_SETTINGS}
        env |= {ENV_PREFIX + key.upper(): value for key, value in settings.items()}
    return env


# ---- answers


def post(url: str, body: dict[str, Any], timeout_s: float = 30.0) -> Any:
    request = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout_s) as answer:
        return json.loads(answer.read())


def score_of(answer: Any) -> float:
    """The score in a peer's answer (a batchable API answers a one-item list)."""
    return float((answer[0] if isinstance(answer, list) else answer)["score"])


def answers_once(url: str, body: dict[str, Any]) -> bool:
    try:
        score_of(post(url, body, timeout_s=5))
    except (OSError, ValueError, KeyError, TypeError, IndexError):
        return False
    return True


def check_answers(peer: Peer, url: str, expected: Sequence[tuple[Question, float]]) -> None:
    """Every checked question's score from the peer equals the in-process one within SCORE_TOLERANCE."""
    for question, score in expected:
        got = score_of(post(url, peer.body(question)))
        if abs(got - score) > SCORE_TOLERANCE:
            raise PeerFailed(f"{peer.name} answered score {got} for {question.title[:60]!r}; ours is {score}")


# ---- load


@contextlib.contextmanager
def held(lock: Path | None) -> Iterator[None]:
    """An exclusive flock on `lock` (so other benchmarks never measure at the same time); nothing if None."""
    if lock is None:
        yield
        return
    with lock.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def measure_cell(load: LoadGenerator, server: ServerProcess, peer: Peer, connections: int, seconds: int) -> Cell:
    """One load run, with the CPU of the server's tree, the load generator and everything else meanwhile."""
    client_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    server_before, busy_before, started = server.cpu_seconds(), machine_busy_seconds(), time.perf_counter()
    s = load.run(server.url(peer.path), connections, seconds)
    elapsed = time.perf_counter() - started
    server_after, busy = server.cpu_seconds(), machine_busy_seconds() - busy_before
    client_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    used = sum(cpu - server_before.get(pid, 0.0) for pid, cpu in server_after.items())
    client = sum(getattr(client_after, f) - getattr(client_before, f) for f in ("ru_utime", "ru_stime"))
    return Cell(peer.name, connections, s["ok"] / s["seconds"], s["p50_us"] / 1000, s["p99_us"] / 1000, s["ok"],
                sum(s["errors"].values()), used * 1e6 / max(s["ok"], 1), used / elapsed,
                max(busy - used - client, 0.0) / elapsed)


@dataclass(frozen=True)
class Workload:
    """What every peer gets: the load generator per body shape, the checked answers, the plan."""

    loads: dict[bool, LoadGenerator]  # by Peer.batch_body
    expected: list[tuple[Question, float]]
    connections: tuple[int, ...]
    seconds: int
    workdir: Path
    start_timeout_s: float = 120.0


def run_peer(peer: Peer, python: Path, work: Workload) -> list[Cell]:
    """Start the peer, wait until it answers, check its answers, warm it up, load it; stop it whatever happens."""
    port = free_ports(1)[0]
    server = ServerProcess(peer.name, peer.command(python, port), environment(peer, work.workdir / f"{peer.name}.db"),
                           peer.cwd, work.workdir / f"{peer.name}.log", port)
    try:
        url, first = server.url(peer.path), peer.body(work.expected[0][0])
        server.wait_until(lambda: answers_once(url, first), work.start_timeout_s, "answering")
        check_answers(peer, url, work.expected)
        load = work.loads[peer.batch_body]
        load.run(url, 8, 1)  # warm-up
        cells = []
        for count in work.connections:
            cells.append(measure_cell(load, server, peer, count, work.seconds))
            c = cells[-1]
            progress(f"  {peer.name:<17} {count:>3} conns: {c.requests_per_s:7,.0f} req/s, p99 {c.p99_ms:6.1f} ms, "
                     f"{c.cpu_us_per_request:7,.0f} µs CPU/req, other programs {c.other_cpu:.2f} cores")
        return cells
    except (RuntimeError, OSError, ValueError, KeyError) as error:
        tail = " ".join(server.log_path.read_text(errors="replace")[-600:].split())
        raise PeerFailed(f"{error} (log: …{tail})") from error
    finally:
        server.stop()


def scored_questions(questions: Sequence[Question], predictor: Predictor) -> list[tuple[Question, float]]:
    """The questions our Predictor accepts, with its score (so every peer gets only valid questions)."""
    scored = []
    for question in questions:
        with contextlib.suppress(MLEditorError):
            scored.append((question, predictor.predict(question, VERSION).score))
    return scored


def write_bodies(scored: Sequence[tuple[Question, float]], batch_body: bool, path: Path) -> Path:
    """One JSON body per line, shaped as a peer with `batch_body` takes it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    peer = Peer("", "", None, (), (), batch_body=batch_body)
    path.write_text("".join(json.dumps(peer.body(q)) + "\n" for q, _ in scored))
    return path


# ---- report


def best_within_aim(cells: Sequence[Cell], peer: str) -> Cell | None:
    fitting = [c for c in cells if c.peer == peer and c.p99_ms <= LATENCY_AIM_MS and c.errors == 0]
    return max(fitting, key=lambda c: c.requests_per_s, default=None)


def summary_rows(cells: Sequence[Cell], peers: Sequence[str]) -> list[dict[str, Any]]:
    """Per peer: the best cell within the aim, its CPU per request, and both as ratios to mleditor serve's."""
    base = best_within_aim(cells, BASELINE)
    rows = []
    for name in peers:
        best = best_within_aim(cells, name)
        least_cpu = min((c.cpu_us_per_request for c in cells if c.peer == name), default=None)
        rows.append({"peer": name, "label": PEERS[name].label, "best": best and asdict(best),
                     "least_cpu_us": least_cpu,
                     "rps_vs_serve": best.requests_per_s / base.requests_per_s if best and base else None,
                     "cpu_vs_serve": best.cpu_us_per_request / base.cpu_us_per_request if best and base else None})
    return rows


def render_markdown(report: dict[str, Any]) -> str:
    m, aim = report["machine"], f"p99 ≤ {LATENCY_AIM_MS:g} ms"

    def ratio(value: float | None) -> str:
        return f"{value:.2f}×" if value else "—"

    summary = [[r["label"], f"{r['best']['cpu_us_per_request']:,.0f}" if r["best"] else "—",
                f"{r['best']['requests_per_s']:,.0f}" if r["best"] else "none",
                r["best"]["connections"] if r["best"] else "—", f"{r['best']['p99_ms']:.1f}" if r["best"] else "—",
                ratio(r["rps_vs_serve"]), ratio(r["cpu_vs_serve"])] for r in report["summary"]]
    labels = {r["peer"]: r["label"] for r in report["summary"]}
    detail = [[labels[c["peer"]], c["connections"], c["requests_per_s"], f"{c['p50_ms']:.1f}", f"{c['p99_ms']:.1f}",
               c["cpu_us_per_request"], f"{c['server_cpu']:.2f}", f"{c['other_cpu']:.2f}", c["errors"]]
              for c in report["cells"]]
    lines = [
        f"command: `{report['command']}`  ", f"date: {report['date']}  ",
        (f"machine: {m['cpu']}, {m['cores']} cores ({m['usable_cores']} usable), {m['platform']}; Python "
         f"{m['python']}, onnxruntime {m['onnxruntime']} (1 intra-op thread), numpy {m['numpy']}  "),
        f"frameworks: {report['frameworks']}  ",
        (f"load: {report['loadgen']}; {report['seconds']} s per cell after a 1 s warm-up; one peer at a time; "
         f"model {VERSION}; access logs off everywhere; mleditor serve with cache_size=0, rate_limit_per_minute=0  "),
        (f"data: {report['data']}; every peer's score checked on {CHECKED_QUESTIONS} of them (within "
         f"{SCORE_TOLERANCE:g})"), "",
        *table(["peer", f"server CPU µs/request (at the best {aim})", f"best req/s with {aim}", "conns", "p99 ms",
                "req/s vs mleditor serve", "CPU/request vs mleditor serve"], summary),
        *table(["peer", "conns", "req/s", "p50 ms", "p99 ms", "server CPU µs/req", "CPU server (cores)",
                "CPU other (cores)", "errors"], detail),
        ("Server CPU is utime + stime of the server's whole process tree (its session and every descendant, "
         "Ray's raylet, GCS and workers included) over the 2xx answers of the cell; \"other\" is everything but "
         "the server and the load generator."),
    ]
    if report["failed"]:
        lines += ["", "Not measured:", *(f"- {name}: {why}" for name, why in report["failed"].items())]
    return "\n".join(lines).rstrip()


def frameworks(peers: Sequence[str]) -> str:
    pins = dict.fromkeys(req for name in peers for req in PEERS[name].requirements)
    ray = f"ray[serve]=={package_version('ray')} (this venv)" if {"ray", "ray-batched"} & set(peers) else ""
    return ", ".join([*pins, *([ray] if ray else [])]) or "—"


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--peers", default=",".join(PEERS), metavar="A,B",
                        help=f"peers to run, in this order after serve (default all: {','.join(PEERS)})")
    parser.add_argument("--seconds", type=int, default=3, metavar="S", help="seconds per cell (default 3)")
    parser.add_argument("--connections", metavar="N,N", help="connections per cell (default 1,8,32)")
    parser.add_argument("--questions", type=int, default=1000, metavar="N", help="questions to send (default 1000)")
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "mleditor-bench-peers",
                        help="where the peers' virtualenvs live (default ~/.cache/mleditor-bench-peers)")
    parser.add_argument("--fresh", action="store_true", help="recreate the peers' virtualenvs")
    parser.add_argument("--loadgen", choices=("auto", "wrk", "python"), default="auto",
                        help="wrk (apt-get install wrk), benchmarks/loadgen.py, or auto (wrk if installed)")
    parser.add_argument("--lock", type=Path, metavar="FILE",
                        help="hold an flock on FILE while each peer runs (so other benchmarks wait)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON instead of Markdown")
    args = parser.parse_args(argv)
    args.peers = [p.strip() for p in args.peers.split(",") if p.strip()]
    unknown = [p for p in args.peers if p not in PEERS]
    if unknown:
        parser.error(f"unknown peer {unknown[0]!r}; use some of {', '.join(PEERS)}")
    if BASELINE not in args.peers:
        args.peers.insert(0, BASELINE)  # every ratio is to mleditor serve, measured in the same run
    try:
        args.connections = counts(args.connections) or CONNECTIONS
    except ValueError:
        parser.error("--connections takes whole numbers separated by commas, e.g. 1,8,32")
    if min(args.connections) < 1 or args.seconds < 1 or args.questions < CHECKED_QUESTIONS:
        parser.error(f"--connections and --seconds must be >= 1, --questions >= {CHECKED_QUESTIONS}")
    if args.loadgen == "auto":
        args.loadgen = "wrk" if shutil.which("wrk") else "python"
    return args


def measure_all(args: argparse.Namespace, scored: list[tuple[Question, float]]) -> tuple[list[Cell], dict[str, str],
                                                                                           str]:
    """Each peer in turn: its venv, then its run; the cells, why peers failed, and the load generator used."""
    cells: list[Cell] = []
    failed: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="bench_peers-") as tmp:
        workdir = Path(tmp)
        loads = {shape: LoadGenerator(args.loadgen, write_bodies(scored, shape, workdir / f"body-{shape}" / "b.jsonl"))
                 for shape in (False, True)}
        work = Workload(loads, scored[:CHECKED_QUESTIONS], args.connections, args.seconds, workdir)
        for name in args.peers:
            progress(f"{name}…")
            try:
                python = ensure_venv(PEERS[name], args.cache, args.fresh)
                with held(args.lock):
                    cells += run_peer(PEERS[name], python, work)
            except (PeerFailed, subprocess.TimeoutExpired) as error:
                failed[name] = " ".join(str(error).split())[:600]
                progress(f"  FAILED: {failed[name]}")
        return cells, failed, loads[False].describe()


def main(argv: Sequence[str] | None = None) -> None:
    """Check and load every chosen peer, mleditor serve first; print the summary and every cell."""
    args = parse_args(argv)
    questions, source = load_questions(args.questions)
    progress(source)
    scored = scored_questions(questions, Predictor.load(threads=1))
    cells, failed, loadgen = measure_all(args, scored)
    report = {"command": shlex.join(sys.orig_argv), "date": time.strftime("%Y-%m-%d"),
              "data": f"{source} ({len(scored)} valid)", "machine": machine_info(),
              "frameworks": frameworks(args.peers),
              "loadgen": loadgen, "seconds": args.seconds, "cells": [asdict(c) for c in cells],
              "summary": summary_rows(cells, [p for p in args.peers if p not in failed]), "failed": failed}
    print(json.dumps(report, indent=2) if args.json else render_markdown(report))


if __name__ == "__main__":
    main()
