"""Run the federated training on Flower's Deployment Engine for real: a SuperLink and SuperNodes on loopback.

Where `simulation.py` runs virtual nodes inside one process, this starts the processes a
deployment has, on 127.0.0.1 with free ports: ``flower-superlink`` (Flower 1.42 serves its
Runtime, Fleet and Control APIs on one HTTP port) with ``--isolation process`` and our own
``flower-superexec`` beside it (which starts the ServerApp process), and ``supernodes``
``flower-supernode`` processes, each with its own runtime port (where its ClientApp processes
connect) and its own ``--node-config data-path=...``. Authors are dealt to the nodes in turn
(author k to node k mod N); node i's shards file holds only its authors, and it trains them one
after another (`deployed_apps.train_authors`), so only arrays and counts leave a node. The run
is submitted with ``flwr run`` to this SuperLink's address (a connection in a temporary
``FLWR_HOME/config.toml``, never Flower's local simulation connection); the settings travel in
the app's run config (`deployed_apps.Plan`) and the server app writes its progress and result
files, which this process reads back.

Invariants: every process started here leads a process group of its own (each SuperNode's
SuperExec and ClientApp processes live in its group) and all are stopped by group, SIGTERM then
SIGKILL, when the run ends, fails or is interrupted; every wait is bounded and a SuperLink that
does not come up or answer raises `DeploymentError`, one line saying what to do.

A SuperNode killed mid-round (`kill_node_in_round`, SIGKILL to its group) meets what Flower 1.42
does with a dead node: nothing comes back for it until the SuperLink marks it offline, 2 x its
30 s heartbeat interval after its last heartbeat (fixed in the SuperNode, no flag), and then an
error reply (NODE_UNAVAILABLE) arrives; or the round's ``round_timeout_s`` passes first. The round
aggregates the others' replies and later rounds sample only the nodes still online, so set
``min_nodes`` below the node count (with ``min_nodes`` None every node is required and the next
round would wait for the dead one).

    result = run_deployment(partition, table, ServerConfig(rounds=2, clients_per_round=3, min_nodes=2))
    result.summary["deployment"]  # nodes started and lost, replies and failures per round, wall seconds
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mleditor.errors import MissingExtraError, UnreachableError
from mleditor.federated.client_app import ClientShards
from mleditor.federated.partition import Partition
from mleditor.federated.process_groups import ProcessGroups, cmdline, group_members, wait_until
from mleditor.federated.server_app import RunRecord, ServerConfig, Weights
from mleditor.federated.simulation import QUIET_ENV, OnRound, SimulationResult, initial_weights, print_round, summary
from mleditor.ports import free_ports
from mleditor.training.train import FeatureTable

HOST = "127.0.0.1"
CONNECTION = "mleditor-loopback"  # the SuperLink connection `flwr run` is given (FLWR_HOME/config.toml)
BINARIES = ("flower-superlink", "flower-supernode", "flower-superexec", "flwr", "flwr-serverapp", "flwr-clientapp")
STARTUP_S = 60.0  # for the SuperLink to answer, the nodes to connect and `flwr run` to submit


class DeploymentError(UnreachableError, RuntimeError):
    """The Flower deployment could not be started or reached, or its run failed; the message says what to do."""


def binaries() -> dict[str, str]:
    """Flower's commands, beside this Python first, then on PATH; MissingExtraError naming the extra if absent."""
    here = Path(sys.executable).parent
    found = {}
    for name in BINARIES:
        path = here / name if (here / name).is_file() else shutil.which(name)
        if path is None:
            raise MissingExtraError(f"the Flower command {name!r} was not found beside {sys.executable} or on "
                                    "PATH: pip install 'mleditor[federated]'")
        found[name] = str(path)
    return found


def superlink_answers(address: str, timeout_s: float = 2.0) -> bool:
    """Whether a SuperLink's HTTP health endpoint at host:port answers 200."""
    try:
        with urllib.request.urlopen(f"http://{address}/health", timeout=timeout_s) as response:
            return bool(response.status == 200)
    except (OSError, urllib.error.URLError, ValueError):
        return False


def deal_authors(clients: dict[str, np.ndarray], supernodes: int) -> list[dict[str, np.ndarray]]:
    """Author k (in author order) goes to node k mod `supernodes`: each node's authors and their rows."""
    nodes: list[dict[str, np.ndarray]] = [{} for _ in range(supernodes)]
    for k, (author, rows) in enumerate(clients.items()):
        nodes[k % supernodes][author] = rows
    return nodes


