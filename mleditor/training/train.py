"""`mleditor train`: dataset → features → network (PyTorch) → calibration → a model directory.

The directory it writes is everything serving needs: model.onnx (built from the weights, with
the calibration inside), meta.json (with the dense features' training ranges, `mleditor.core.ood`)
and card.md. Evaluation fills in the metrics afterwards.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from mleditor import __version__
from mleditor.core.dataset import dataset_fingerprint, read_dataset
from mleditor.core.features import DENSE_FEATURES, N_BUCKETS, SPEC_VERSION, featurize
from mleditor.core.ood import FeatureRanges
from mleditor.core.recommend import V1_RULES
from mleditor.core.records import QuestionRecord
from mleditor.core.registry import META_FILE, MODEL_FILE
from mleditor.training.calibration import fit_platt
from mleditor.training.metrics import roc_auc
from mleditor.training.splits import SplitConfig, assign_splits, label_questions

if TYPE_CHECKING:
    import torch

    from mleditor.training.network import QuestionNet

Progress = Callable[[str, float], None]


@dataclass(frozen=True)
class NetworkConfig:
    """Network size and optimizer settings (chosen on the validation split; see the model card)."""

    embed_dim: int = 8
    hidden: int = 16
    epochs: int = 40
    patience: int = 8
    batch_size: int = 64
    learning_rate: float = 3e-4
    # After stage 1 the wide weights stay fixed by default (rate 0): letting the MLP's early
    # stopping move them again lowered the 5-fold ROC AUC (0.630 → 0.619, see README).
    wide_learning_rate: float = 0.0
    weight_decay: float = 1e-4
    wide_weight_decay: float = 0.0
    # Stage 1 fits the wide n-gram weights alone, to convergence, as an L2-regularized logistic
    # regression (penalty wide_l2 · ||w||² on the summed log loss); 0 skips the stage.
    wide_l2: float = 0.5
    wide_steps: int = 60
    seed: int = 0


@dataclass(frozen=True)
class TrainConfig:
    split: SplitConfig = field(default_factory=SplitConfig)
    network: NetworkConfig = field(default_factory=NetworkConfig)

    def to_dict(self) -> dict[str, Any]:
        return {"split": self.split.to_dict(), "network": asdict(self.network)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrainConfig:
        """The config recorded in a model's meta.json (unknown keys from older versions are ignored)."""
        known_net = set(NetworkConfig.__dataclass_fields__)
        known_split = set(SplitConfig.__dataclass_fields__)
        return cls(SplitConfig(**{k: v for k, v in data["split"].items() if k in known_split}),
                   NetworkConfig(**{k: v for k, v in data.get("network", {}).items() if k in known_net}))


@dataclass
class FeatureTable:
    """Featurized questions: n-gram id arrays and the dense matrix, row-aligned with the records."""

    ngram_ids: list[np.ndarray]
    dense: np.ndarray

    def rows(self, mask: np.ndarray) -> FeatureTable:
        index = np.flatnonzero(mask)
        return FeatureTable([self.ngram_ids[i] for i in index], self.dense[index])


def featurize_records(records: Sequence[QuestionRecord], on_progress: Progress | None = None) -> FeatureTable:
    ids, dense = [], np.zeros((len(records), len(DENSE_FEATURES)), dtype=np.float64)
    for i, record in enumerate(records):
        features = featurize(record.title, record.body)
        ids.append(features.ngram_ids)
        dense[i] = features.dense
        if on_progress and i % 200 == 0:
            on_progress("featurize", i / max(1, len(records)))
    return FeatureTable(ids, dense)


def _batches(table: FeatureTable, labels: np.ndarray, batch_size: int,
             rng: np.random.Generator | None) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    import torch

    from mleditor.core.scorer import pad_ngram_ids

    order = np.arange(len(labels)) if rng is None else rng.permutation(len(labels))
    for start in range(0, len(order), batch_size):
        index = order[start : start + batch_size]
        ids = torch.from_numpy(pad_ngram_ids([table.ngram_ids[i] for i in index]))
        dense = torch.from_numpy(table.dense[index].astype(np.float32))
        yield ids, dense, torch.from_numpy(labels[index].astype(np.float32))


