"""The Flower `ClientApp`: one author trains the project's network on their own earlier questions.

Invariant: what a client sends back is the network's named parameter arrays (`QuestionNet.to_weights`
names) and counts (`num-examples`) plus its mean training loss; no text, n-gram id or feature vector
ever leaves. A virtual client is an author: the simulation engine gives each node a `partition-id`,
the index of its author in `ClientShards` (a file every node reads, written by `simulation.py`);
the server's config names the file and the local training settings, so a node holds no state.

The train message carries ``arrays`` (the global weights) and ``config`` with ``data-path``,
``local-epochs``, ``learning-rate``, ``batch-size`` and ``server-round``; the reply carries the
trained ``arrays`` and ``metrics`` {``num-examples``, ``train-loss``}. Evaluate replies carry the
log loss of the received weights on the author's own questions.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import torch
from flwr.app import Array, ArrayRecord, Context, Message, MetricRecord, RecordDict
from flwr.clientapp import ClientApp

from mleditor.core.scorer import pad_ngram_ids
from mleditor.training.network import QuestionNet

app = ClientApp()


@dataclass(frozen=True)
class ClientShards:
    """Every client's training questions, client after client: n-gram ids (flat + offsets), dense rows, labels.

    Client k holds rows `starts[k]:starts[k + 1]`; `authors[k]` names it.
    """

    ids: np.ndarray  # int64, every row's n-gram ids concatenated
    offsets: np.ndarray  # int64 [rows + 1]
    dense: np.ndarray  # float32 [rows, D]
    labels: np.ndarray  # float32 [rows]
    starts: np.ndarray  # int64 [clients + 1]
    authors: np.ndarray  # str [clients]

    @classmethod
    def build(cls, ngram_ids: list[np.ndarray], dense: np.ndarray, labels: np.ndarray,
              clients: dict[str, np.ndarray]) -> ClientShards:
        """Shards from row-aligned features and labels and each author's row indices (`Partition.clients()`)."""
        rows = np.concatenate(list(clients.values())) if clients else np.zeros(0, dtype=np.int64)
        lengths = [len(ngram_ids[i]) for i in rows]
        sizes = [len(index) for index in clients.values()]
        return cls(
            ids=np.concatenate([np.asarray(ngram_ids[i], dtype=np.int64) for i in rows]) if len(rows)
            else np.zeros(0, dtype=np.int64),
            offsets=np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
            dense=np.asarray(dense[rows], dtype=np.float32), labels=np.asarray(labels[rows], dtype=np.float32),
            starts=np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64), authors=np.array(list(clients)),
        )

    def __len__(self) -> int:
        return len(self.authors)

    def save(self, path: Path) -> Path:
        np.savez(path, ids=self.ids, offsets=self.offsets, dense=self.dense, labels=self.labels,
                 starts=self.starts, authors=self.authors)
        return path

    @classmethod
    def load(cls, path: Path) -> ClientShards:
        with np.load(path, allow_pickle=False) as data:
            return cls(**{name: data[name] for name in ("ids", "offsets", "dense", "labels", "starts", "authors")})

    def client(self, k: int) -> LocalData:
        """Client k's questions as padded n-gram ids, raw dense features and labels."""
        if not 0 <= k < len(self):
            raise ValueError(f"partition-id {k} is not valid; expected 0..{len(self) - 1}")
        start, end = int(self.starts[k]), int(self.starts[k + 1])
        ids = [self.ids[self.offsets[i]:self.offsets[i + 1]] for i in range(start, end)]
        return LocalData(pad_ngram_ids(ids), self.dense[start:end], self.labels[start:end])


@dataclass(frozen=True)
class LocalData:
    """One author's questions, ready for the network."""

    ngram_ids: np.ndarray  # int64 [n, L]
    dense: np.ndarray  # float32 [n, D]
    labels: np.ndarray  # float32 [n]

    def __len__(self) -> int:
        return len(self.labels)


@lru_cache(maxsize=2)
def load_shards(path: str) -> ClientShards:
    """The shards at `path`, read once per process (a simulation actor serves many clients)."""
    return ClientShards.load(Path(path))


def to_arrays(weights: dict[str, np.ndarray]) -> ArrayRecord:
    return ArrayRecord({name: Array(np.asarray(value, dtype=np.float32)) for name, value in weights.items()})


def from_arrays(record: ArrayRecord) -> dict[str, np.ndarray]:
    return {name: array.numpy() for name, array in record.items()}


def local_train(net: QuestionNet, data: LocalData, epochs: int, learning_rate: float, batch_size: int,
                seed: int) -> float:
    """`epochs` passes of Adam over the author's questions (every parameter but the normalization); mean loss."""
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(net.parameters(), lr=learning_rate)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    ids, dense = torch.from_numpy(data.ngram_ids), torch.from_numpy(data.dense)
    labels = torch.from_numpy(data.labels)
    net.train()
    losses = []
    for _ in range(epochs):
        order = torch.randperm(len(data), generator=generator)
        for start in range(0, len(data), batch_size):
            index = order[start:start + batch_size]
            optimizer.zero_grad()
            loss = loss_fn(net(ids[index], dense[index]), labels[index])
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
    with torch.no_grad():
        net.wide[0] = 0.0  # the padding entries stay zero (the weight contract)
        net.embedding.weight[0] = 0.0
    return float(np.mean(losses)) if losses else 0.0


def log_loss(net: QuestionNet, data: LocalData) -> float:
    net.eval()
    with torch.no_grad():
        logits = net(torch.from_numpy(data.ngram_ids), torch.from_numpy(data.dense))
        return float(torch.nn.functional.binary_cross_entropy_with_logits(logits, torch.from_numpy(data.labels)))


def _local(msg: Message, context: Context) -> tuple[QuestionNet, LocalData]:
    config = msg.content["config"]
    shards = load_shards(str(config["data-path"]))
    data = shards.client(int(context.node_config["partition-id"]))
    return QuestionNet.from_weights(from_arrays(msg.content.array_records["arrays"])), data


@app.train()  # type: ignore[untyped-decorator, unused-ignore]  # flwr absent: Any
def train(msg: Message, context: Context) -> Message:
    """Train the received global network on this author's earlier questions; send arrays and counts back."""
    net, data = _local(msg, context)
    config: Mapping[str, Any] = msg.content.config_records["config"]
    seed = int(config.get("seed", 0)) * 100_003 + int(config["server-round"]) * 1_009 \
        + int(str(context.node_config["partition-id"]))
    loss = local_train(net, data, int(config["local-epochs"]), float(config["learning-rate"]),
                       int(config["batch-size"]), seed)
    metrics = MetricRecord({"num-examples": len(data), "train-loss": loss})
    return Message(RecordDict({"arrays": to_arrays(net.to_weights()), "metrics": metrics}), reply_to=msg)


@app.evaluate()  # type: ignore[untyped-decorator, unused-ignore]
def evaluate(msg: Message, context: Context) -> Message:
    """The log loss of the received network on this author's own questions, and their count."""
    net, data = _local(msg, context)
    metrics = MetricRecord({"num-examples": len(data), "eval-loss": log_loss(net, data)})
    return Message(RecordDict({"metrics": metrics}), reply_to=msg)
