"""`--workers N` with one listening socket per worker, so that the kernel spreads new connections over the workers.

uvicorn's supervisor binds ONE socket and every worker accepts from it. When connections come in a
burst (a client opening its keep-alive pool), the first worker to wake accepts every connection
waiting in the queue before the others run (uvloop accepts until the queue is empty), and
keep-alive connections never move: at 4-8 connections all of them often sat on one of two workers
while the other idled. Here the supervisor opens N sockets on the same port with `SO_REUSEPORT`
and gives worker i socket i; Linux hashes each new connection to one of them. The parent keeps
the sockets open, so a worker that dies and is replaced keeps its socket, and connections queued
on it wait for the replacement instead of being reset.

`SO_REUSEPORT` spreads connections only on Linux; elsewhere (and where the option is missing) the
workers share one socket, as with uvicorn. Any process of the same user may bind the same port with
`SO_REUSEPORT` and get a share of its connections: run the server under its own user.

    serve_workers(uvicorn.Config("mleditor.serve.app:app_from_env", factory=True, workers=2, port=8000))
"""

from __future__ import annotations

import inspect
import logging
import socket
import sys
import threading
import time

from uvicorn.config import Config
from uvicorn.server import Server
from uvicorn.supervisors.multiprocess import Multiprocess, Process

try:  # uvicorn >= 0.50
    from uvicorn.config import STARTUP_FAILURE  # type: ignore[attr-defined, unused-ignore]
except ImportError:  # uvicorn 0.49 (flwr 1.42 pins uvicorn < 0.50): the constant lives in uvicorn.main
    from uvicorn.main import STARTUP_FAILURE  # type: ignore[attr-defined,no-redef,unused-ignore]

# uvicorn < 0.51 passes the worker's target (Server.run) to Process and Multiprocess; 0.51 builds it itself.
_PASSES_TARGET = "target" in inspect.signature(Process.__init__).parameters


def _new_process(config: Config, sockets: list[socket.socket]) -> Process:
    if _PASSES_TARGET:
        return Process(config, Server(config).run, sockets)  # type: ignore[call-arg,arg-type,unused-ignore]
    return Process(config, sockets)  # type: ignore[call-arg,unused-ignore]


def _wait_until_ready(process: Process, timeout: float, should_exit: threading.Event) -> bool:
    """uvicorn >= 0.51: the worker finished startup; older: it answers pings (its server may still be starting)."""
    if hasattr(process, "wait_until_ready"):
        return bool(process.wait_until_ready(timeout, should_exit))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.is_alive(timeout=1):
            return True
        time.sleep(0.1)
    return False

log = logging.getLogger("uvicorn.error")


def spreads_connections() -> bool:
    """Whether this platform balances connections over sockets bound with SO_REUSEPORT (Linux does)."""
    return sys.platform == "linux" and hasattr(socket, "SO_REUSEPORT")


def listening_socket(host: str, port: int, backlog: int) -> socket.socket:
    """A TCP socket listening on host:port with SO_REUSEPORT, inheritable by the worker processes."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
        sock.listen(backlog)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


class ReusePortSupervisor(Multiprocess):
    """uvicorn's worker supervisor (health checks, restarts, signals), each worker on its own listening socket.

    `sockets[i]` serves the worker in slot i, and its replacement after a restart; SIGTTIN adds a
    socket with the worker, SIGTTOU closes the last one with its worker.
    """

    def __init__(self, config: Config, sockets: list[socket.socket]) -> None:
        if _PASSES_TARGET:
            super().__init__(config, Server(config).run, sockets)  # type: ignore[call-arg,arg-type,unused-ignore]
        else:
            super().__init__(config, sockets)  # type: ignore[call-arg,unused-ignore]
        if len(sockets) != config.workers:
            raise ValueError(f"one socket per worker: got {len(sockets)} sockets for {config.workers} workers")

    def _process(self, slot: int) -> Process:
        process = _new_process(self.config, [self.sockets[slot]])
        process.start()
        return process

    def init_processes(self) -> None:
        self.processes = [self._process(slot) for slot in range(self.processes_num)]

    def restart_all(self) -> None:
        """Replace each worker, its replacement serving before the old one retires (uvicorn's SIGHUP)."""
        for slot, old in enumerate(self.processes):
            if self.should_exit.is_set():
                return
            new = self._process(slot)
            if not _wait_until_ready(new, self.config.timeout_worker_healthcheck, self.should_exit):
                new.kill()
                new.join()
                if not self.should_exit.is_set():
                    log.error("New child process [%s] was not ready in time; keeping worker [%s] and aborting "
                              "the restart.", new.pid, old.pid)
                return
            old.terminate()
            old.join()
            self.processes[slot] = new

    def keep_subprocess_alive(self) -> None:
        """Replace a worker that died or hangs, on its own socket; stop everything when one cannot start."""
        for slot, process in enumerate(self.processes):
            if self.should_exit.is_set():
                return
            if process.is_alive(timeout=self.config.timeout_worker_healthcheck):
                continue
            process.kill()
            process.join()
            if process.process.exitcode == STARTUP_FAILURE:  # the app or its settings are broken: a restart fails alike
                log.error("Child process [%s] failed to start, stopping the parent process.", process.pid)
                self.should_exit.set()
                return
            log.info("Child process [%s] died", process.pid)
            self.processes[slot] = self._process(slot)

    def handle_ttin(self) -> None:
        log.info("Received SIGTTIN, increasing the number of processes.")
        self.sockets.append(listening_socket(self.config.host, self.sockets[0].getsockname()[1], self.config.backlog))
        self.processes_num += 1
        self.processes.append(self._process(len(self.processes)))

    def handle_ttou(self) -> None:
        log.info("Received SIGTTOU, decreasing number of processes.")
        if self.processes_num <= 1:
            log.info("Already reached one process, cannot decrease the number of processes anymore.")
            return
        self.processes_num -= 1
        process = self.processes.pop()
        process.terminate()
        process.join()
        self.sockets.pop().close()


def serve_workers(config: Config) -> None:
    """Run `config.workers` (>= 2) worker processes of the app `config` names (an import string), until a signal."""
    if not spreads_connections():
        sockets = [config.bind_socket()]
        if _PASSES_TARGET:
            supervisor = Multiprocess(config, Server(config).run, sockets)  # type: ignore[call-arg,arg-type,unused-ignore]
        else:
            supervisor = Multiprocess(config, sockets)  # type: ignore[call-arg,unused-ignore]
        supervisor.run()
        return
    try:
        first = listening_socket(config.host, config.port, config.backlog)
        port = first.getsockname()[1]  # port 0 picks one: the other workers share it
        sockets = [first] + [listening_socket(config.host, port, config.backlog) for _ in range(config.workers - 1)]
    except OSError as exc:
        log.error("%s", exc)
        sys.exit(STARTUP_FAILURE)
    log.info("Uvicorn running on http://%s:%d (Press CTRL+C to quit), %d workers, one socket each (SO_REUSEPORT)",
             config.host, port, config.workers)
    try:
        ReusePortSupervisor(config, sockets).run()
    finally:
        for sock in sockets:
            sock.close()