def network_logits(net: QuestionNet, table: FeatureTable) -> np.ndarray:
    import torch

    net.eval()
    out = []
    with torch.no_grad():
        for ids, dense, _ in _batches(table, np.zeros(len(table.dense)), 256, None):
            out.append(net(ids, dense).numpy())
    return np.concatenate(out) if out else np.zeros(0, dtype=np.float32)


def fit_wide(net: QuestionNet, train: FeatureTable, y_train: np.ndarray, l2: float, steps: int) -> None:
    """Stage 1: the wide weights and the output bias as a logistic regression, full batch, by L-BFGS.

    Early stopping on a few hundred validation questions stops the wide part long before it
    converges; a convex fit with an explicit penalty does not depend on that noisy signal.
    """
    import torch

    from mleditor.core.scorer import pad_ngram_ids

    ids = torch.from_numpy(pad_ngram_ids(train.ngram_ids))
    y = torch.from_numpy(y_train.astype(np.float32))
    mask = (ids > 0).float()
    scale = 1.0 / mask.sum(dim=1).clamp(min=1.0).sqrt()
    bias = torch.zeros(1, requires_grad=True)
    optimizer = torch.optim.LBFGS([net.wide, bias], max_iter=steps, line_search_fn="strong_wolfe")
    loss_fn = torch.nn.BCEWithLogitsLoss(reduction="sum")

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        logit = (net.wide[ids] * mask).sum(dim=1) * scale + bias
        loss = loss_fn(logit, y) + l2 * (net.wide[1:] ** 2).sum()
        loss.backward()
        return cast("torch.Tensor", loss)  # nn.Module calls are typed as returning Any

    optimizer.step(closure)  # type: ignore[no-untyped-call]  # torch leaves LBFGS.step(closure) unannotated
    with torch.no_grad():
        net.wide[0] = 0.0
        net.output.bias.copy_(bias)


def fit_network(train: FeatureTable, y_train: np.ndarray, val: FeatureTable, y_val: np.ndarray,
                config: NetworkConfig, on_progress: Progress | None = None) -> tuple[QuestionNet, dict[str, Any]]:
    """Train with AdamW on the log loss; keep the epoch with the best validation ROC AUC."""
    import torch

    from mleditor.training.network import QuestionNet, dense_normalization

    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    net = QuestionNet(N_BUCKETS, len(DENSE_FEATURES), config.embed_dim, config.hidden)
    net.set_dense_normalization(*dense_normalization(train.dense))
    if config.wide_l2 > 0:
        fit_wide(net, train, y_train, config.wide_l2, config.wide_steps)
    groups = [{"params": [p for p in net.parameters() if p is not net.wide],
               "lr": config.learning_rate, "weight_decay": config.weight_decay}]
    if config.wide_learning_rate > 0:
        groups.append({"params": [net.wide], "lr": config.wide_learning_rate, "weight_decay": config.wide_weight_decay})
    else:
        net.wide.requires_grad_(False)
    optimizer = torch.optim.AdamW(groups)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    best_auc, best_epoch = -1.0, 0
    best_state: dict[str, torch.Tensor] | None = None
    history: list[dict[str, float]] = []
    for epoch in range(config.epochs):
        net.train()
        for ids, dense, y in _batches(train, y_train, config.batch_size, rng):
            optimizer.zero_grad()
            loss_fn(net(ids, dense), y).backward()
            optimizer.step()
        val_auc = roc_auc(y_val, network_logits(net, val))
        history.append({"epoch": epoch + 1, "val_roc_auc": round(val_auc, 4)})
        if on_progress:
            on_progress("train", (epoch + 1) / config.epochs)
        if val_auc > best_auc:
            best_auc, best_epoch = val_auc, epoch + 1
            best_state = {k: v.clone() for k, v in net.state_dict().items()}
        elif epoch + 1 - best_epoch >= config.patience:
            break
    if best_state is None:  # epochs=0, or no epoch gave a comparable validation ROC AUC (NaN scores)
        raise ValueError(f"no epoch was kept (epochs={config.epochs}); train for at least one epoch")
    net.load_state_dict(best_state)
    net.wide.requires_grad_(True)
    return net, {"best_epoch": best_epoch, "best_val_roc_auc": round(best_auc, 4), "history": history}


