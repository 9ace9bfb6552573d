"""The network model, `mleditor.advise.network.request_ms`, against a real shaped link, once.

A network namespace joined to this one by a veth pair (10.213.a.b/30: addresses this test picks
unused, creates and removes) with `tc` on both ends. netem delays each end's egress by DELAY_MS (so
the round trip is 2 × DELAY_MS) and limits its rate: the host end's egress carries the requests
(the profile's `up_mbps`), the namespace end's egress the responses (`down_mbps`); the two rates
differ, so a model that swapped the directions would fail. In the namespace runs a minimal HTTP/1.1
server (keep-alive, fixed bodies, each response written in one send with TCP_NODELAY), not
`mleditor serve`: what is timed is the network alone, with no model and no micro-batching to
blur it. From this side: new and kept-alive connections, a small and a large response, and a
large upload. Each median is compared with `request_ms(NetworkProfile(rtt_ms=2 × DELAY_MS,
down_mbps=DOWN_MBPS, up_mbps=UP_MBPS), request bytes, response bytes, compute_ms=the same
request's median on the unshaped link, new_connection)`.

Tolerance: ±20 % + 3 ms. What the model leaves out stays inside it for the sizes chosen: TCP slow
start on a new connection's large transfer (about two round trips of stalls at this bandwidth-delay
product, ~20 ms of ~180), TCP/IP headers (~3 %), the kept-alive case's cwnd (warmed up first,
measured back to back so it never idles past the retransmission timeout and restarts).

Where netem is missing (this project's machines: `Specified qdisc kind is unknown`), the netem
case skips; a second case shapes the rate alone with `tbf` (RTT ≈ 0) and checks the transfer term
and the directions. Each skips unless root, `ip` and `tc` are present and the namespace and qdisc
can be made. The namespace, the veth pair and the server (by pid) go in a finally, bounded in time.
"""

from __future__ import annotations

import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from mleditor.advise.network import NetworkProfile, request_ms

DELAY_MS = 10.0  # netem's delay on each end's egress: a 20 ms round trip
DOWN_MBPS, UP_MBPS = 20.0, 5.0
SMALL_BYTES, LARGE_BYTES, UPLOAD_BYTES = 200, 300_000, 60_000
REPEATS = 5
RELATIVE, ABSOLUTE_MS = 0.20, 3.0
PORT = 8089

SERVER = r"""
import socket, socketserver, sys

SMALL, LARGE = b"s" * int(sys.argv[3]), bytes(range(256)) * (int(sys.argv[4]) // 256)


class Handler(socketserver.BaseRequestHandler):
    def handle(self):
        sock, buffer = self.request, b""
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        while True:
            while b"\r\n\r\n" not in buffer:
                chunk = sock.recv(65536)
                if not chunk:
                    return
                buffer += chunk
            head, _, buffer = buffer.partition(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            length = next((int(line.split(":", 1)[1]) for line in lines[1:]
                           if line.lower().startswith("content-length:")), 0)
            while len(buffer) < length:
                chunk = sock.recv(65536)
                if not chunk:
                    return
                buffer += chunk
            buffer = buffer[length:]
            body = LARGE if lines[0].split(" ")[1] == "/large" else SMALL
            sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: %d\r\n\r\n"
                         % len(body) + body)


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


server = Server((sys.argv[1], int(sys.argv[2])), Handler)
print("ready", flush=True)
server.serve_forever()
"""


@dataclass(frozen=True)
class Case:
    name: str
    path: str
    upload: int  # request body bytes
    new_connection: bool

    def request(self, host: str) -> bytes:
        method = "POST" if self.upload else "GET"
        head = f"{method} {self.path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: {self.upload}\r\n\r\n"
        return head.encode() + b"u" * self.upload


CASES = [Case(f"{what} {'new' if new else 'kept-alive'}", path, upload, new)
         for what, path, upload in (("small", "/small", 0), ("large response", "/large", 0),
                                    ("large upload", "/small", UPLOAD_BYTES))
         for new in (False, True)]


def run(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=20, check=check)


