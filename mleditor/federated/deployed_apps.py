"""The `ServerApp` and `ClientApp` that Flower's Deployment Engine loads by reference, and the plan they share.

A deployed run's Flower processes import this module by name
(``mleditor.federated.deployed_apps:server_app`` and ``:client_app``, the app's pyproject.toml);
everything they need arrives as data: the run config (`Plan`, written by `deployment.py`) names
the files on the server's side, and each SuperNode's own ``--node-config`` names its shards file.

Invariant: a SuperNode holds only its own authors' training questions (`ClientShards`, one file
per node) and sends back only arrays and counts. It trains its authors one after another, each
from the received global weights as a simulation client would, and replies their mean weighted by
each author's question count, with the total count as ``num-examples``: FedAvg over nodes then
equals FedAvg over all of those nodes' authors. The server app is `make_server_app` (screening,
strategy, ServerConfig) behind a grid that records each round's replies, failures and timing;
it writes each round's line to ``progress.jsonl`` and, at the end, ``weights.npz`` then
``result.json`` (or ``failed.json``) in the plan's result directory.

    plan = Plan(ServerConfig(rounds=2, clients_per_round=3, min_nodes=2), nodes=3, initial_path=...)
    run_config = plan.run_config()  # what [tool.flwr.app.config] carries
"""

from __future__ import annotations

import json
import time
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
from flwr.app import Context, Message, MetricRecord, RecordDict
from flwr.clientapp import ClientApp
from flwr.serverapp import Grid, ServerApp

from mleditor.federated.client_app import ClientShards, from_arrays, load_shards, local_train, to_arrays
from mleditor.federated.server_app import RunRecord, ServerConfig, Weights, make_server_app
from mleditor.federated.simulation import heldout_auc
from mleditor.training.network import QuestionNet
from mleditor.training.train import FeatureTable

client_app = ClientApp()
server_app = ServerApp()
PROGRESS, WEIGHTS, RESULT, FAILED = "progress.jsonl", "weights.npz", "result.json", "failed.json"
POLL_S = 0.5  # how often the server asks the SuperLink for replies (Flower's own grid waits 3 s)


@dataclass(frozen=True)
class Plan:
    """What the server app needs, carried by the run config: the ServerConfig, the node count and three paths.

    `initial_path` holds the initial global weights (npz), `heldout_path` the held-out questions
    the server checks each round's model on (`ClientShards` with one client), `result_dir` where
    the app writes its progress and result; it waits up to `wait_for_nodes_s` for `nodes` SuperNodes.
    """

    config: ServerConfig
    nodes: int
    initial_path: str
    heldout_path: str
    result_dir: str
    wait_for_nodes_s: float = 60.0

    def run_config(self) -> dict[str, bool | int | float | str]:
        """The flat run config: each ServerConfig field under its dashed name (a None is left out), then the plan's."""
        values = {_key(name): value for name, value in asdict(self.config).items() if value is not None}
        return {**values, "nodes": self.nodes, "initial-path": self.initial_path, "heldout-path": self.heldout_path,
                "result-dir": self.result_dir, "wait-for-nodes-s": float(self.wait_for_nodes_s)}

    @classmethod
    def from_run_config(cls, run_config: Mapping[str, Any]) -> Plan:
        settings = {item.name: run_config[_key(item.name)] for item in fields(ServerConfig)
                    if _key(item.name) in run_config}
        return cls(ServerConfig(**settings), int(run_config["nodes"]), str(run_config["initial-path"]),
                   str(run_config["heldout-path"]), str(run_config["result-dir"]),
                   float(run_config["wait-for-nodes-s"]))


def _key(name: str) -> str:
    return name.replace("_", "-")


@dataclass
class Exchange:
    """One send-and-receive: messages sent, good replies, failures (Flower's errors, or no reply), seconds."""

    sent: int
    kind: str = "train"  # the messages' type
    replies: int = 0
    failures: list[str] = field(default_factory=list)
    seconds: float = 0.0
    reply_seconds: list[float] = field(default_factory=list)  # when each good reply came, from the send


