"""Soak benchmark: a steady closed-loop load on `mleditor serve --workers 2` for minutes; does memory level off?

    .venv/bin/python benchmarks/bench_soak.py [--minutes 10] [--fraction 0.8] [--version v3] [--json]

First a short probe finds the peak throughput (64 connections, cache off, no rate limit) and the
smallest number of closed-loop connections that reaches `--fraction` of it. Then that load runs for
`--minutes`, every request a different real question, while the resident memory (VmRSS) of each
server process is sampled every 10 s. The baseline is the same run's first minute: memory "levels
off" when every worker grows by at most `--tolerance-mb` over the second half of the run.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from bench_core import load_questions, machine_info
from bench_serve import RunningServer, ServerSpec, write_bodies
from loadgen import LoadGenerator
from servers import free_ports, session_cpu_ticks

SAMPLE_EVERY_S = 10.0
SEGMENT_S = 30  # one load run per segment, back to back: throughput per segment, and no run longer than a minute


def is_worker(pid: int) -> bool:
    """Whether the process is one of uvicorn's worker processes (started by multiprocessing's spawn)."""
    try:
        return b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def rss_mb(pid: int) -> float:
    """Resident memory of one process in MB (0 when it has gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


class RssSampler(threading.Thread):
    """Samples the RSS of every process in the server's session until stopped: [(seconds, {pid: MB})]."""

    def __init__(self, session: int) -> None:
        super().__init__(daemon=True)
        self.session = session
        self.samples: list[tuple[float, dict[int, float]]] = []
        self._done = threading.Event()
        self._t0 = time.monotonic()

    def run(self) -> None:
        while not self._done.is_set():
            pids = [pid for pid, _ in session_cpu_ticks(self.session) if is_worker(pid)]
            self.samples.append((time.monotonic() - self._t0, {pid: rss_mb(pid) for pid in pids}))
            self._done.wait(SAMPLE_EVERY_S)

    def stop(self) -> None:
        self._done.set()
        self.join()


def probe(load: LoadGenerator, url: str, fraction: float) -> tuple[float, int, float]:
    """(peak requests/s, the connections whose throughput is closest to `fraction` of it, their requests/s)."""
    load.run(url, 8, 3)  # warm-up: first connections, first batches
    peak = load.run(url, 64, 10)
    peak_rate = peak["ok"] / peak["seconds"]
    rates = {}
    for connections in (1, 2, 3, 4, 6, 8, 16):
        run = load.run(url, connections, 5)
        rates[connections] = run["ok"] / run["seconds"]
    connections = min(rates, key=lambda c: abs(rates[c] - fraction * peak_rate))
    return peak_rate, connections, rates[connections]


def soak(args: argparse.Namespace) -> dict[str, Any]:
    questions, _ = load_questions(None)
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        bodies = workdir / "bodies.jsonl"
        write_bodies(questions, bodies)
        load = LoadGenerator("python", bodies)
        spec = ServerSpec("mleditor serve, 2 workers", "serve", workers=2, settings={"log_level": "warning"})
        server = RunningServer(spec, free_ports(1)[0], workdir)
        try:
            server.wait_ready()
            idle = {pid: rss_mb(pid) for pid, _ in session_cpu_ticks(server.process.pid) if is_worker(pid)}
            url = server.url(f"/predict/{args.version}")
            peak_rate, connections, target_rate = probe(load, url, args.fraction)
            sampler = RssSampler(server.process.pid)
            sampler.start()
            segments = []
            deadline = time.monotonic() + args.minutes * 60
            while time.monotonic() < deadline:
                seconds = int(min(SEGMENT_S, max(1.0, deadline - time.monotonic())))
                run = load.run(url, connections, seconds)
                segments.append({"ok": run["ok"], "seconds": run["seconds"], "errors": sum(run["errors"].values())})
            sampler.stop()
        finally:
            server.stop()
    return report(args, questions, peak_rate, connections, target_rate, idle, sampler.samples, segments)


def report(args: argparse.Namespace, questions: list[Any], peak_rate: float, connections: int, target_rate: float,
           idle: dict[int, float], samples: list[tuple[float, dict[int, float]]],
           segments: list[dict[str, Any]]) -> dict[str, Any]:
    workers = sorted({pid for _, seen in samples for pid in seen})
    by_minute = []
    for minute in range(int(samples[-1][0] // 60) + 1 if samples else 0):
        inside = [seen for at, seen in samples if minute * 60 <= at < (minute + 1) * 60]
        if inside:
            by_minute.append({"minute": minute + 1, "rss_mb": {str(pid): round(max(s.get(pid, 0.0) for s in inside), 1)
                                                                for pid in workers}})
    half = samples[-1][0] / 2 if samples else 0
    growth = {}
    for pid in workers:
        second_half = [seen[pid] for at, seen in samples if at >= half and pid in seen]
        growth[str(pid)] = round(max(second_half) - second_half[0], 1) if second_half else 0.0
    ok = sum(s["ok"] for s in segments)
    seconds = sum(s["seconds"] for s in segments)
    return {
        "command": "benchmarks/bench_soak.py " + " ".join(f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items()
                                                         if k != "json"),
        "date": time.strftime("%Y-%m-%d"), "machine": machine_info(), "questions": len(questions),
        "version": args.version, "peak_requests_per_s": round(peak_rate, 1), "connections": connections,
        "probe_requests_per_s": round(target_rate, 1),
        "soak_requests_per_s": round(ok / seconds, 1) if seconds else 0.0,
        "soak_errors": sum(s["errors"] for s in segments), "answers": ok,
        "rss_started_mb": {str(pid): round(idle.get(pid, 0.0), 1) for pid in workers},
        "rss_by_minute": by_minute, "growth_second_half_mb": growth,
        "levels_off": all(g <= args.tolerance_mb for g in growth.values()), "tolerance_mb": args.tolerance_mb,
    }


def render(result: dict[str, Any]) -> str:
    workers = list(result["growth_second_half_mb"])
    lines = [f"command: `.venv/bin/python {result['command']}`  ", f"date: {result['date']}  ",
             "machine: {cpu}, {cores} cores, {platform}; Python {python}, onnxruntime {onnxruntime}  ".format(
                 **result["machine"]),
             (f"load: {result['version']}, cache off, {result['connections']} closed-loop connections = "
              f"{result['probe_requests_per_s']:,} requests/s in the probe vs a peak of "
              f"{result['peak_requests_per_s']:,} (64 connections); during the soak "
              f"{result['soak_requests_per_s']:,} requests/s, {result['answers']:,} answers, "
              f"{result['soak_errors']} errors"), "",
             "| minute | " + " | ".join(f"worker {i + 1} RSS MB" for i in range(len(workers))) + " |",
             "|---:|" + "---:|" * len(workers)]
    lines.append("| started, before any load | " + " | ".join(f"{result['rss_started_mb'][w]:.1f}" for w in workers)
                 + " |")
    for row in result["rss_by_minute"]:
        lines.append(f"| {row['minute']} | " + " | ".join(f"{row['rss_mb'][w]:.1f}" for w in workers) + " |")
    growth = ", ".join(f"worker {i + 1} +{g:.1f} MB" for i, g in enumerate(result["growth_second_half_mb"].values()))
    verdict = "met" if result["levels_off"] else "NOT met"
    lines += ["", (f"growth over the second half: {growth}; memory levels off (≤ {result['tolerance_mb']} MB): "
                   f"**{verdict}**")]
    return "\n".join(lines)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="length of the soak (default: 10)")
    parser.add_argument("--fraction", type=float, default=0.8, help="share of the peak throughput (default: 0.8)")
    parser.add_argument("--version", default="v3", choices=("v1", "v2", "v3"))
    parser.add_argument("--tolerance-mb", type=float, default=5.0,
                        help="most a worker may grow over the second half and still level off (default: 5)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of Markdown")
    return parser.parse_args()


if __name__ == "__main__":
    arguments = parse_args()
    outcome = soak(arguments)
    print(json.dumps(outcome, indent=1) if arguments.json else render(outcome))
