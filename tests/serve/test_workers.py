"""`mleditor serve --workers N`: every worker gets a share of a burst of keep-alive connections."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from mleditor.serve.workers import listening_socket, spreads_connections
from tests.helpers import start_server, stop_server

pytestmark = pytest.mark.skipif(not spreads_connections(), reason="SO_REUSEPORT spreads connections on Linux only")
ESTABLISHED = "01"


def children(pid: int) -> list[int]:
    """The processes whose parent is `pid` (from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry.name))
            except OSError:  # it ended meanwhile
                pass
    return found


def established_inodes(port: int) -> set[str]:
    """Socket inodes of the established TCP connections whose local port is `port`."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == ESTABLISHED:
                inodes.add(fields[9])
    return inodes


def connections_by_process(pids: list[int], port: int) -> dict[int, int]:
    """How many of the server's established connections each process holds."""
    inodes = established_inodes(port)
    counts = {}
    for pid in pids:
        try:
            links = [os.readlink(fd) for fd in Path(f"/proc/{pid}/fd").iterdir()]
        except OSError:
            continue
        counts[pid] = sum(link.startswith("socket:[") and link[8:-1] in inodes for link in links)
    return counts


def test_a_burst_of_keep_alive_connections_reaches_every_worker(tmp_path):
    server, base = start_server(tmp_path, "--workers", "2", MLEDITOR_SERVE_LOG_LEVEL="warning")
    port = int(base.rsplit(":", 1)[1])
    clients: list[socket.socket] = []
    try:
        # One burst, as a client opens its pool; a worker still starting answers its share when it is up.
        clients = [socket.create_connection(("127.0.0.1", port), timeout=20) for _ in range(16)]
        for client in clients:
            client.sendall(b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n")
        for client in clients:
            assert client.recv(65536).startswith(b"HTTP/1.1 200")  # accepted, answered and still open
        counts = connections_by_process(children(server.pid), port)
    finally:
        for client in clients:
            client.close()
        stop_server(server)
    held = sorted(n for n in counts.values() if n)
    assert sum(held) == 16 and len(held) == 2, f"connections per worker: {counts}"  # all on one: p = 2^-15


def test_sockets_on_one_port_with_reuseport_all_listen_and_a_plain_socket_cannot_take_it():
    first = listening_socket("127.0.0.1", 0, 16)
    port = first.getsockname()[1]
    second = listening_socket("127.0.0.1", port, 16)
    try:
        assert second.getsockname()[1] == port and second.get_inheritable()
        with socket.socket() as plain, pytest.raises(OSError, match="in use"):
            plain.bind(("127.0.0.1", port))
    finally:
        first.close()
        second.close()