def v1_rule_calibration(dense: np.ndarray, labels: np.ndarray, max_failed: int = 6) -> list[float]:
    """Observed well-received rate by number of failed v1 rules (Laplace-smoothed), index = count."""
    from mleditor.core.recommend import rule_recommendations

    failed = np.array([min(len(rule_recommendations(dict(zip(DENSE_FEATURES, row)))), max_failed) for row in dense])
    return [round((labels[failed == k].sum() + 1) / ((failed == k).sum() + 2), 4) for k in range(max_failed + 1)]


def typical_values(dense: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Median of each dense feature among the well-received training questions."""
    medians = np.median(dense[labels == 1], axis=0)
    return {name: round(float(v), 4) for name, v in zip(DENSE_FEATURES, medians)}


def _model_id(fingerprint: Mapping[str, Any], config: TrainConfig, created: datetime) -> str:
    """Same data files and config on the same day give the same id (ingestion times are left out)."""
    files = sorted(source["sha256"] for source in fingerprint.get("sources", []))
    digest = hashlib.sha256(json.dumps([files, config.to_dict()], sort_keys=True).encode()).hexdigest()
    return f"se-{created:%Y%m%d}-{digest[:8]}"


def train_model(dataset: Path, output_root: Path, config: TrainConfig = TrainConfig(),
                on_progress: Progress | None = None, model_id: str | None = None) -> Path:
    """Train on a dataset file and write a model directory under `output_root`; return its path."""
    started = time.perf_counter()
    records = read_dataset(dataset)
    fingerprint = dataset_fingerprint(dataset)
    labels = label_questions(records, config.split.label_mode, config.split.min_group)
    splits = assign_splits(records, config.split)
    table = featurize_records(records, on_progress)
    train_mask, val_mask = splits == "train", splits == "val"
    net, fit_report = fit_network(table.rows(train_mask), labels[train_mask], table.rows(val_mask),
                                  labels[val_mask], config.network, on_progress)
    calib_a, calib_b = fit_platt(network_logits(net, table.rows(val_mask)).astype(np.float64), labels[val_mask])

    created = datetime.now(UTC)
    model_id = model_id or _model_id(fingerprint, config, created)
    meta = {
        "model_id": model_id,
        "created": created.isoformat(timespec="seconds"),
        "calibration": {"method": "platt", "a": calib_a, "b": calib_b, "fitted_on": "val"},
        "label": {"mode": config.split.label_mode, "definition": "score strictly above the median of its group"},
        "training": {**config.to_dict(), **fit_report, "seconds": round(time.perf_counter() - started, 1)},
        "split_sizes": {name: int((splits == name).sum()) for name in ("train", "val", "test", "holdout")},
        "positive_rate": round(float(labels.mean()), 4),
        "data": fingerprint,
    }
    return write_model_directory(Path(output_root) / model_id, net.to_weights(), meta, table.dense[train_mask],
                                 labels[train_mask])


def write_model_directory(directory: Path, weights: Mapping[str, np.ndarray], meta: Mapping[str, Any],
                          dense: np.ndarray, labels: np.ndarray) -> Path:
    """Write model.onnx and meta.json into `directory` (created); return it.

    `meta` holds what the trainer knows (model_id, created, calibration {a, b, ...}, label,
    training, split_sizes, positive_rate, data); the rest (featurizer spec, typical values,
    dense ranges, v1 calibration) is measured here on the training questions' raw `dense`
    features and `labels`, so every trainer (`train_model`, federated) writes the same directory.
    """
    from mleditor.training.export import save_onnx

    directory.mkdir(parents=True, exist_ok=True)
    calibration = meta["calibration"]
    save_onnx(directory / MODEL_FILE, weights, calibration["a"], calibration["b"],
              {"mleditor.model_id": meta["model_id"], "mleditor.featurizer_spec": SPEC_VERSION})
    full = {
        "model_id": meta["model_id"],
        "created": meta["created"],
        "mleditor_version": __version__,
        "featurizer_spec": SPEC_VERSION,
        "n_buckets": N_BUCKETS,
        "dense_features": list(DENSE_FEATURES),
        **{key: value for key, value in meta.items() if key not in ("model_id", "created")},
        "typical_values": typical_values(dense, labels),
        "dense_ranges": FeatureRanges.measure(dense).to_dict(),
        "v1_rules": [rule.feature for rule in V1_RULES],
        "v1_calibration": v1_rule_calibration(dense, labels),
        "metrics": {},
    }
    (directory / META_FILE).write_text(json.dumps(full, indent=2) + "\n", encoding="utf-8")
    return directory