def _toml(value: bool | int | float | str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value) if isinstance(value, str) else repr(value)


def write_app(directory: Path, run_config: dict[str, bool | int | float | str]) -> Path:
    """The Flower app directory `flwr run` builds its FAB from: a pyproject.toml naming `deployed_apps`."""
    directory.mkdir(parents=True, exist_ok=True)
    settings = "\n".join(f"{key} = {_toml(value)}" for key, value in run_config.items())
    (directory / "pyproject.toml").write_text(f"""[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"

[project]
name = "mleditor-federated"
version = "1.0.0"
description = "ML Editor federated training, on a loopback deployment"
license = "Apache-2.0"
dependencies = []

[tool.flwr.app]
publisher = "mleditor"

[tool.flwr.app.components]
serverapp = "mleditor.federated.deployed_apps:server_app"
clientapp = "mleditor.federated.deployed_apps:client_app"

[tool.flwr.app.config]
{settings}
""", encoding="utf-8")
    return directory


def write_flwr_home(home: Path, address: str) -> Path:
    """A FLWR_HOME whose only SuperLink connection, the default, is `address` (insecure, loopback)."""
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text(f"""[superlink]
default = "{CONNECTION}"

[superlink.{CONNECTION}]
address = "{address}"
insecure = true
""", encoding="utf-8")
    return home


def child_env(home: Path, bin_dir: Path) -> dict[str, str]:
    """This environment, quiet, with the temporary FLWR_HOME and Flower's commands first on PATH."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("FLWR_INTERNAL_")}
    env.update(QUIET_ENV)
    env.update({"FLWR_HOME": str(home), "PATH": f"{bin_dir}{os.pathsep}{env.get('PATH', '')}",
                "FLWR_DISABLE_RUNTIME_DEPENDENCY_INSTALLATION": "1", "PYTHONUNBUFFERED": "1"})
    return env


@dataclass
class Kill:
    """Which node to SIGKILL and in which round, and what happened when it was."""

    node: int
    round: int
    at_s: float | None = None  # seconds after the run was submitted
    clientapp_running: bool = False  # the node's ClientApp process was training when it died


@dataclass
class Watch:
    """What the driver has read so far of the server app's progress file."""

    path: Path
    offset: int = 0
    lines: list[dict[str, Any]] = field(default_factory=list)

    def read(self) -> list[dict[str, Any]]:
        """The complete new lines since the last call."""
        if not self.path.exists():
            return []
        with self.path.open("rb") as progress:
            progress.seek(self.offset)
            data = progress.read()
        complete = data[:data.rfind(b"\n") + 1]
        self.offset += len(complete)
        new = [json.loads(line) for line in complete.decode("utf-8").splitlines() if line.strip()]
        self.lines += new
        return new