class RecordingGrid(Grid):  # type: ignore[misc, unused-ignore]  # Grid is Any without flwr
    """A grid that passes everything to Flower's and records each `send_and_receive` as an `Exchange`."""

    def __init__(self, grid: Grid) -> None:
        self.grid = grid
        self.exchanges: list[Exchange] = []

    def set_run(self, run: Any) -> None:
        self.grid.set_run(run)

    @property
    def run(self) -> Any:
        return self.grid.run

    def create_message(self, content: RecordDict, message_type: str, dst_node_id: int, group_id: str,
                       ttl: float | None = None) -> Message:
        return self.grid.create_message(content, message_type, dst_node_id, group_id, ttl)

    def get_node_ids(self) -> Iterable[int]:
        ids: Iterable[int] = self.grid.get_node_ids()
        return ids

    def push_messages(self, messages: Iterable[Message]) -> Iterable[str]:
        pushed: Iterable[str] = self.grid.push_messages(messages)
        return pushed

    def pull_messages(self, message_ids: Iterable[str]) -> Iterable[Message]:
        pulled: Iterable[Message] = self.grid.pull_messages(message_ids)
        return pulled

    def send_and_receive(self, messages: Iterable[Message], *, timeout: float | None = None) -> Iterable[Message]:
        """Push, then pull every `POLL_S` until every reply is in or `timeout` has passed; record what came."""
        messages = list(messages)
        if not messages:  # the strategy's federated evaluation, off here: nothing to send or record
            return []
        ids = list(self.push_messages(messages))
        pending = {message_id: m.metadata.dst_node_id for message_id, m in zip(ids, messages, strict=True)
                   if message_id}
        exchange = Exchange(sent=len(messages), kind=str(messages[0].metadata.message_type),
                            failures=["a message could not be pushed"] * (len(messages) - len(pending)))
        started = time.monotonic()
        replies: list[Message] = []
        while pending:
            for reply in self.pull_messages(list(pending)):
                pending.pop(reply.metadata.reply_to_message_id, None)
                replies.append(reply)
                _note(exchange, reply, time.monotonic() - started)
            if not pending or (timeout is not None and time.monotonic() - started >= timeout):
                break
            time.sleep(POLL_S)
        exchange.failures += [f"node {node}: no reply within {timeout:g} s" for node in pending.values()]
        exchange.seconds = time.monotonic() - started
        self.exchanges.append(exchange)
        return replies


def _note(exchange: Exchange, reply: Message, seconds: float) -> None:
    if reply.has_error():
        error = reply.error
        exchange.failures.append(f"node {reply.metadata.src_node_id}: error {error.code}: {error.reason}")
    else:
        exchange.replies += 1
        exchange.reply_seconds.append(round(seconds, 2))


def wait_for_nodes(grid: Grid, nodes: int, timeout_s: float) -> int:
    """Wait up to `timeout_s` for `nodes` connected SuperNodes (so round 1 samples them all); how many came."""
    deadline = time.monotonic() + timeout_s
    while (count := len(list(grid.get_node_ids()))) < nodes and time.monotonic() < deadline:
        time.sleep(POLL_S)
    return count


def heldout_table(path: str) -> tuple[FeatureTable, np.ndarray]:
    """The held-out questions (a one-client `ClientShards` file) as a FeatureTable and their labels."""
    shards = ClientShards.load(Path(path))
    ids = [shards.ids[shards.offsets[i]:shards.offsets[i + 1]] for i in range(len(shards.labels))]
    return FeatureTable(ids, shards.dense), shards.labels


def write_json(path: Path, value: Any) -> None:
    """Write `value` as JSON to `path` at once (a reader never sees half a file)."""
    partial = path.with_suffix(".partial")
    partial.write_text(json.dumps(value) + "\n", encoding="utf-8")
    partial.replace(path)


