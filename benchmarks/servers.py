"""Server subprocesses for the load benchmarks: `mleditor.advise.loopback`, which the advisor shares (see there)."""

from mleditor.advise.loopback import (
    ServerProcess,
    free_ports,
    machine_busy_seconds,
    process_table,
    session_cpu_ticks,
    tree_cpu_ticks,
)

__all__ = ["ServerProcess", "free_ports", "machine_busy_seconds", "process_table", "session_cpu_ticks",
           "tree_cpu_ticks"]
