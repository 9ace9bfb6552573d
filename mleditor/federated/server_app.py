"""The Flower `ServerApp`: FedAvg (or FedAvgM, server momentum as in Gboard) over sampled authors.

Invariant: the global weights only ever change by aggregating replies that passed `screen_replies`:
an update with a non-finite value, a missing or extra array or a wrong shape is dropped and
counted, and the round goes on with the others (if none is left the global weights stay as they
were). Aggregation is weighted by each client's `num-examples`. Each round samples
`clients_per_round` of the connected nodes (`fraction_train` = K / nodes, `min_train_nodes` = K).

    strategy = make_strategy(ServerConfig(rounds=3, clients_per_round=10), nodes=200)
    app = make_server_app(initial_weights, ServerConfig(...), data_path, evaluate, record)
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from flwr.app import ArrayRecord, ConfigRecord, Context, Message, MetricRecord
from flwr.serverapp import Grid, ServerApp
from flwr.serverapp.strategy import FedAvg, FedAvgM

from mleditor.federated.client_app import from_arrays, to_arrays

STRATEGIES = ("fedavg", "fedavgm")
log = logging.getLogger("mleditor.federated")

Weights = dict[str, np.ndarray]
EvaluateFn = Callable[[int, Weights], dict[str, float]]


@dataclass(frozen=True)
class ServerConfig:
    """Rounds, sampling, the server optimizer and the clients' local training, checked at construction."""

    rounds: int = 10
    clients_per_round: int = 10
    strategy: str = "fedavg"
    server_momentum: float = 0.9  # FedAvgM only (Gboard: 0.9)
    server_learning_rate: float = 1.0  # FedAvgM only
    local_epochs: int = 2
    learning_rate: float = 0.01
    batch_size: int = 16
    seed: int = 0
    # A round goes ahead with this many nodes (None: clients_per_round, and every node connected); set it below
    # clients_per_round where a node may drop out mid-run (the Deployment Engine), so the others carry the round.
    min_nodes: int | None = None
    round_timeout_s: float = 3600.0  # how long a round waits for its replies before aggregating what came back

    def __post_init__(self) -> None:
        for name in ("rounds", "clients_per_round", "local_epochs", "batch_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"federated {name}={value!r} is not valid; expected an integer of at least 1")
        if self.strategy not in STRATEGIES:
            raise ValueError(f"federated strategy={self.strategy!r} is not valid; expected one of "
                             f"{', '.join(STRATEGIES)}")
        for name in ("learning_rate", "server_learning_rate"):
            if not getattr(self, name) > 0:
                raise ValueError(f"federated {name}={getattr(self, name)!r} is not valid; expected a number > 0")
        if self.min_nodes is not None and (not isinstance(self.min_nodes, int) or self.min_nodes < 1
                                           or self.min_nodes > self.clients_per_round):
            raise ValueError(f"federated min_nodes={self.min_nodes!r} is not valid; expected 1..clients_per_round")
        if not self.round_timeout_s > 0:
            raise ValueError(f"federated round_timeout_s={self.round_timeout_s!r} is not valid; expected seconds > 0")
        if not 0.0 <= self.server_momentum < 1.0:
            raise ValueError(f"federated server_momentum={self.server_momentum!r} is not valid; expected [0, 1)")


def problem_with(arrays: Weights, reference: dict[str, tuple[int, ...]]) -> str | None:
    """Why an update cannot be aggregated (names, shapes, finiteness), or None when it can."""
    if set(arrays) != set(reference):
        return f"arrays {sorted(arrays)} are not the global model's {sorted(reference)}"
    for name, shape in reference.items():
        if arrays[name].shape != shape:
            return f"array {name} has shape {arrays[name].shape}, expected {shape}"
        if not np.all(np.isfinite(arrays[name])):
            return f"array {name} holds a non-finite value"
    return None


def screen_replies(replies: Iterable[Message], reference: dict[str, tuple[int, ...]],
                   on_reject: Callable[[str], None]) -> list[Message]:
    """The replies whose arrays match `reference` and are finite, with positive num-examples; the rest reported."""
    kept = []
    for message in replies:
        if message.has_error():
            kept.append(message)  # the strategy counts and logs failures itself
            continue
        content = message.content
        problem = problem_with(from_arrays(content["arrays"]), reference) if "arrays" in content else "no arrays"
        examples = content["metrics"].get("num-examples", 0) if "metrics" in content else 0
        if problem is None and not (isinstance(examples, (int, float)) and examples > 0):
            problem = f"num-examples {examples!r} is not a positive count"
        if problem is None:
            kept.append(message)
        else:
            on_reject(f"update from node {message.metadata.src_node_id} rejected: {problem}")
    return kept


class ScreensUpdates:
    """Mixin for a message strategy: `aggregate_train` aggregates only the replies `screen_replies` keeps."""

    reference: dict[str, tuple[int, ...]]
    rejected: list[str]

    def screen(self, reference: Weights) -> None:
        self.reference = {name: value.shape for name, value in reference.items()}
        self.rejected = []

    def _reject(self, why: str) -> None:
        log.warning(why)
        self.rejected.append(why)

    def aggregate_train(self, server_round: int,
                        replies: Iterable[Message]) -> tuple[ArrayRecord | None, MetricRecord | None]:
        kept = screen_replies(list(replies), self.reference, self._reject)
        result: tuple[ArrayRecord | None, MetricRecord | None] = super().aggregate_train(  # type: ignore[misc]
            server_round, kept)
        return result


class ScreenedFedAvg(ScreensUpdates, FedAvg):  # type: ignore[misc, unused-ignore]  # FedAvg is Any without flwr
    """FedAvg that drops malformed or non-finite updates."""


class ScreenedFedAvgM(ScreensUpdates, FedAvgM):  # type: ignore[misc, unused-ignore]
    """FedAvgM (server momentum) that drops malformed or non-finite updates."""


def make_strategy(config: ServerConfig, nodes: int, initial: Weights) -> ScreenedFedAvg | ScreenedFedAvgM:
    """The configured strategy sampling `clients_per_round` of `nodes` per round, without federated evaluation."""
    k = min(config.clients_per_round, nodes)
    least = k if config.min_nodes is None else min(config.min_nodes, k)
    common: dict[str, Any] = {"fraction_train": min(1.0, k / nodes), "fraction_evaluate": 0.0,
                              "min_train_nodes": least,
                              "min_available_nodes": nodes if config.min_nodes is None else least}
    strategy: ScreenedFedAvg | ScreenedFedAvgM
    if config.strategy == "fedavgm":
        strategy = ScreenedFedAvgM(**common, server_momentum=config.server_momentum,
                                   server_learning_rate=config.server_learning_rate)
    else:
        strategy = ScreenedFedAvg(**common)
    strategy.screen(initial)
    return strategy


@dataclass
class RunRecord:
    """What the server app leaves behind: final weights, metrics per round, rejections (filled by `main`)."""

    weights: Weights | None = None
    rounds: dict[int, dict[str, float]] = field(default_factory=dict)
    rejected: list[str] = field(default_factory=list)
    train_metrics: dict[int, dict[str, float]] = field(default_factory=dict)


def make_server_app(initial: Weights, config: ServerConfig, data_path: str, nodes: int,
                    evaluate: EvaluateFn, record: RunRecord) -> ServerApp:
    """A ServerApp running `config.rounds` of the strategy; `evaluate(round, weights)` is the server-side check."""
    app = ServerApp()

    def evaluate_fn(server_round: int, arrays: ArrayRecord) -> MetricRecord:
        metrics = evaluate(server_round, from_arrays(arrays))
        record.rounds[server_round] = metrics
        return MetricRecord({name: value for name, value in metrics.items() if math.isfinite(value)})

    @app.main()  # type: ignore[untyped-decorator, unused-ignore]
    def main(grid: Grid, context: Context) -> None:
        strategy = make_strategy(config, nodes, initial)
        train_config = ConfigRecord({"data-path": data_path, "local-epochs": config.local_epochs,
                                     "learning-rate": config.learning_rate, "batch-size": config.batch_size,
                                     "seed": config.seed})
        result = strategy.start(grid=grid, initial_arrays=to_arrays(initial), num_rounds=config.rounds,
                                train_config=train_config, evaluate_fn=evaluate_fn,
                                timeout=config.round_timeout_s)
        record.weights = from_arrays(result.arrays) or dict(initial)  # no round aggregated: unchanged
        record.rejected = list(strategy.rejected)
        record.train_metrics = {r: dict(m) for r, m in result.train_metrics_clientapp.items()}

    return app