class ServerRun:
    """One deployed server run: the evaluation each round, its progress line, and the result files."""

    def __init__(self, plan: Plan) -> None:
        self.plan, self.out = plan, Path(plan.result_dir)
        with np.load(plan.initial_path, allow_pickle=False) as data:
            self.initial: Weights = {name: data[name] for name in data.files}
        self.heldout, self.labels = heldout_table(plan.heldout_path)
        self.record = RunRecord()
        self.clock = time.perf_counter()
        self.grid: RecordingGrid | None = None

    def evaluate(self, server_round: int, weights: Weights) -> dict[str, float]:
        now = time.perf_counter()
        metrics = {"roc_auc": heldout_auc(weights, self.heldout, self.labels), "seconds": now - self.clock}
        self.clock = now
        exchange = self.grid.exchanges[-1] if self.grid and self.grid.exchanges and server_round > 0 else None
        line = {"round": server_round, **metrics, "exchange": asdict(exchange) if exchange else None}
        with (self.out / PROGRESS).open("a", encoding="utf-8") as progress:
            progress.write(json.dumps(line) + "\n")
        return metrics

    def __call__(self, grid: Grid, context: Context) -> None:
        self.grid = RecordingGrid(grid)
        connected = wait_for_nodes(self.grid, self.plan.nodes, self.plan.wait_for_nodes_s)
        app = make_server_app(self.initial, self.plan.config, "", self.plan.nodes, self.evaluate, self.record)
        app(self.grid, context)
        weights = self.record.weights or self.initial
        np.savez(self.out / WEIGHTS, **weights)  # type: ignore[arg-type]
        write_json(self.out / RESULT, {
            "rounds": {str(r): m for r, m in self.record.rounds.items()}, "rejected": self.record.rejected,
            "train_metrics": {str(r): m for r, m in self.record.train_metrics.items()},
            "exchanges": [asdict(e) for e in self.grid.exchanges], "connected_at_start": connected,
            "released": self.record.released,
        })


@server_app.main()  # type: ignore[untyped-decorator, unused-ignore]
def server_main(grid: Grid, context: Context) -> None:
    """Run the plan in the run config; on any failure leave ``failed.json`` so the driver stops waiting."""
    plan = Plan.from_run_config(context.run_config)
    try:
        ServerRun(plan)(grid, context)
    except BaseException as error:
        write_json(Path(plan.result_dir) / FAILED, {"error": f"{type(error).__name__}: {error}"})
        raise


def train_authors(received: Weights, shards: ClientShards, config: Mapping[str, Any]) -> tuple[Weights, int, float]:
    """Each author of `shards` trains from `received`; their weights and loss averaged by question count."""
    sums: dict[str, np.ndarray] = {}
    total, loss_sum = 0, 0.0
    for k in range(len(shards)):
        data = shards.client(k)
        net = QuestionNet.from_weights(received)
        seed = int(config.get("seed", 0)) * 100_003 + int(config["server-round"]) * 1_009 \
            + zlib.crc32(str(shards.authors[k]).encode()) % 1_009
        loss = local_train(net, data, int(config["local-epochs"]), float(config["learning-rate"]),
                           int(config["batch-size"]), seed)
        for name, value in net.to_weights().items():
            sums[name] = sums.get(name, 0.0) + len(data) * value.astype(np.float64)
        total, loss_sum = total + len(data), loss_sum + len(data) * loss
    mean = {name: (value / max(total, 1)).astype(np.float32) for name, value in sums.items()}
    return mean, total, loss_sum / max(total, 1)


@client_app.train()  # type: ignore[untyped-decorator, unused-ignore]
def train(msg: Message, context: Context) -> Message:
    """Train the received global network on this node's authors (its own ``data-path``); arrays and counts back."""
    shards = load_shards(str(context.node_config["data-path"]))
    content = msg.content
    weights, examples, loss = train_authors(from_arrays(content.array_records["arrays"]), shards,
                                            content.config_records["config"])
    metrics = MetricRecord({"num-examples": examples, "train-loss": loss})
    return Message(RecordDict({"arrays": to_arrays(weights), "metrics": metrics}), reply_to=msg)