class Deployment:
    """One loopback deployment run (see the module docstring); `run_deployment` is the way to use it."""

    def __init__(self, workdir: Path, supernodes: int, superlink: str | None, kill: Kill | None,
                 on_round: OnRound | None, timeout_s: float) -> None:
        self.supernodes = supernodes
        self.external = superlink
        ports = free_ports(supernodes + 1)
        self.address, self.node_ports = superlink or f"{HOST}:{ports[0]}", ports[1:]
        self.kill, self.on_round, self.timeout_s = kill, on_round, timeout_s
        self.bins = binaries()
        self.results = workdir / "result"
        self.results.mkdir(parents=True, exist_ok=True)
        self.watch = Watch(self.results / "progress.jsonl")
        self.lost: dict[int, str] = {}
        self.submitted = 0.0
        self.server_app_seen = False

    def start_superlink(self, processes: ProcessGroups) -> None:
        """Our SuperLink (runtime installs off, isolation `process`) and the SuperExec that runs its ServerApp."""
        link = processes.start("superlink", [self.bins["flower-superlink"], "--insecure",
                                             "--disable-runtime-dependency-installation", "--isolation", "process",
                                             "--host", HOST, "--port", self.address.rsplit(":", 1)[1]])
        if not wait_until(lambda: superlink_answers(self.address, 1.0) or link.process.poll() is not None,
                          STARTUP_S) or link.process.poll() is not None:
            raise DeploymentError(f"the Flower SuperLink did not come up on {self.address} within {STARTUP_S:g} s "
                                  f"(its last output: {link.tail()}); check that flower-superlink runs "
                                  "('flower-superlink --help') and that loopback ports are free")
        processes.start("superexec", [self.bins["flower-superexec"], "--insecure", "--runtime-api-address",
                                      self.address, "--parent-pid", str(link.process.pid)])

    def start_supernodes(self, processes: ProcessGroups, shards: list[Path]) -> None:
        for i, path in enumerate(shards):
            processes.start(f"supernode-{i}", [
                self.bins["flower-supernode"], "--insecure", "--superlink", self.address, "--host", HOST,
                "--port", str(self.node_ports[i]), "--max-wait-time", str(int(STARTUP_S)),
                "--node-config", f"data-path={json.dumps(str(path))} node-index={i}"],
                extra_env={"OMP_NUM_THREADS": "1"})  # N nodes share one machine's cores

    def submit(self, processes: ProcessGroups, app: Path) -> str:
        """`flwr run` the app on our SuperLink connection; the run id."""
        submit = processes.start("flwr-run", [self.bins["flwr"], "run", str(app), CONNECTION, "--format", "json"])
        try:
            submit.process.wait(timeout=STARTUP_S)
        except subprocess.TimeoutExpired:
            raise DeploymentError(f"'flwr run' did not submit the run to {self.address} within {STARTUP_S:g} s; "
                                  f"check that the SuperLink answers (curl http://{self.address}/health)") from None
        text = submit.log.read_text(encoding="utf-8", errors="replace")
        answer = _last_json(text)
        if submit.process.returncode != 0 or not answer.get("success"):
            raise DeploymentError(f"'flwr run' could not submit the run to {self.address}: "
                                  f"{answer.get('error-message') or submit.tail()}")
        self.submitted = time.monotonic()
        return str(answer.get("run-id"))

    def follow(self, processes: ProcessGroups) -> dict[str, Any]:
        """Read progress until the result file appears; call `on_round`, kill the chosen node in its round."""
        deadline = time.monotonic() + self.timeout_s
        while time.monotonic() < deadline:
            for line in self.watch.read():
                if self.on_round is not None:
                    self.on_round(int(line["round"]), {"roc_auc": line["roc_auc"], "seconds": line["seconds"]})
            self._maybe_kill(processes)
            self._check(processes)
            self._check_server_app(processes)
            if (failed := self.results / "failed.json").exists():
                error = json.loads(failed.read_text(encoding="utf-8"))["error"]
                raise DeploymentError(f"the federated run failed in its server app: {error}")
            if (result := self.results / "result.json").exists():
                self.watch.read()
                found: dict[str, Any] = json.loads(result.read_text(encoding="utf-8"))
                return found
            time.sleep(0.2)
        raise DeploymentError(f"the federated run did not finish within {self.timeout_s:g} s (rounds done: "
                              f"{max([line['round'] for line in self.watch.lines], default=0)}); see the logs "
                              f"in {processes.logs} or raise round_timeout_s")

    def _maybe_kill(self, processes: ProcessGroups) -> None:
        kill = self.kill
        if kill is None or kill.at_s is not None or not any(line["round"] == kill.round - 1
                                                               for line in self.watch.lines):
            return
        name = f"supernode-{kill.node}"
        pid = processes.children[name].process.pid
        # Wait (bounded) for the node's ClientApp process: the round's message has reached it, training is on.
        kill.clientapp_running = wait_until(lambda: any("flwr-clientapp" in cmdline(member)
                                                        for member in group_members(pid)), 15.0, 0.1)
        processes.kill(name)
        kill.at_s = round(time.monotonic() - self.submitted, 2)
        self.lost[kill.node] = f"killed (SIGKILL) in round {kill.round}"

    def _check(self, processes: ProcessGroups) -> None:
        if self.external is None and processes.children["superlink"].process.poll() is not None:
            raise DeploymentError(f"the Flower SuperLink on {self.address} exited during the run "
                                  f"({processes.children['superlink'].tail()}); see {processes.logs}")
        for i in range(self.supernodes):
            child = processes.children[f"supernode-{i}"]
            if i not in self.lost and child.process.poll() is not None:
                self.lost[i] = f"exited with code {child.process.returncode}: {child.tail()}"

    def _check_server_app(self, processes: ProcessGroups) -> None:
        """Our SuperExec's ServerApp process: once seen, its end without a result file is the run's failure."""
        if "superexec" not in processes.children:
            return
        running = any("flwr-serverapp" in cmdline(pid)
                      for pid in group_members(processes.children["superexec"].process.pid))
        if running or not self.server_app_seen:
            self.server_app_seen = self.server_app_seen or running
            return
        if not wait_until(lambda: any((self.results / name).exists() for name in ("result.json", "failed.json")),
                          5.0):
            raise DeploymentError("the federated run's server app process ended without a result; see its "
                                  f"output in {processes.children['superexec'].log}")

    def facts(self, result: dict[str, Any], run_id: str, authors: list[int]) -> dict[str, Any]:
        """The deployment's own account, beside simulate's summary keys."""
        exchanges = [e for e in result["exchanges"] if e["kind"] == "train"]
        kill = self.kill
        return {
            "engine": "deployment", "superlink": self.address, "run_id": run_id,
            "supernodes": self.supernodes, "nodes_started": self.supernodes, "nodes_lost": len(self.lost),
            "lost": {str(node): why for node, why in sorted(self.lost.items())},
            "connected_at_start": result["connected_at_start"], "authors_per_node": authors,
            "node_training": "each author in turn from the global weights; the node replies their mean "
                             "weighted by questions",
            "sent_per_round": [e["sent"] for e in exchanges],
            "replies_per_round": [e["replies"] for e in exchanges],
            "failures_per_round": [e["failures"] for e in exchanges],
            "round_wall_s": [round(e["seconds"], 2) for e in exchanges],
            "reply_s_per_round": [e["reply_seconds"] for e in exchanges],
            "failure_round": kill.round if kill and kill.at_s is not None else next(
                (r + 1 for r, e in enumerate(exchanges) if e["failures"]), None),
            "killed_at_s": kill.at_s if kill else None,
            "killed_while_training": kill.clientapp_running if kill else None,
        }


