"""Server subprocesses for the load benchmarks: `mleditor.advise.loopback`, which the advisor shares (see there),
and `mleditor.ports.free_ports`."""

from mleditor.advise.loopback import (
    ServerProcess,
    machine_busy_seconds,
    process_table,
    session_cpu_ticks,
    tree_cpu_ticks,
)
from mleditor.ports import free_ports

__all__ = ["ServerProcess", "free_ports", "machine_busy_seconds", "process_table", "session_cpu_ticks",
           "tree_cpu_ticks"]
