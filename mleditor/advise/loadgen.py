"""Closed-loop HTTP load for the advisor and bench_serve: wrk driven by a Lua script, or this module's asyncio client.

    load = LoadGenerator("wrk", Path("bodies.jsonl"))        # or "python" where wrk is not installed
    summary = load.run("http://127.0.0.1:8000/predict/v2", connections=16, seconds=5)

Each run is a separate process. Each of its keep-alive connections POSTs the next JSON line of the
bodies file and waits for the answer before sending again. A run returns requests, 2xx answers,
seconds, latency percentiles in microseconds and error counts. The asyncio client (this file run as a
program) uses raw streams: httpx tops out near 250 requests/s on a 2-core machine, far below the servers.

    .venv/bin/python -m mleditor.advise.loadgen --url http://127.0.0.1:8000/predict/v2 --bodies bodies.jsonl \
        --concurrency 16 --duration 5 [--samples 2000]

`benchmarks/loadgen.py` re-exports this module (one piece of code for both). `--samples N` adds up to N
latencies (µs, evenly spaced over the run's answers) to the summary as `samples_us`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np

WRK_SCRIPT = r"""
-- bench_serve's wrk script: POST the next JSON body of a file (one per line); print a JSON summary.
local bodies, n, path = {}, 0, "/"
local headers = {["Content-Type"] = "application/json"}
function init(args)
  for line in io.lines(args[1]) do bodies[#bodies + 1] = line end
  path = args[2]
end
function request()
  n = n % #bodies + 1
  return wrk.format("POST", path, headers, bodies[n])
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('{"requests": %d, "ok": %d, "seconds": %.6f, "p50_us": %d, "p90_us": %d, "p99_us": %d, '
    .. '"mean_us": %.1f, "max_us": %d, "errors": {"status": %d, "connect": %d, "read": %d, "write": %d, '
    .. '"timeout": %d}}\n', summary.requests, summary.requests - e.status, summary.duration / 1e6,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.mean, latency.max,
    e.status, e.connect, e.read, e.write, e.timeout))
end
"""


class LoadGenerator:
    """Runs load as a separate process: wrk (1 thread) with WRK_SCRIPT, or this file's asyncio client."""

    def __init__(self, kind: str, bodies: Path) -> None:
        if kind not in ("wrk", "python"):
            raise ValueError(f"unknown load generator {kind!r}; use wrk or python")
        self.kind = kind
        self.bodies = bodies
        self.script = bodies.with_name("post_bodies.lua")
        self.script.write_text(WRK_SCRIPT)

    def describe(self) -> str:
        if self.kind == "wrk":
            text = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.split("\n")[0]
            return f"{' '.join(text.split()[:2])}, 1 thread, closed loop, keep-alive"
        return "mleditor.advise.loadgen (asyncio + uvloop), 1 process, closed loop, keep-alive"

    def command(self, url: str, connections: int, seconds: float) -> list[str]:
        if self.kind == "wrk":
            return ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--timeout", "10s",
                    "-s", str(self.script), url, "--", str(self.bodies), urlsplit(url).path]
        return [sys.executable, "-m", "mleditor.advise.loadgen", "--url", url, "--bodies", str(self.bodies),
                "--concurrency", str(connections), "--duration", str(seconds)]

    def run(self, url: str, connections: int, seconds: float, samples: int = 0) -> dict[str, Any]:
        """One run; its summary (the JSON line both generators print last); `samples` latencies with the asyncio one."""
        command = self.command(url, connections, seconds)
        if samples and self.kind == "python":
            command += ["--samples", str(samples)]
        finished = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60)
        summaries = [line for line in finished.stdout.splitlines() if line.startswith("{")]
        if finished.returncode != 0 or not summaries:
            raise RuntimeError(f"{self.kind} failed (exit status {finished.returncode}): {finished.stderr[-2000:]}")
        summary: dict[str, Any] = json.loads(summaries[-1])
        return summary


@dataclass
class Tally:
    """What all connections saw: latencies of 2xx answers (ns), and errors by kind."""

    latencies_ns: list[int] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=lambda: {"status": 0, "connect": 0, "read": 0, "timeout": 0})
    next_body: int = 0


