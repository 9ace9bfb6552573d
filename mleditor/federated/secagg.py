"""SecAgg+ (Bell et al. 2020) on Flower's legacy path: the server learns the sum of the updates, not one of them.

Invariant: what a client sends in the collect stage is its update (trained - received weights,
weighted by num-examples / max_weight) quantized to integers in [0, 2**22) and masked modulo 2**32
with a private mask and one pairwise mask per neighbour; the pairwise masks cancel in the sum and
the private masks are removed from the sum with the threshold of key shares the neighbours return,
so the server only ever holds masked vectors and their sum. Flower 1.42 offers SecAgg+ only on the
legacy path: `LegacyContext` + `DefaultWorkflow(fit_workflow=SecAggPlusWorkflow(...))` with a
`flwr.server.strategy.FedAvg` (here `SecAggFedAvg`, which adds the averaged update to the weights it
sent) and, on the client, a `NumPyClient` behind `secaggplus_mod`. Local training is the project's
(`client_app.local_train` on `ClientShards`, `QuestionNet`).

Screening as far as masking allows: the server cannot look inside a masked vector, so each client
screens its own update before masking (`server_app.problem_with`: names, shapes, finite values,
plus every value within ±`secagg_range`, beyond which quantization would clip it silently) and
raises instead of sending; SecAgg+ then treats it as a dropped client, unmasks the others with the
shares, and the failure is counted in `RunRecord.rejected`. Updates travel at least 1-d (the server
reshapes them back): Flower 1.42's unmasking rescales each array in place (`vec += offset`), which
silently skips a 0-d array such as the output bias `b2`.

Quantization error: each client's weighted update is stochastically rounded to a grid of step
s = 2·range / 2**22 (4.8e-7 for range 1), the weights n_k / max_weight to a grid of 1 / 2**22, and
the sum is divided by Σ n_k / max_weight; so each coordinate of the aggregate is within
K·s / Σ(n_k / max_weight) of the exact FedAvg average (worst case; the rounding is unbiased, so the
typical error is about √K times smaller). With max_weight the largest client's count, K = 20 and
clients of a tenth of that, the bound is 4.8e-6.

A limit of Flower 1.42's implementation worth knowing: its masks come from numpy's RandomState
seeded with 32 bits folded from the shared keys (`secaggplus_utils.pseudo_rand_gen`), so a masked
vector hides the update from a reader but is not cryptographically strong against a server willing
to search 2**32 seeds.

    app = make_server_app(initial, ServerConfig(secagg=True, clients_per_round=10), data_path, nodes,
                          evaluate, record, max_weight=largest_client)
    client = make_client_app()
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
from flwr.app import Context
from flwr.client import Client, NumPyClient
from flwr.client.mod import secaggplus_mod
from flwr.clientapp import ClientApp
from flwr.clientapp.typing import Mod
from flwr.common import FitIns, FitRes, Parameters, Scalar, ndarrays_to_parameters, parameters_to_ndarrays
from flwr.server import LegacyContext
from flwr.server import ServerConfig as LegacyServerConfig
from flwr.server.client_manager import ClientManager
from flwr.server.client_proxy import ClientProxy
from flwr.server.strategy import FedAvg
from flwr.server.workflow import DefaultWorkflow, SecAggPlusWorkflow
from flwr.server.workflow.constant import MAIN_PARAMS_RECORD
from flwr.serverapp import Grid, ServerApp

from mleditor.federated.client_app import load_shards, local_train
from mleditor.federated.server_app import EvaluateFn, RunRecord, ServerConfig, Weights, problem_with
from mleditor.training.network import QuestionNet

log = logging.getLogger("mleditor.federated")
QUANTIZATION_RANGE = 2**22  # Flower's default target range: each value becomes an integer in [0, 2**22)


def quantization_bound(clients: int, secagg_range: float, weights: Sequence[float], max_weight: float) -> float:
    """The worst-case per-coordinate gap between the SecAgg+ aggregate and the exact FedAvg average."""
    step = 2 * secagg_range / QUANTIZATION_RANGE
    return clients * step / (sum(weights) / max_weight)


class SecAggClient(NumPyClient):  # type: ignore[misc, unused-ignore]
    """One author: trains the received weights on their earlier questions and returns the screened update."""

    def __init__(self, partition_id: int) -> None:
        self.partition_id = partition_id

    def fit(self, parameters: list[np.ndarray],
            config: dict[str, Scalar]) -> tuple[list[np.ndarray], int, dict[str, Scalar]]:
        names = str(config["weight-names"]).split(",")
        received = dict(zip(names, parameters, strict=True))
        data = load_shards(str(config["data-path"])).client(self.partition_id)
        net = QuestionNet.from_weights(received)
        seed = int(config["seed"]) * 100_003 + int(config["server-round"]) * 1_009 + self.partition_id
        loss = local_train(net, data, int(config["local-epochs"]), float(config["learning-rate"]),
                           int(config["batch-size"]), seed)
        trained = net.to_weights()
        update = {name: trained[name] - received[name] for name in names if name in trained}
        problem = problem_with(update, {name: value.shape for name, value in received.items()})
        bound = float(config["secagg-range"])
        if problem is None and any(np.abs(value).max(initial=0.0) > bound for value in update.values()):
            problem = f"an update value exceeds the quantization range ±{bound}"
        if problem is not None:
            raise ValueError(f"update not sent: {problem}")
        # At least 1-d: Flower's unmasking rescales each array in place, which misses a 0-d one (b2).
        return [np.atleast_1d(update[name]) for name in names], len(data), {"train-loss": loss}


def mean_train_loss(metrics: list[tuple[int, dict[str, Scalar]]]) -> dict[str, Scalar]:
    """The clients' training losses weighted by their num-examples."""
    losses = [float(m.get("train-loss", np.nan)) for _, m in metrics]
    return {"train-loss": float(np.average(losses, weights=[n for n, _ in metrics]))}