def _last_json(text: str) -> dict[str, Any]:
    """The last JSON object in `flwr run --format json` output ({} if none)."""
    start = text.rfind("\n{")
    for candidate in (text[start + 1:] if start >= 0 else "", text.strip()):
        with contextlib.suppress(ValueError):
            found = json.loads(candidate)
            if isinstance(found, dict):
                return found
    return {}


def _check_arguments(clients: dict[str, np.ndarray], config: ServerConfig, supernodes: int,
                     kill_node_in_round: int | None) -> None:
    if not isinstance(supernodes, int) or not 1 <= supernodes <= max(len(clients), 1):
        raise ValueError(f"federated supernodes={supernodes!r} is not valid; expected 1..{len(clients)} "
                         "(each node holds at least one author)")
    if config.private or config.secagg:
        raise ValueError("federated dp_noise and secagg are not valid with the deployment engine yet; expected "
                         "neither (its ClientApp neither clips nor masks), or use the simulation")
    if kill_node_in_round is None:
        return
    if not 1 <= kill_node_in_round <= config.rounds:
        raise ValueError(f"federated kill_node_in_round={kill_node_in_round!r} is not valid; "
                         f"expected 1..{config.rounds}")
    if supernodes < 2 or config.min_nodes is None or config.min_nodes >= supernodes:
        raise ValueError("federated kill_node_in_round needs min_nodes below supernodes (and 2 nodes or more), "
                         "so the others can carry the round")


def run_deployment(partition: Partition, table: FeatureTable, config: ServerConfig, *, supernodes: int = 3,
                   kill_node_in_round: int | None = None, superlink: str | None = None, embed_dim: int = 8,
                   hidden: int = 16, timeout_s: float | None = None, workdir: Path | None = None,
                   on_round: OnRound | None = print_round) -> SimulationResult:
    """Train `config.rounds` rounds on a loopback Flower deployment of `supernodes` SuperNodes.

    The result has simulate's weights and summary keys, plus ``summary["deployment"]``: nodes
    started and lost, sent/replies/failures and wall seconds per round, the round that saw a
    failure. `kill_node_in_round` SIGKILLs the last node's process group once that round's
    training has reached it (needs ``config.min_nodes`` below `supernodes`). `superlink` names a
    running SuperLink's host:port (on this machine: the server app writes under `workdir`) to use
    instead of starting one. `timeout_s` bounds the run (default: 60 s plus, per round,
    ``round_timeout_s`` and 60 s); `workdir` keeps the shards, logs and result files (default: a
    temporary directory, removed unless the run fails).
    """
    clients = partition.clients()
    if len(clients) < 1:
        raise ValueError("federated training needs at least one author with a training question")
    _check_arguments(clients, config, supernodes, kill_node_in_round)
    if superlink is not None and not superlink_answers(superlink):
        raise DeploymentError(f"no Flower SuperLink answers at {superlink} (http://{superlink}/health); start one "
                              "('flower-superlink --insecure') or pass its host:port")
    limit = timeout_s if timeout_s is not None else STARTUP_S + config.rounds * (config.round_timeout_s + 60.0)
    with _workdir(workdir) as directory:
        return _run(directory, partition, table, config, supernodes, superlink,
                    Kill(supernodes - 1, kill_node_in_round) if kill_node_in_round else None,
                    embed_dim, hidden, limit, on_round)


