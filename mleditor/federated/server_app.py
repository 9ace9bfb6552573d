"""The Flower `ServerApp`: FedAvg, FedAvgM (server momentum as in Gboard) or FedAdam over sampled authors.

Invariant: the global weights only ever change by aggregating replies that passed `screen_replies`:
an update with a non-finite value, a missing or extra array or a wrong shape is dropped and
counted, and the round goes on with the others (if none is left the global weights stay as they
were). Aggregation is weighted by each client's `num-examples`. Each round samples
`clients_per_round` of the connected nodes (`fraction_train` = K / nodes, `min_train_nodes` = K).

With differential privacy (`dp_noise` sigma and `dp_clip` C) the FedAvg strategy is wrapped in Flower's
`DifferentialPrivacyClientSideFixedClipping`: it sends C to the clients, whose `fixedclipping_mod`
(`private_client.py`) scales each update (trained - received weights) to an L2 norm of at most C;
the server averages and adds Gaussian noise of std sigma·C/K to the average. For that noise to bound
what one client can do, the average must be Σ/K with every client counting once: `PrivateFedAvg`
weights clients uniformly and counts a rejected (screened) or missing update as a zero update
rather than dropping it, so one client moves the average by at most C/K whatever the others send.
A reply carrying an error skips the round (Flower's wrapper; nothing is released, nothing spent).
The noise also lands on the arrays no client trains (the dense normalization, the padding rows);
`restore_fixed` puts them back after the noise (post-processing, which costs no privacy). DP is
offered with FedAvg only: FedAvgM's momentum and FedAdam's moments would carry un-noised averages
into later rounds, outside what the accountant (`privacy.py`) accounts for.

    strategy = make_strategy(ServerConfig(rounds=3, clients_per_round=10), nodes=200, initial=weights)
    app = make_server_app(initial_weights, ServerConfig(...), data_path, nodes, evaluate, record)
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
from flwr.serverapp.strategy import DifferentialPrivacyClientSideFixedClipping, FedAdam, FedAvg, FedAvgM

from mleditor.federated.client_app import from_arrays, to_arrays

STRATEGIES = ("fedavg", "fedavgm", "fedadam")
FIXED_ARRAYS = ("dense_mean", "dense_std")  # set once from the federated statistics; no client trains them
PADDED_ARRAYS = ("wide", "embedding")  # row 0 is the padding id and stays zero (the weight contract)
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
    adam_learning_rate: float = 0.01  # FedAdam only: the server's η (Reddi et al. 2020; β1 0.9, β2 0.99)
    adam_tau: float = 1e-3  # FedAdam only: τ, its adaptivity
    local_epochs: int = 2
    learning_rate: float = 0.01
    batch_size: int = 16
    seed: int = 0
    # A round goes ahead with this many nodes (None: clients_per_round, and every node connected); set it below
    # clients_per_round where a node may drop out mid-run (the Deployment Engine), so the others carry the round.
    min_nodes: int | None = None
    round_timeout_s: float = 3600.0  # how long a round waits for its replies before aggregating what came back
    # Differential privacy (FedAvg only): sigma, the noise std over the clipping norm, and C, that norm (both or none).
    dp_noise: float | None = None
    dp_clip: float | None = None
    dp_delta: float = 1e-5  # the δ at which ε is reported (`privacy.py`); keep it below 1 / clients
    # SecAgg+ (FedAvg only, Flower's legacy path, `secagg.py`): each client's key is split into `secagg_shares`
    # shares among its neighbours, `secagg_threshold` of which rebuild it (to unmask a client that dropped out).
    secagg: bool = False
    secagg_shares: int = 5
    secagg_threshold: int = 3
    secagg_range: float = 1.0  # |update| per coordinate must fit in [-range, range] to be quantized

    @property
    def private(self) -> bool:
        """Whether updates are clipped and noised (differential privacy)."""
        return self.dp_noise is not None

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
        for name in ("adam_learning_rate", "adam_tau"):
            if not getattr(self, name) > 0:
                raise ValueError(f"federated {name}={getattr(self, name)!r} is not valid; expected a number > 0")
        self._check_privacy()

    def _check_privacy(self) -> None:
        for name in ("dp_noise", "dp_clip"):
            value = getattr(self, name)
            if value is not None and not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ValueError(f"federated {name}={value!r} is not valid; expected a number > 0")
        if (self.dp_noise is None) != (self.dp_clip is None):
            raise ValueError(f"federated dp_noise={self.dp_noise!r} with dp_clip={self.dp_clip!r} is not valid; "
                             "expected both (noise multiplier and clipping norm) or neither")
        if not 0.0 < self.dp_delta < 1.0:
            raise ValueError(f"federated dp_delta={self.dp_delta!r} is not valid; expected a number in (0, 1)")
        if self.private and self.strategy != "fedavg":
            raise ValueError(f"federated strategy={self.strategy!r} with dp_noise is not valid; expected fedavg "
                             "(a server optimizer's state would carry un-noised averages across rounds)")
        if not self.secagg:
            return
        if self.strategy != "fedavg" or self.private:
            raise ValueError(f"federated secagg=True with strategy={self.strategy!r}, dp_noise={self.dp_noise!r} is "
                             "not valid; expected strategy fedavg without dp_noise (SecAgg+ runs on Flower's legacy "
                             "FedAvg path)")
        if self.clients_per_round < 3:
            raise ValueError(f"federated clients_per_round={self.clients_per_round!r} with secagg is not valid; "
                             "expected at least 3 (SecAgg+ masks a client with its neighbours' keys)")
        if not (isinstance(self.secagg_shares, int) and self.secagg_shares >= 3):
            raise ValueError(f"federated secagg_shares={self.secagg_shares!r} is not valid; expected an integer >= 3")
        if not (isinstance(self.secagg_threshold, int) and 2 <= self.secagg_threshold < self.secagg_shares):
            raise ValueError(f"federated secagg_threshold={self.secagg_threshold!r} is not valid; expected an "
                             "integer in [2, secagg_shares)")
        if not self.secagg_range > 0:
            raise ValueError(f"federated secagg_range={self.secagg_range!r} is not valid; expected a number > 0")


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
        arrays = content.array_records.get("arrays")
        problem = "no arrays" if arrays is None else problem_with(from_arrays(arrays), reference)
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


class ScreenedFedAdam(ScreensUpdates, FedAdam):  # type: ignore[misc, unused-ignore]
    """FedAdam (an Adam step on the server over the averaged update) that drops malformed or non-finite updates."""


class PrivateFedAvg(ScreenedFedAvg):
    """FedAvg for differential privacy: the mean over the K sampled clients, each counting once.

    A rejected or missing update counts as a zero update (the weights sent), so the result is
    always sent + Σ(update - sent) / K and one client moves it by at most C / K.
    """

    def __init__(self, *, sampled: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.sampled = sampled
        self.sent: Weights = {}

    def configure_train(self, server_round: int, arrays: ArrayRecord, config: ConfigRecord,
                        grid: Grid) -> Iterable[Message]:
        self.sent = from_arrays(arrays)
        messages: Iterable[Message] = super().configure_train(server_round, arrays, config, grid)
        return messages

    def aggregate_train(self, server_round: int,
                        replies: Iterable[Message]) -> tuple[ArrayRecord | None, MetricRecord | None]:
        kept = [m for m in screen_replies(list(replies), self.reference, self._reject) if not m.has_error()]
        if not kept:
            return None, None
        updates = [from_arrays(m.content.array_records["arrays"]) for m in kept]
        mean = {name: (sent + sum(u[name].astype(np.float64) - sent for u in updates) / self.sampled)
                for name, sent in self.sent.items()}
        losses = [_number(m.content.metric_records["metrics"].get("train-loss", math.nan)) for m in kept]
        return to_arrays(mean), MetricRecord({"train-loss": float(np.mean(losses)), "clients": len(kept)})


class PrivateStrategy(DifferentialPrivacyClientSideFixedClipping):  # type: ignore[misc, unused-ignore]
    """Flower's client-side fixed clipping DP around `PrivateFedAvg`, counting the noised releases.

    `released` is the number of rounds whose noised aggregate became the global weights: what the
    accountant composes.
    """

    def __init__(self, strategy: PrivateFedAvg, noise_multiplier: float, clipping_norm: float) -> None:
        super().__init__(strategy, noise_multiplier, clipping_norm, strategy.sampled)
        self.inner = strategy
        self.released = 0

    @property
    def rejected(self) -> list[str]:
        return self.inner.rejected

    def aggregate_train(self, server_round: int,
                        replies: Iterable[Message]) -> tuple[ArrayRecord | None, MetricRecord | None]:
        arrays, metrics = super().aggregate_train(server_round, replies)
        if arrays is None:
            return None, metrics
        self.released += 1
        return to_arrays(restore_fixed(from_arrays(arrays), self.inner.sent)), metrics


def restore_fixed(weights: Weights, sent: Weights) -> Weights:
    """`weights` with the untrained arrays as sent and the padding rows zero (what noise must not touch)."""
    restored = {**weights, **{name: sent[name] for name in FIXED_ARRAYS if name in sent}}
    for name in PADDED_ARRAYS:
        if name in restored:
            restored[name] = restored[name].copy()
            restored[name][0] = 0.0
    return restored


def _number(value: object) -> float:
    return float(value) if isinstance(value, (int, float)) else math.nan


Strategy = ScreenedFedAvg | ScreenedFedAvgM | ScreenedFedAdam | PrivateStrategy


def make_strategy(config: ServerConfig, nodes: int, initial: Weights) -> Strategy:
    """The configured strategy sampling `clients_per_round` of `nodes` per round, without federated evaluation."""
    k = min(config.clients_per_round, nodes)
    least = k if config.min_nodes is None else min(config.min_nodes, k)
    common: dict[str, Any] = {"fraction_train": min(1.0, k / nodes), "fraction_evaluate": 0.0,
                              "min_train_nodes": least,
                              "min_available_nodes": nodes if config.min_nodes is None else least}
    strategy: Strategy
    if config.dp_noise is not None and config.dp_clip is not None:
        inner = PrivateFedAvg(**common, sampled=k)
        inner.screen(initial)
        return PrivateStrategy(inner, config.dp_noise, config.dp_clip)
    if config.strategy == "fedavgm":
        strategy = ScreenedFedAvgM(**common, server_momentum=config.server_momentum,
                                   server_learning_rate=config.server_learning_rate)
    elif config.strategy == "fedadam":
        strategy = ScreenedFedAdam(**common, eta=config.adam_learning_rate, eta_l=config.learning_rate,
                                   tau=config.adam_tau)
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
    released: int = 0  # rounds whose aggregate was released (under DP: noised; what the accountant composes)


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
        record.train_metrics = {r: {k: _number(v) for k, v in m.items()}
                                for r, m in result.train_metrics_clientapp.items()}
        record.released = strategy.released if isinstance(strategy, PrivateStrategy) else len(record.train_metrics)

    return app