@dataclass
class Link:
    """The namespace, its veth pair and the server in it; `shape` puts one qdisc on each end."""

    namespace: str
    host_end: str
    inner_end: str
    host_address: str
    server_address: str

    def shape(self, host_qdisc: list[str], inner_qdisc: list[str]) -> None:
        for prefix, device, qdisc in (([], self.host_end, host_qdisc),
                                      (["ip", "netns", "exec", self.namespace], self.inner_end, inner_qdisc)):
            done = run(*prefix, "tc", "qdisc", "replace", "dev", device, "root", *qdisc, check=False)
            if done.returncode != 0:
                self.unshape()
                pytest.skip(f"tc qdisc {qdisc[0]} is not available here: {done.stderr.strip()}")

    def unshape(self) -> None:
        run("tc", "qdisc", "del", "dev", self.host_end, "root", check=False)
        run("ip", "netns", "exec", self.namespace, "tc", "qdisc", "del", "dev", self.inner_end, "root", check=False)


def unused_subnet() -> tuple[str, str]:
    used = run("ip", "-o", "addr").stdout
    for _ in range(100):
        third, fourth = random.randrange(256), random.randrange(64) * 4
        if f"10.213.{third}." not in used:
            return f"10.213.{third}.{fourth + 1}", f"10.213.{third}.{fourth + 2}"
    pytest.skip("no unused 10.213.x.0/30 subnet found")


def missing_tools() -> str | None:
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return "needs root (network namespaces and tc)"
    return next((f"needs `{tool}` (iproute2)" for tool in ("ip", "tc") if shutil.which(tool) is None), None)