def client_fn(context: Context) -> Client:
    client: Client = SecAggClient(int(context.node_config["partition-id"])).to_client()
    return client


def make_client_app(mods: Sequence[Mod] = ()) -> ClientApp:
    """The legacy client behind `secaggplus_mod`; `mods` wrap it (outermost first) and see what leaves masked."""
    return ClientApp(client_fn=client_fn, mods=[*mods, secaggplus_mod])


class SecAggFedAvg(FedAvg):  # type: ignore[misc, unused-ignore]
    """Legacy FedAvg whose clients send updates: the SecAgg+ average of them is added to the weights sent.

    Records the failed or screened clients (`rejected`), the mean training loss per round and the
    rounds that aggregated (`released`).
    """

    def __init__(self, names: list[str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.names = names
        self.sent: list[np.ndarray] = []
        self.rejected: list[str] = []
        self.train_loss: dict[int, float] = {}
        self.released = 0

    def configure_fit(self, server_round: int, parameters: Parameters,
                      client_manager: ClientManager) -> list[tuple[ClientProxy, FitIns]]:
        self.sent = parameters_to_ndarrays(parameters)
        instructions: list[tuple[ClientProxy, FitIns]] = super().configure_fit(server_round, parameters,
                                                                                client_manager)
        return instructions

    def aggregate_fit(self, server_round: int, results: list[tuple[ClientProxy, FitRes]],
                      failures: list[Any]) -> tuple[Parameters | None, dict[str, Scalar]]:
        for failure in failures:
            why = f"update from a client not aggregated in round {server_round}: {failure}"
            log.warning(why)
            self.rejected.append(why)
        if not results:
            return None, {}
        mean, metrics = super().aggregate_fit(server_round, results, [])
        if mean is None:
            return None, {}
        self.train_loss[server_round] = float(metrics["train-loss"])
        self.released += 1
        updated = [(sent + delta.reshape(sent.shape)).astype(np.float32)
                   for sent, delta in zip(self.sent, parameters_to_ndarrays(mean), strict=True)]
        return ndarrays_to_parameters(updated), metrics


def make_strategy(config: ServerConfig, nodes: int, initial: Weights, data_path: str,
                  evaluate: EvaluateFn, record: RunRecord) -> SecAggFedAvg:
    """The legacy FedAvg sampling `clients_per_round` of `nodes`, checking each round with `evaluate`."""
    k = min(config.clients_per_round, nodes)
    least = k if config.min_nodes is None else min(config.min_nodes, k)
    names = list(initial)

    def fit_config(server_round: int) -> dict[str, Scalar]:
        return {"data-path": data_path, "local-epochs": config.local_epochs, "learning-rate": config.learning_rate,
                "batch-size": config.batch_size, "seed": config.seed, "server-round": server_round,
                "weight-names": ",".join(names), "secagg-range": config.secagg_range}

    def evaluate_fn(server_round: int, arrays: list[np.ndarray],
                    _: dict[str, Scalar]) -> tuple[float, dict[str, Scalar]]:
        metrics = evaluate(server_round, dict(zip(names, arrays, strict=True)))
        record.rounds[server_round] = metrics
        return 0.0, {name: value for name, value in metrics.items() if np.isfinite(value)}

    return SecAggFedAvg(names, fraction_fit=min(1.0, k / nodes), fraction_evaluate=0.0, min_fit_clients=least,
                        min_available_clients=nodes if config.min_nodes is None else least,
                        evaluate_fn=evaluate_fn, on_fit_config_fn=fit_config,
                        fit_metrics_aggregation_fn=mean_train_loss,
                        initial_parameters=ndarrays_to_parameters([initial[name] for name in names]))


def make_workflow(config: ServerConfig, nodes: int, max_weight: float) -> SecAggPlusWorkflow:
    """SecAgg+ with the configured shares and threshold (fewer where fewer clients are sampled)."""
    k = min(config.clients_per_round, nodes)
    shares = min(config.secagg_shares, k)
    threshold = min(config.secagg_threshold, shares - 1)
    return SecAggPlusWorkflow(num_shares=shares, reconstruction_threshold=threshold, max_weight=max_weight,
                              clipping_range=config.secagg_range, quantization_range=QUANTIZATION_RANGE,
                              timeout=config.round_timeout_s)


def make_server_app(initial: Weights, config: ServerConfig, data_path: str, nodes: int, evaluate: EvaluateFn,
                    record: RunRecord, max_weight: float) -> ServerApp:
    """A ServerApp running `config.rounds` SecAgg+ rounds; `max_weight` bounds a client's num-examples."""
    app = ServerApp()

    @app.main()  # type: ignore[untyped-decorator, unused-ignore]
    def main(grid: Grid, context: Context) -> None:
        strategy = make_strategy(config, nodes, initial, data_path, evaluate, record)
        legacy = LegacyContext(context=context, config=LegacyServerConfig(num_rounds=config.rounds),
                               strategy=strategy)
        DefaultWorkflow(fit_workflow=make_workflow(config, nodes, max_weight))(grid, legacy)
        final = legacy.state.array_records[MAIN_PARAMS_RECORD].to_numpy_ndarrays()
        record.weights = dict(zip(strategy.names, final, strict=True))
        record.rejected = list(strategy.rejected)
        record.train_metrics = {r: {"train-loss": loss} for r, loss in strategy.train_loss.items()}
        record.released = strategy.released

    return app