@contextlib.contextmanager
def _workdir(workdir: Path | None) -> Iterator[Path]:
    if workdir is not None:
        workdir.mkdir(parents=True, exist_ok=True)
        yield workdir.resolve()
        return
    directory = Path(tempfile.mkdtemp(prefix="mleditor-deployment-"))
    yield directory  # a failed run leaves it, for the logs its error names
    shutil.rmtree(directory, ignore_errors=True)


def _run(workdir: Path, partition: Partition, table: FeatureTable, config: ServerConfig, supernodes: int,
         superlink: str | None, kill: Kill | None, embed_dim: int, hidden: int, timeout_s: float,
         on_round: OnRound | None) -> SimulationResult:
    from mleditor.federated.deployed_apps import Plan

    started = time.perf_counter()
    clients = partition.clients()
    initial = initial_weights(table, clients, config, embed_dim, hidden)
    deployment = Deployment(workdir, supernodes, superlink, kill, on_round, timeout_s)
    nodes = deal_authors(clients, supernodes)
    shards = write_shards(workdir / "nodes", table, partition, nodes)
    plan = Plan(config, supernodes, str(_save_weights(workdir / "initial.npz", initial)),
                str(write_heldout(workdir / "heldout.npz", table, partition)), str(deployment.results),
                wait_for_nodes_s=STARTUP_S)
    app = write_app(workdir / "app", plan.run_config())
    home = write_flwr_home(workdir / "flwr-home", deployment.address)
    logs = workdir / "logs"
    logs.mkdir(exist_ok=True)
    with ProcessGroups(child_env(home, Path(deployment.bins["flwr"]).parent), logs) as processes:
        if superlink is None:
            deployment.start_superlink(processes)
        deployment.start_supernodes(processes, shards)
        run_id = deployment.submit(processes, app)
        result = deployment.follow(processes)
    weights = _load_weights(deployment.results / "weights.npz")
    record = RunRecord(weights=weights, rounds={int(r): m for r, m in result["rounds"].items()},
                       rejected=list(result["rejected"]),
                       train_metrics={int(r): m for r, m in result["train_metrics"].items()},
                       released=int(result["released"]))
    report = summary(record, config, initial, clients, time.perf_counter() - started)
    report["deployment"] = deployment.facts(result, run_id, [len(node) for node in nodes])
    return SimulationResult(weights, report)


def write_shards(directory: Path, table: FeatureTable, partition: Partition,
                 nodes: list[dict[str, np.ndarray]]) -> list[Path]:
    """One `ClientShards` file per node, over only that node's authors."""
    directory.mkdir(parents=True, exist_ok=True)
    return [ClientShards.build(table.ngram_ids, table.dense, partition.labels, authors).save(
        directory / f"node-{i}.npz") for i, authors in enumerate(nodes)]


def write_heldout(path: Path, table: FeatureTable, partition: Partition) -> Path:
    """The held-out questions the server checks each round's model on, as a one-client shards file."""
    rows = np.flatnonzero(partition.mask("heldout"))
    return ClientShards.build(table.ngram_ids, table.dense, partition.labels, {"heldout": rows}).save(path)


def _save_weights(path: Path, weights: Weights) -> Path:
    with path.open("wb") as out:
        np.savez(out, **weights)  # type: ignore[arg-type]
    return path


def _load_weights(path: Path) -> Weights:
    with np.load(path, allow_pickle=False) as data:
        return {name: data[name] for name in data.files}

