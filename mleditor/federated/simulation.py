"""Run the federated training in Flower's simulation engine: one virtual node per training author.

Invariant: clients see only their own author's training questions (`ClientShards`, one file read by
every simulation actor, each node picking its `partition-id`); the server sees arrays and counts.
The driver (this process) also plays the roles a real deployment splits off: it computes the dense
features' normalization from per-client sums (what one federated statistics round returns), checks
each round's global model on the held-out later questions (`evaluate_fn`, ROC AUC) and, at the
end, fits the Platt calibration on the clients' training logits. Ray runs the clients: on 2 cores,
two actors of one CPU each serve hundreds of virtual authors.

The client app follows the config: `private_client.make_client_app` (its update clipped when
`dp_noise` is set, the server adding the noise) or, with `secagg`, SecAgg+'s legacy client
(`secagg.py`). Either way a `TrafficLog` mod, outside clipping and masking, logs the bytes of each
message a client receives and sends, so the summary's bytes per client per round are measured, as
sent; `client_mods` go outside it (a test's recorder sees the same messages).

    result = simulate(partition, table, ServerConfig(rounds=3, clients_per_round=10))
    result.weights  # the final global weights (the `build_onnx` contract)
    result.summary  # JSON-able: AUC per round, bytes per client per round, seconds per round, rejections, privacy
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mleditor.core.features import DENSE_FEATURES, N_BUCKETS
from mleditor.errors import InvalidInputError
from mleditor.federated.client_app import ClientShards, to_arrays
from mleditor.federated.partition import Partition
from mleditor.federated.server_app import RunRecord, ServerConfig, Weights, make_server_app
from mleditor.training.metrics import roc_auc
from mleditor.training.network import QuestionNet, transform_dense
from mleditor.training.train import FeatureTable, network_logits

if TYPE_CHECKING:
    from flwr.app import Context, Message, RecordDict
    from flwr.clientapp.typing import ClientAppCallable, Mod

OnRound = Callable[[int, dict[str, float]], None]
QUIET_ENV = {"FLWR_TELEMETRY_ENABLED": "0", "FLWR_DISABLE_UPDATE_CHECK": "1", "RAY_USAGE_STATS_ENABLED": "0",
             "RAY_ACCEL_ENV_VAR_OVERRIDE_ON_ZERO": "0"}  # the last silences a FutureWarning per actor


@dataclass(frozen=True)
class SimulationResult:
    weights: Weights
    summary: dict[str, Any]


def content_bytes(content: RecordDict) -> int:
    """The bytes a message's records hold (arrays, metrics, configs), counted as Flower counts them.

    Config records are counted here: Flower 1.42's `ConfigRecord.count_bytes` fails on an empty list
    (SecAgg+'s unmask stage sends one when no neighbour dropped out).
    """
    arrays = sum(record.count_bytes() for record in content.array_records.values())
    metrics = sum(record.count_bytes() for record in content.metric_records.values())
    configs = sum(len(key) + _value_bytes(value) for record in content.config_records.values()
                  for key, value in record.items())
    return int(arrays + metrics + configs)


def _value_bytes(value: object) -> int:
    if isinstance(value, (str, bytes)):
        return len(value)
    if isinstance(value, list):
        return sum(_value_bytes(item) for item in value)
    return 1 if isinstance(value, bool) else 8  # a bool as 1 byte, an int or float as 8 (as Flower)


@dataclass(frozen=True)
class TrafficLog:
    """A client mod: appends (node, round, bytes received, bytes sent) per message to a file in `directory`.

    The round is the message's group id (SecAgg+'s four stages share it) or its config's server-round.
    """

    directory: str

    def __call__(self, msg: Message, context: Context, call_next: ClientAppCallable) -> Message:
        reply = call_next(msg, context)
        config = msg.content.config_records.get("config")
        server_round = msg.metadata.group_id or (str(config.get("server-round", "")) if config else "")
        sent = content_bytes(reply.content) if reply.has_content() else 0
        with open(Path(self.directory) / f"traffic-{os.getpid()}.tsv", "a", encoding="utf-8") as log:
            log.write(f"{context.node_id}\t{server_round}\t{content_bytes(msg.content)}\t{sent}\n")
        return reply

    def per_client_round(self) -> dict[str, float]:
        """Median bytes down and up per (client, round), and how many client-rounds were logged."""
        totals: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
        for path in Path(self.directory).glob("traffic-*.tsv"):
            for line in path.read_text(encoding="utf-8").splitlines():
                node, server_round, down, up = line.split("\t")
                totals[node, server_round][0] += int(down)
                totals[node, server_round][1] += int(up)
        if not totals:
            return {"down": 0.0, "up": 0.0, "client_rounds": 0.0}
        pairs = np.array(list(totals.values()), dtype=np.float64)
        return {"down": float(np.median(pairs[:, 0])), "up": float(np.median(pairs[:, 1])),
                "client_rounds": float(len(pairs))}


def federated_normalization(dense: np.ndarray, clients: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Mean and std of the transformed dense features from per-client (count, sum, sum of squares)."""
    count, total, squares = 0, np.zeros(dense.shape[1]), np.zeros(dense.shape[1])
    for rows in clients.values():
        x = transform_dense(dense[rows]).astype(np.float64)
        count, total, squares = count + len(rows), total + x.sum(axis=0), squares + (x**2).sum(axis=0)
    mean = total / max(count, 1)
    std = np.sqrt(np.maximum(squares / max(count, 1) - mean**2, 0.0))
    std[std < 1e-6] = 1.0
    return mean.astype(np.float32), std.astype(np.float32)