def build_requests(host: str, port: int, path: str, bodies: Sequence[bytes]) -> list[bytes]:
    """One complete HTTP/1.1 POST (headers + body) per JSON body."""
    head = f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\nContent-Length: "
    return [head.encode() + str(len(b)).encode() + b"\r\n\r\n" + b for b in bodies]


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """Read one response; return its status and whether the server keeps the connection open."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = dict(line.lower().split(":", 1) for line in lines[1:] if ":" in line)
    length = headers.get("content-length")
    if length is None:
        raise ConnectionError("the server sent no Content-Length; this load generator needs one")
    await reader.readexactly(int(length))
    return status, headers.get("connection", "").strip() != "close"


async def connection(host: str, port: int, requests: Sequence[bytes], deadline: float, tally: Tally,
                     timeout_s: float) -> None:
    """Send requests back to back on one connection (reconnecting when the server closes it) until `deadline`."""
    reader = writer = None
    while time.perf_counter() < deadline:
        try:
            if writer is None:
                reader, writer = await asyncio.open_connection(host, port)
        except OSError:
            tally.errors["connect"] += 1
            await asyncio.sleep(0.01)
            continue
        assert reader is not None
        tally.next_body = (tally.next_body + 1) % len(requests)
        started = time.perf_counter_ns()
        try:
            writer.write(requests[tally.next_body])
            status, keep_alive = await asyncio.wait_for(read_response(reader), timeout_s)
        except TimeoutError:
            tally.errors["timeout"] += 1
            keep_alive = False
        except (OSError, ConnectionError, asyncio.IncompleteReadError, ValueError):
            tally.errors["read"] += 1
            keep_alive = False
        else:
            if 200 <= status < 300:
                tally.latencies_ns.append(time.perf_counter_ns() - started)
            else:
                tally.errors["status"] += 1
        if not keep_alive:
            writer.close()
            reader = writer = None
    if writer is not None:
        writer.close()


async def run(url: str, bodies: Sequence[bytes], concurrency: int, duration_s: float,
              timeout_s: float = 10.0, samples: int = 0) -> dict[str, object]:
    """Drive `concurrency` connections for `duration_s` seconds; the same summary fields as bench_serve's wrk script."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    requests = build_requests(host, port, parts.path or "/", bodies)
    tally = Tally()
    started = time.perf_counter()
    deadline = started + duration_s
    await asyncio.gather(*(connection(host, port, requests, deadline, tally, timeout_s) for _ in range(concurrency)))
    seconds = time.perf_counter() - started
    lat = np.asarray(tally.latencies_ns, dtype=np.float64) / 1000 if tally.latencies_ns else np.zeros(1)
    p50, p90, p99 = (float(v) for v in np.percentile(lat, [50, 90, 99]))
    summary: dict[str, object] = {
        "requests": len(tally.latencies_ns) + sum(tally.errors.values()), "ok": len(tally.latencies_ns),
        "seconds": seconds, "p50_us": p50, "p90_us": p90, "p99_us": p99, "mean_us": float(lat.mean()),
        "max_us": float(lat.max()), "errors": tally.errors}
    if samples and tally.latencies_ns:
        step = max(1, len(lat) // samples)
        summary["samples_us"] = [round(float(v), 1) for v in lat[::step][:samples]]
    return summary


def main(argv: Sequence[str] | None = None) -> None:
    """The asyncio client: read the bodies, run the load, print the summary as one JSON line."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--url", required=True, help="e.g. http://127.0.0.1:8000/predict/v2")
    parser.add_argument("--bodies", required=True, help="file with one JSON request body per line")
    parser.add_argument("--concurrency", type=int, default=16, help="open connections (default 16)")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds (default 5)")
    parser.add_argument("--samples", type=int, default=0, help="add up to N latencies to the summary (default 0)")
    args = parser.parse_args(argv)
    with open(args.bodies, "rb") as handle:
        bodies = [line.rstrip(b"\n") for line in handle if line.strip()]
    if not bodies or args.concurrency < 1 or args.duration <= 0:
        parser.error("need at least one body, --concurrency >= 1 and --duration > 0")
    load = run(args.url, bodies, args.concurrency, args.duration, samples=args.samples)
    try:
        import uvloop  # uvicorn[standard] brings it; it roughly doubles what one client core can send
    except ImportError:
        summary = asyncio.run(load)
    else:
        summary = uvloop.run(load)
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
