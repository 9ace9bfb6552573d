"""Processes started in process groups of their own and stopped by group, for the loopback Flower deployment.

Invariant: every process `ProcessGroups.start` starts leads a new process group (its children —
a SuperNode's SuperExec and ClientApps — live in it), and leaving the `with` block stops every
group: SIGTERM, up to STOP_GRACE_S for the group to empty, then SIGKILL. Liveness is read from
/proc (a zombie does not count), so a group is gone only when none of its members runs.

    with ProcessGroups(env, logs) as groups:
        groups.start("superlink", ["flower-superlink", ...])
        wait_until(lambda: ready(), timeout_s=60)
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

STOP_GRACE_S = 2.0  # between SIGTERM and SIGKILL (a SuperNode takes ~5 s to end gracefully; it holds nothing)


@dataclass
class Child:
    """A started process, leader of its own process group, and the file its output goes to."""

    name: str
    process: subprocess.Popen[bytes]
    log: Path

    def tail(self) -> str:
        """The last line of its output, for an error message."""
        lines = self.log.read_text(encoding="utf-8", errors="replace").strip().splitlines() if self.log.exists() else []
        return lines[-1].strip()[-300:] if lines else "(no output)"


class ProcessGroups:
    """The processes a run starts, each in a new process group; leaving the block stops every group."""

    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env, self.logs = env, logs
        self.children: dict[str, Child] = {}

    def __enter__(self) -> ProcessGroups:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self, name: str, argv: list[str], extra_env: dict[str, str] | None = None) -> Child:
        log = self.logs / f"{name}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(argv, env={**self.env, **(extra_env or {})}, stdin=subprocess.DEVNULL,
                                       stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                                       cwd=self.logs)
        self.children[name] = Child(name, process, log)
        return self.children[name]

    def kill(self, name: str) -> None:
        """SIGKILL the whole process group of `name` (a node dying without goodbye)."""
        signal_group(self.children[name].process.pid, signal.SIGKILL)

    def stop(self) -> None:
        """SIGTERM every group, wait up to STOP_GRACE_S for them to empty, then SIGKILL what is left."""
        for child in reversed(self.children.values()):
            signal_group(child.process.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_S
        while self.alive() and time.monotonic() < deadline:
            time.sleep(0.1)
        for child in self.children.values():
            signal_group(child.process.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.process.wait(timeout=STOP_GRACE_S)

    def alive(self) -> list[str]:
        """The names whose process group still has a live (not zombie) process."""
        for child in self.children.values():
            child.process.poll()  # reap our own child, so a dead leader is not counted as a zombie
        return [name for name, child in self.children.items() if group_members(child.process.pid)]


def signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def group_members(pgid: int) -> list[int]:
    """The live (not zombie) processes in process group `pgid`, read from /proc; [pgid] or [] without /proc."""
    proc = Path("/proc")
    if not (proc / "self" / "stat").exists():
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return []
        except PermissionError:
            pass
        return [pgid]
    members = []
    for entry in proc.iterdir():
        if entry.name.isdigit():
            stat = _stat(entry)
            if stat is not None and stat[2] == pgid and stat[0] != "Z":
                members.append(int(entry.name))
    return members


def _stat(entry: Path) -> tuple[str, int, int] | None:
    """State, parent pid and process group of a /proc entry (None if it is gone)."""
    try:
        text = (entry / "stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2:].split()  # the command name may hold spaces or parentheses
    return fields[0], int(fields[1]), int(fields[2])


def cmdline(pid: int) -> str:
    """The command line of `pid`, its arguments joined by spaces ("" once it is gone)."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def wait_until(predicate: Callable[[], bool], timeout_s: float, interval_s: float = 0.2) -> bool:
    """Poll `predicate` every `interval_s` until it holds (True) or `timeout_s` has passed (False)."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval_s)
    return True
