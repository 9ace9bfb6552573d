"""Ray Serve autoscaling, shown: a replica is added under load and removed when the load stops.

Starts a local Ray, deploys `mleditor.serve.engines.ray.build_application` with fast autoscaling
settings, stays idle, sends load from concurrent loopback clients, stops it, and waits until the
deployment is back to one replica. Prints a timeline (seconds, phase, requests in flight, answers
per second, running replicas from `serve.status()`) as a Markdown table. Ray Serve's own autoscaler
does the scaling; the answers per second with one replica are the baseline for those with more.

    .venv/bin/python benchmarks/demo_ray_autoscaling.py                 # 24 clients, 1 to 2 replicas (~45 s)
    .venv/bin/python benchmarks/demo_ray_autoscaling.py --clients 48 --max-replicas 4 --cpus 4 --json
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import socket
import tempfile
import time
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
from bench_core import machine_info, synthetic_questions, table

from mleditor.core.records import Question
from mleditor.serve.engines.ray import APP_NAME, Autoscaling, build_application, running_replicas
from mleditor.serve.settings import ServeSettings


class Traffic:
    """Clients that send questions while `on` is set; counts what is in flight, answered and failed."""

    def __init__(self, questions: Iterator[Question]) -> None:
        self.questions = questions
        self.on = asyncio.Event()
        self.in_flight = self.answered = self.failed = 0

    async def client(self, http: httpx.AsyncClient) -> None:
        while True:
            await self.on.wait()
            question = next(self.questions)
            self.in_flight += 1
            try:
                ok = (await http.post("/predict/v3", json={"title": question.title, "body": question.body}
                                      )).status_code == 200
            except httpx.HTTPError:
                ok = False
            self.in_flight -= 1
            self.answered += ok
            self.failed += not ok


async def scenario(url: str, clients: int, idle_s: float, load_s: float, settle_s: float) -> tuple[list[dict], Traffic]:
    """Idle, load, then idle until one replica is left (at most `settle_s`); a timeline row every half second."""
    traffic = Traffic(itertools.cycle(synthetic_questions(5000)))
    rows: list[dict[str, Any]] = []
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=httpx.Limits(max_connections=clients)) as http:
        tasks = [asyncio.create_task(traffic.client(http)) for _ in range(clients)]
        start = last_time = time.monotonic()
        last_answered, phase = 0, "idle"
        while True:
            await asyncio.sleep(0.5)
            now = time.monotonic()
            replicas = await asyncio.to_thread(running_replicas)
            rows.append({"s": round(now - start, 1), "phase": phase, "in_flight": traffic.in_flight,
                         "answers_per_s": round((traffic.answered - last_answered) / (now - last_time)),
                         "replicas": replicas})
            last_time, last_answered = now, traffic.answered
            if phase == "idle" and now - start >= idle_s:
                phase = "load"
                traffic.on.set()
            elif phase == "load" and now - start >= idle_s + load_s:
                phase = "stopped"
                traffic.on.clear()
            elif phase == "stopped" and (replicas == 1 or now - start >= idle_s + load_s + settle_s):
                break
        for task in tasks:
            task.cancel()
    return rows, traffic


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=24, help="concurrent clients during the load (default 24)")
    parser.add_argument("--load-s", type=float, default=15.0, help="seconds of load (default 15)")
    parser.add_argument("--max-replicas", type=int, default=2, help="the autoscaler's ceiling (default 2)")
    parser.add_argument("--target", type=float, default=1.0, help="target_ongoing_requests per replica (default 1)")
    parser.add_argument("--cpus", type=int, default=2, help="CPUs of the local Ray (default 2)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of Markdown")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    import ray
    from ray import serve

    # Ray 2.60 deprecates metrics_interval_s but still reads it (and nothing else) for the report interval.
    warnings.filterwarnings("ignore", message="The `metrics_interval_s` field", category=DeprecationWarning)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    autoscaling = Autoscaling(min_replicas=1, max_replicas=args.max_replicas, target_ongoing_requests=args.target,
                              upscale_delay_s=1.0, downscale_delay_s=3.0, metrics_interval_s=0.25,
                              look_back_period_s=1.0, replica_cpus=min(1.0, args.cpus / args.max_replicas))
    with tempfile.TemporaryDirectory() as tmp:
        # No cache, no rate limit: every request reaches the model, all from one client address.
        settings = ServeSettings(port=port, store_path=str(Path(tmp) / "serve.db"), cache_size=0,
                                 rate_limit_per_minute=0, graceful_timeout_s=2.0, log_level="warning")
        ray.init(address="local", num_cpus=args.cpus, include_dashboard=False, log_to_driver=False,
                 logging_level="WARNING")
        try:
            serve.start(http_options={"host": settings.host, "port": port})
            serve.run(build_application(settings, autoscaling), name=APP_NAME, route_prefix="/")
            rows, traffic = asyncio.run(scenario(f"http://127.0.0.1:{port}", args.clients, idle_s=3.0,
                                                 load_s=args.load_s, settle_s=30.0))
        finally:
            serve.shutdown()
            ray.shutdown()
    report = {"machine": machine_info(), "clients": args.clients, "ray_cpus": args.cpus,
              "autoscaling": autoscaling.to_ray(), "answered": traffic.answered, "failed": traffic.failed,
              "timeline": rows}
    if args.json:
        print(json.dumps(report, indent=1))
        return
    m = report["machine"]
    print(f"Ray Serve autoscaling: {args.clients} clients, {args.cpus}-CPU local Ray on {m['cpu']} "
          f"({m['usable_cores']} usable cores); autoscaling {report['autoscaling']}; "
          f"{traffic.answered:,} answered, {traffic.failed} failed\n")
    print("\n".join(table(["s", "phase", "in flight", "answers/s", "replicas"],
                          [[f"{row['s']:.1f}", row["phase"], row["in_flight"], row["answers_per_s"], row["replicas"]]
                           for row in rows])))


if __name__ == "__main__":
    main()
