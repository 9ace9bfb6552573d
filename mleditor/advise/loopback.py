"""Server subprocesses on loopback, for the advisor and the load benchmarks: start, wait, measure CPU, stop by pid.

    server = ServerProcess("fastapi", [python, "app.py", "--port", str(port)], env, cwd, workdir / "fastapi.log", port)
    server.wait_until(lambda: server.answers("/healthz"), timeout_s=60)
    before = server.cpu_seconds(); ...; used = sum(server.cpu_seconds().values()) - sum(before.values())
    server.stop()

A server starts in its own session. Its processes are that session plus every descendant by parent pid,
so a framework that puts its helpers in sessions of their own (Ray's raylet and workers) is measured and
stopped with it. Every pid ever seen is stopped by pid; nothing is killed by name. `benchmarks/servers.py`
re-exports this module (one piece of code for both).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path


def machine_busy_seconds() -> float:
    """CPU seconds all cores spent not idle since boot (from the first line of /proc/stat)."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(values[:8]) - values[3] - values[4]) / os.sysconf("SC_CLK_TCK")  # minus idle and iowait


def process_table() -> dict[int, tuple[int, int, int]]:
    """pid -> (parent pid, session id, utime + stime clock ticks) of every live process, from /proc."""
    table = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # the process ended meanwhile
            continue
        # fields after the name: state(0) ppid(1) pgrp(2) session(3) ... utime(11) stime(12)
        table[int(entry.name)] = (int(fields[1]), int(fields[3]), int(fields[11]) + int(fields[12]))
    return table


def session_cpu_ticks(session: int) -> Iterator[tuple[int, int]]:
    """(pid, utime + stime clock ticks) of each process whose session id is `session`."""
    for pid, (_, member_of, ticks) in process_table().items():
        if member_of == session:
            yield pid, ticks


def tree_cpu_ticks(root: int) -> dict[int, int]:
    """utime + stime ticks of each process in `root`'s session or descending from it, by pid."""
    table = process_table()
    children: dict[int, list[int]] = {}
    for pid, (ppid, _, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    members = {pid for pid, (_, session, _) in table.items() if session == root}
    pending = [root, *members]
    while pending:
        for child in children.get(pending.pop(), ()):
            if child not in members:
                members.add(child)
                pending.append(child)
    return {pid: table[pid][2] for pid in members if pid in table}


class ServerProcess:
    """One server subprocess in its own session, its log in a file, measured and stopped with its whole tree."""

    def __init__(self, name: str, command: Sequence[str], env: Mapping[str, str], cwd: Path, log_path: Path,
                 port: int) -> None:
        self.name = name
        self.port = port
        self.log_path = log_path
        self.seen: set[int] = set()  # every pid of the tree ever measured: stopped by pid at the end
        with log_path.open("wb") as log:
            self.process = subprocess.Popen(list(command), env=dict(env), cwd=cwd, stdout=log,
                                            stderr=subprocess.STDOUT, start_new_session=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def answers(self, path: str) -> bool:
        """Whether GET `path` answers 200 within a second."""
        try:
            with urllib.request.urlopen(self.url(path), timeout=1) as answer:
                return bool(answer.status == 200)
        except OSError:
            return False

    def wait_until(self, ready: Callable[[], bool], timeout_s: float, what: str = "ready") -> None:
        """Poll `ready` every 0.1 s; raise with the log's tail if the server exits or `timeout_s` passes."""
        deadline = time.monotonic() + timeout_s
        while not ready():
            self.check_alive()
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.name} not {what} after {timeout_s:.0f} s; see {self.log_path}")
            time.sleep(0.1)

    def check_alive(self) -> None:
        if self.process.poll() is not None:
            tail = self.log_path.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"{self.name} exited with status {self.process.returncode}:\n{tail}")

    def cpu_seconds(self) -> dict[int, float]:
        """User + system CPU seconds of each live process of the server's tree, by pid."""
        ticks = tree_cpu_ticks(self.process.pid)
        self.seen.update(ticks)
        return {pid: t / os.sysconf("SC_CLK_TCK") for pid, t in ticks.items()}

    def stop(self, timeout_s: float = 15.0) -> None:
        """SIGTERM to the session and every process of the tree, SIGKILL to what is left after `timeout_s`."""
        self.cpu_seconds()  # pick up processes started since the last measurement
        self._signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=timeout_s)
        deadline = time.monotonic() + 2
        while self._alive() and time.monotonic() < deadline:
            time.sleep(0.1)
        self._signal(signal.SIGKILL)
        self.process.wait()

    def _alive(self) -> list[int]:
        """The pids of the tree seen so far that still run as part of it (a reused pid is not ours)."""
        return sorted(set(tree_cpu_ticks(self.process.pid)) & self.seen) if self.process.poll() is None else [
            pid for pid in sorted(self.seen) if pid != self.process.pid and _is_alive(pid)]

    def _signal(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signum)
        for pid in self._alive():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signum)


def _is_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True