def initial_weights(table: FeatureTable, clients: dict[str, np.ndarray], config: ServerConfig,
                    embed_dim: int, hidden: int) -> Weights:
    import torch

    torch.manual_seed(config.seed)
    net = QuestionNet(N_BUCKETS, len(DENSE_FEATURES), embed_dim, hidden)
    net.set_dense_normalization(*federated_normalization(table.dense, clients))
    return net.to_weights()


def heldout_auc(weights: Weights, table: FeatureTable, labels: np.ndarray) -> float:
    """ROC AUC of `weights` on the (featurized) held-out questions; NaN when they hold one class."""
    if len(set(labels.tolist())) < 2:
        return float("nan")
    return roc_auc(labels, network_logits(QuestionNet.from_weights(weights), table).astype(np.float64))


def print_round(server_round: int, metrics: dict[str, float]) -> None:
    """The default progress line, on stderr: round, held-out ROC AUC, seconds since the previous line."""
    print(f"round {server_round:>3}  held-out ROC AUC {metrics['roc_auc']:.4f}  ({metrics['seconds']:.1f} s)",
          file=sys.stderr, flush=True)


def simulate(partition: Partition, table: FeatureTable, config: ServerConfig, *, embed_dim: int = 8,
             hidden: int = 16, num_cpus: int = 2, on_round: OnRound | None = print_round,
             client_mods: Sequence[Mod] = (), checkpoint: Path | None = None,
             resume: bool = False) -> SimulationResult:
    """Run `config.rounds` rounds over every training author of `partition` (`table` row-aligned with it).

    `client_mods` wrap every client (outermost first), outside clipping and masking: they see each
    message as it arrives and each reply as it leaves. With `checkpoint`, the global weights are
    saved there after every round (`mleditor.federated.checkpoint`); with `resume` too, the run
    continues from the round saved there up to `config.rounds` (refused when the checkpoint is of
    another run, or with DP or SecAgg+, whose accounting and masks do not carry over; a FedAvgM or
    FedAdam server optimizer restarts its state, and the summary says so).
    """
    from flwr.simulation import run_simulation

    from mleditor.federated.checkpoint import Checkpoint, load_checkpoint, run_fingerprint, save_checkpoint

    for name, value in QUIET_ENV.items():
        os.environ.setdefault(name, value)
    clients = partition.clients()
    if len(clients) < 1:
        raise ValueError("federated training needs at least one author with a training question")
    held = partition.mask("heldout")
    held_table, held_labels = table.rows(held), partition.labels[held]
    initial = initial_weights(table, clients, config, embed_dim, hidden)
    fingerprint = run_fingerprint(config, partition, embed_dim=embed_dim, hidden=hidden)
    done = 0
    if resume:
        if checkpoint is None:
            raise ValueError("resume=True needs the checkpoint path to resume from")
        if config.private:
            raise InvalidInputError("--resume is refused with --dp-noise/--dp-clip or --secagg: the privacy "
                                    "accounting and the masks do not carry over; run again without --resume")
        saved = load_checkpoint(checkpoint, fingerprint, initial)
        if saved.round >= config.rounds:
            raise InvalidInputError(f"--resume: {checkpoint} already holds round {saved.round} of {config.rounds}; "
                                    "ask for more --rounds to go on")
        initial, done = saved.weights, saved.round
    record = RunRecord()
    clock = [time.perf_counter()]

    def evaluate(server_round: int, weights: Weights) -> dict[str, float]:
        now = time.perf_counter()
        metrics = {"roc_auc": heldout_auc(weights, held_table, held_labels), "seconds": now - clock[0]}
        clock[0] = now
        if checkpoint is not None and server_round > 0:
            save_checkpoint(checkpoint, Checkpoint(done + server_round, fingerprint, weights))
        if on_round is not None:
            on_round(done + server_round, metrics)
        return metrics

    run_config = replace(config, rounds=config.rounds - done)

    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="mleditor-federated-") as tmp:
        shards = ClientShards.build(table.ngram_ids, table.dense, partition.labels, clients)
        data_path = str(shards.save(Path(tmp) / "clients.npz"))
        traffic = TrafficLog(tmp)
        mods: list[Mod] = [*client_mods, traffic]
        if config.secagg:
            from mleditor.federated import secagg

            largest = float(max(len(rows) for rows in clients.values()))
            server_app = secagg.make_server_app(initial, run_config, data_path, len(clients), evaluate, record,
                                                largest)
            client_app = secagg.make_client_app(mods)
        else:
            from mleditor.federated.private_client import make_client_app

            server_app = make_server_app(initial, run_config, data_path, len(clients), evaluate, record)
            client_app = make_client_app(config.private, mods)
        logging.getLogger("flwr").setLevel(logging.WARNING)
        run_simulation(server_app=server_app, client_app=client_app, num_supernodes=len(clients),
                       backend_config={"client_resources": {"num_cpus": 1, "num_gpus": 0.0},
                                       "init_args": {"num_cpus": num_cpus, "logging_level": logging.ERROR,
                                                     "log_to_driver": False}})
        measured = traffic.per_client_round()
    if record.weights is None:
        raise RuntimeError("the simulation ended before its server app finished; see the Flower log above")
    result = summary(record, config, initial, clients, time.perf_counter() - started, traffic=measured)
    if done:
        result["resumed_from_round"] = done  # roc_auc_per_round starts there (the checkpoint's model, re-checked)
        if config.strategy != "fedavg":
            result["resume_note"] = f"{config.strategy}'s server optimizer state restarted at round {done}"
    return SimulationResult(record.weights, result)


