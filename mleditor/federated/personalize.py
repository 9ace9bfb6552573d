"""Per-author models from the final global one, each fitted on that author's own earlier questions only.

Invariant: an author's personal part is a function of the global weights and that author's training
questions; it never sees another author's data or any held-out question. Two kinds:

- ``finetune``: a few Adam steps on the network's dense layers (w1, b1, w2, b2) from the global
  values, the n-gram tables frozen, so the part that differs per author stays small (a few hundred
  floats) and can ship to the author's device;
- ``head``: a per-author output bias (FedPer-style personal layer, here fitted after training):
  the bias b minimizing the author's log loss of (global logit + b) plus ``prior`` · b² / 2, by
  Newton steps; an author with one question moves little.

    parts = personal_heads(global_logits, labels, clients)        # author -> bias
    logits = apply_heads(global_logits_heldout, authors_heldout, parts)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from mleditor.core.scorer import pad_ngram_ids
from mleditor.federated.client_app import LocalData, local_train
from mleditor.federated.partition import Partition
from mleditor.training.network import QuestionNet
from mleditor.training.train import FeatureTable, network_logits

PERSONALIZE = ("none", "finetune", "head")
DENSE_LAYERS = ("w1", "b1", "w2", "b2")


def personal_bias(logits: np.ndarray, labels: np.ndarray, prior: float = 1.0, steps: int = 20) -> float:
    """The bias b minimizing sum log-loss(logits + b, labels) + prior · b² / 2 (Newton's method)."""
    bias = 0.0
    for _ in range(steps):
        p = 1.0 / (1.0 + np.exp(-(logits + bias)))
        gradient = float(np.sum(p - labels)) + prior * bias
        hessian = float(np.sum(p * (1.0 - p))) + prior
        bias -= gradient / hessian
        if abs(gradient) < 1e-8:
            break
    return bias


def personal_heads(logits: np.ndarray, labels: np.ndarray, clients: Mapping[str, np.ndarray],
                   prior: float = 1.0) -> dict[str, float]:
    """Each author's output bias from the global logits of their training rows (`Partition.clients()`)."""
    return {author: round(personal_bias(logits[rows], labels[rows].astype(np.float64), prior), 6)
            for author, rows in clients.items()}


def apply_heads(logits: np.ndarray, authors: np.ndarray, heads: Mapping[str, float]) -> np.ndarray:
    """Global logits plus each row's author bias (0 for an author without a personal part)."""
    offsets = np.array([heads.get(str(author), 0.0) for author in authors], dtype=np.float64)
    shifted: np.ndarray = np.asarray(logits, dtype=np.float64) + offsets
    return shifted


def finetune(weights: Mapping[str, np.ndarray], data: LocalData, steps: int = 5, learning_rate: float = 0.01,
             seed: int = 0) -> dict[str, np.ndarray]:
    """The author's dense layers after `steps` full-batch Adam steps on their questions from the global weights."""
    net = QuestionNet.from_weights(weights)
    net.embedding.weight.requires_grad_(False)
    net.wide.requires_grad_(False)
    local_train(net, data, steps, learning_rate, batch_size=max(1, len(data)), seed=seed)
    tuned = net.to_weights()
    return {name: tuned[name] for name in DENSE_LAYERS}


def finetuned_logits(weights: Mapping[str, np.ndarray], part: Mapping[str, np.ndarray],
                     data: LocalData) -> np.ndarray:
    """Logits of `data` under the global weights with the author's dense layers swapped in."""
    import torch

    net = QuestionNet.from_weights({**weights, **part})
    net.eval()
    with torch.no_grad():
        logits: np.ndarray = net(torch.from_numpy(data.ngram_ids), torch.from_numpy(data.dense)).numpy()
    return logits.astype(np.float64)


def local_data(table: FeatureTable, labels: np.ndarray, rows: np.ndarray) -> LocalData:
    """Rows of a feature table as one client's `LocalData`."""
    return LocalData(pad_ngram_ids([table.ngram_ids[i] for i in rows]), table.dense[rows].astype(np.float32),
                     labels[rows].astype(np.float32))


def personalized_logits(weights: Mapping[str, np.ndarray], partition: Partition, table: FeatureTable, mode: str,
                        steps: int = 5) -> tuple[np.ndarray, dict[str, Any]]:
    """Logits of every row under each author's personal model (`personalize`), and the personal parts.

    Rows of authors without a personal part (never-seen authors) keep the global logit.
    """
    if mode not in PERSONALIZE:
        raise ValueError(f"personalize={mode!r} is not valid; expected one of {', '.join(PERSONALIZE)}")
    logits = network_logits(QuestionNet.from_weights(weights), table).astype(np.float64)
    clients = partition.clients()
    if mode == "none":
        return logits, {}
    if mode == "head":
        heads = personal_heads(logits, partition.labels, clients)
        return apply_heads(logits, partition.authors, heads), heads
    out, parts = logits.copy(), {}
    for author, rows in clients.items():
        part = finetune(weights, local_data(table, partition.labels, rows), steps=steps)
        mine = np.flatnonzero(partition.authors == author)
        out[mine] = finetuned_logits(weights, part, local_data(table, partition.labels, mine))
        parts[author] = {name: value.tolist() for name, value in part.items()}
    return out, parts