@pytest.fixture(scope="module")
def link() -> Iterator[Link]:
    missing = missing_tools()
    if missing:
        pytest.skip(missing)
    tag = f"{os.getpid() % 100000:05d}{random.randrange(16 ** 3):03x}"
    host_address, server_address = unused_subnet()
    made = Link(f"mleditor-test-{tag}", f"mlh{tag}", f"mln{tag}", host_address, server_address)
    server: subprocess.Popen[str] | None = None
    try:
        added = run("ip", "netns", "add", made.namespace, check=False)
        if added.returncode != 0:
            pytest.skip(f"cannot create a network namespace: {added.stderr.strip()}")
        inside = ["ip", "netns", "exec", made.namespace]
        for argv in (["ip", "link", "add", made.host_end, "type", "veth", "peer", "name", made.inner_end],
                     ["ip", "link", "set", made.inner_end, "netns", made.namespace],
                     ["ip", "addr", "add", f"{host_address}/30", "dev", made.host_end],
                     ["ip", "link", "set", made.host_end, "up"],
                     [*inside, "ip", "addr", "add", f"{server_address}/30", "dev", made.inner_end],
                     [*inside, "ip", "link", "set", made.inner_end, "up"],
                     [*inside, "ip", "link", "set", "lo", "up"]):
            done = run(*argv, check=False)
            if done.returncode != 0:
                pytest.skip(f"cannot set up the veth pair ({' '.join(argv)}): {done.stderr.strip()}")
        server = subprocess.Popen([*inside, sys.executable, "-c", SERVER, server_address, str(PORT), str(SMALL_BYTES),
                                   str(LARGE_BYTES)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert server.stdout is not None and server.stdout.readline().strip() == "ready", server.communicate(timeout=5)
        yield made
    finally:
        if server is not None:
            server.kill()  # by its pid: `ip netns exec` execs the server in place
            server.communicate(timeout=10)
        run("ip", "link", "del", made.host_end, check=False)  # removes both ends
        run("ip", "netns", "del", made.namespace, check=False)


def exchange(sock: socket.socket, request: bytes) -> int:
    """Send one request, read its whole response; the response's bytes (head and body)."""
    sock.sendall(request)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, "the server closed the connection"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(next(line.split(b":", 1)[1] for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")))
    received = len(body)
    while received < length:
        chunk = sock.recv(65536)
        assert chunk, "the server closed the connection"
        received += len(chunk)
    return len(head) + 4 + length


def connect(address: str) -> socket.socket:
    sock = socket.create_connection((address, PORT), timeout=10)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def measure(link: Link) -> dict[Case, tuple[float, int, int]]:
    """Each case's median milliseconds, request bytes and response bytes, over REPEATS round trips.

    The kept-alive ones go first, back to back after one warm-up exchange, on one connection per case:
    its congestion window is open and never idles long enough to restart."""
    found = {}
    for case in sorted(CASES, key=lambda c: c.new_connection):
        request = case.request(link.server_address)
        times, sizes = [], []
        kept = None if case.new_connection else connect(link.server_address)
        try:
            if kept is not None:
                exchange(kept, request)
            for _ in range(REPEATS):
                started = time.perf_counter()
                sock = kept or connect(link.server_address)
                try:
                    sizes.append(exchange(sock, request))
                finally:
                    if sock is not kept:
                        sock.close()
                times.append((time.perf_counter() - started) * 1000)
        finally:
            if kept is not None:
                kept.close()
        found[case] = (statistics.median(times), len(request), sizes[0])
    return found


@pytest.fixture(scope="module")
def unshaped(link: Link) -> dict[Case, tuple[float, int, int]]:
    """The same requests on the bare veth: the server's own time, the "compute" of each prediction."""
    link.unshape()
    measure(link)  # neighbours resolved, code paths warm
    return measure(link)


def compare(profile: NetworkProfile, shaped: dict[Case, tuple[float, int, int]],
            unshaped: dict[Case, tuple[float, int, int]]) -> list[str]:
    """One line per case (printed: `pytest -s` shows them); the ones outside the tolerance start with "OUT"."""
    lines = []
    for case in CASES:
        measured, request_bytes, response_bytes = shaped[case]
        predicted = request_ms(profile, request_bytes, response_bytes, compute_ms=unshaped[case][0],
                               new_connection=case.new_connection)
        within = abs(measured - predicted) <= RELATIVE * predicted + ABSOLUTE_MS
        lines.append(f"{'ok ' if within else 'OUT'} {profile.name} {case.name:28} measured {measured:7.1f} ms  "
                     f"predicted {predicted:7.1f} ms  ({(measured - predicted) / predicted:+.0%}; "
                     f"{request_bytes} B up, {response_bytes} B down)")
    print("\n".join(lines))
    return lines


def test_request_ms_matches_a_netem_link_with_delay_and_rate_within_20_percent_plus_3_ms(link, unshaped):
    link.shape(["netem", "delay", f"{DELAY_MS}ms", "rate", f"{UP_MBPS}mbit", "limit", "10000"],
               ["netem", "delay", f"{DELAY_MS}ms", "rate", f"{DOWN_MBPS}mbit", "limit", "10000"])
    try:
        shaped = measure(link)
    finally:
        link.unshape()
    profile = NetworkProfile(name="netem", rtt_ms=2 * DELAY_MS, down_mbps=DOWN_MBPS, up_mbps=UP_MBPS,
                             source=f"test: tc netem delay {DELAY_MS} ms each way")
    lines = compare(profile, shaped, unshaped)
    assert not [line for line in lines if line.startswith("OUT")], "\n".join(lines)


def test_request_ms_matches_a_rate_limited_link_each_direction_within_20_percent_plus_3_ms(link, unshaped):
    # tbf needs no netem: the transfer term and the directions, with the veth's ~0 ms round trip.
    burst = ["burst", "16kb", "latency", "400ms"]
    link.shape(["tbf", "rate", f"{UP_MBPS}mbit", *burst], ["tbf", "rate", f"{DOWN_MBPS}mbit", *burst])
    try:
        shaped = measure(link)
    finally:
        link.unshape()
    profile = NetworkProfile(name="tbf", rtt_ms=0.0, down_mbps=DOWN_MBPS, up_mbps=UP_MBPS, source="test: tc tbf")
    lines = compare(profile, shaped, unshaped)
    assert not [line for line in lines if line.startswith("OUT")], "\n".join(lines)