def summary(record: RunRecord, config: ServerConfig, initial: Weights, clients: dict[str, np.ndarray],
            seconds: float, *, traffic: dict[str, float] | None = None) -> dict[str, Any]:
    """The JSON-able account of a run; `traffic` the measured bytes per client per round (`TrafficLog`)."""
    sizes = [len(rows) for rows in clients.values()]
    rounds = sorted(record.rounds)
    array_bytes = to_arrays(initial).count_bytes()
    sent = {"down": array_bytes, "up": array_bytes} if not traffic else {
        "down": int(traffic["down"]), "up": int(traffic["up"]), "measured_client_rounds": int(traffic["client_rounds"])}
    return {
        "config": asdict(config),
        "clients": len(clients),
        "client_questions": {"total": int(sum(sizes)), "median": float(np.median(sizes)), "max": int(max(sizes))},
        "rounds": config.rounds,
        "roc_auc_per_round": [_finite(record.rounds[r]["roc_auc"]) for r in rounds],
        "seconds_per_round": [round(record.rounds[r]["seconds"], 2) for r in rounds if r > 0],
        "bytes_per_client_per_round": {**sent, "parameters": int(sum(v.size for v in initial.values()))},
        "rejected_updates": list(record.rejected),
        "train_loss_per_round": [_finite(m.get("train-loss", float("nan"))) for _, m in
                                 sorted(record.train_metrics.items())],
        "privacy": privacy_summary(record, config, len(clients)),
        "seconds": round(seconds, 1),
    }


def privacy_summary(record: RunRecord, config: ServerConfig, nodes: int) -> dict[str, Any]:
    """What protected the updates: DP (with ε at δ for the rounds released) and SecAgg+, each or None."""
    k = min(config.clients_per_round, nodes)
    dp = None
    if config.dp_noise is not None and config.dp_clip is not None:
        from mleditor.federated.privacy import privacy_spent

        dp = privacy_spent(config.dp_noise, config.dp_clip, k, nodes, record.released, config.dp_delta).as_dict()
    secagg = None
    if config.secagg:
        shares = min(config.secagg_shares, k)
        secagg = {"shares": shares, "threshold": min(config.secagg_threshold, shares - 1),
                  "quantization_range": config.secagg_range, "quantization_levels": 2**22, "modulus": 2**32}
    return {"differential_privacy": dp, "secagg": secagg}


def _finite(value: float) -> float | None:
    return round(float(value), 4) if np.isfinite(value) else None
