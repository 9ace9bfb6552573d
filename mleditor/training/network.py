"""The question-quality network in PyTorch, for training; its weights are plain named numpy arrays.

For a batch of B questions with hashed n-gram ids `ngram_ids` [B, L] (1..V, right-padded with 0)
and raw handcrafted features `dense` [B, D]::

    mask      = ngram_ids > 0;  count = max(sum(mask, axis=1), 1)
    emb_mean  = sum_L embedding[ngram_ids] / count                  # [B, E]
    wide_term = sum_L wide[ngram_ids] / sqrt(count)                 # [B]
    dense_n   = (sign(dense) * log1p(|dense|) - dense_mean) / dense_std
    h         = relu(concat([emb_mean, dense_n]) @ w1 + b1)         # [B, H]
    logit     = h @ w2 + b2 + wide_term                             # [B]

Calibration (`sigmoid(calib_a * logit + calib_b)`) is fitted after training and added by
`mleditor.training.export.build_onnx`, which builds the serving graph from `to_weights()`.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
from torch import nn

from mleditor.training.export import validate_weights


def transform_dense(dense: np.ndarray) -> np.ndarray:
    """The fixed squashing applied to raw dense features: sign(x) * log1p(|x|), as float32."""
    dense = np.asarray(dense, dtype=np.float32)
    transformed: np.ndarray = np.sign(dense) * np.log1p(np.abs(dense))
    return transformed


def dense_normalization(dense: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and std of the transformed features of raw `dense` [N, D]; a constant feature gets std 1."""
    transformed = transform_dense(dense)
    if transformed.ndim != 2 or transformed.shape[0] == 0:
        raise ValueError(f"dense must be a non-empty [N, D] array; got shape {transformed.shape}")
    mean = transformed.mean(axis=0, dtype=np.float64)
    std = transformed.std(axis=0, dtype=np.float64)
    std[std < 1e-6] = 1.0
    return mean.astype(np.float32), std.astype(np.float32)


class QuestionNet(nn.Module):
    """Wide (per-bucket weight) plus deep (n-gram embedding mean and dense features through an MLP) logit."""

    # Buffers (register_buffer below), declared so their type is Tensor rather than Tensor | Module.
    dense_mean: torch.Tensor
    dense_std: torch.Tensor

    def __init__(self, n_buckets: int, dense_dim: int, embed_dim: int = 16, hidden: int = 32) -> None:
        super().__init__()
        sizes = {"n_buckets": n_buckets, "dense_dim": dense_dim, "embed_dim": embed_dim, "hidden": hidden}
        for name, value in sizes.items():
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive integer; got {value!r}")
        n_buckets, dense_dim, embed_dim, hidden = (int(value) for value in sizes.values())
        self.n_buckets = n_buckets
        self.dense_dim = dense_dim
        # Row 0 is padding: padding_idx keeps it at zero and gives it no gradient.
        self.embedding = nn.Embedding(n_buckets + 1, embed_dim, padding_idx=0)
        # Entry 0 starts at zero and never moves: forward multiplies the gathered values by the mask.
        self.wide = nn.Parameter(torch.zeros(n_buckets + 1))
        self.hidden = nn.Linear(embed_dim + dense_dim, hidden)
        self.output = nn.Linear(hidden, 1)
        self.register_buffer("dense_mean", torch.zeros(dense_dim))
        self.register_buffer("dense_std", torch.ones(dense_dim))

    def set_dense_normalization(
        self, mean: np.ndarray | torch.Tensor, std: np.ndarray | torch.Tensor
    ) -> None:
        """Set the (non-trainable) statistics of the transformed dense features; see `dense_normalization`."""
        mean_t = torch.as_tensor(mean, dtype=torch.float32).detach().cpu()
        std_t = torch.as_tensor(std, dtype=torch.float32).detach().cpu()
        expected = (self.dense_dim,)
        if tuple(mean_t.shape) != expected or tuple(std_t.shape) != expected:
            raise ValueError(
                f"dense normalization must have shape {expected}; "
                f"got mean {tuple(mean_t.shape)}, std {tuple(std_t.shape)}"
            )
        if not (torch.isfinite(mean_t).all() and torch.isfinite(std_t).all() and (std_t > 0).all()):
            raise ValueError(
                "dense normalization must be finite with std > 0 (use 1.0 for a constant feature)"
            )
        with torch.no_grad():
            self.dense_mean.copy_(mean_t)
            self.dense_std.copy_(std_t)

    def forward(self, ngram_ids: torch.Tensor, dense: torch.Tensor) -> torch.Tensor:
        """Uncalibrated logit [B] for `ngram_ids` int64 [B, L] and raw `dense` float32 [B, D]."""
        if (
            ngram_ids.dim() != 2
            or dense.dim() != 2
            or tuple(dense.shape) != (ngram_ids.shape[0], self.dense_dim)
        ):
            raise ValueError(
                f"expected ngram_ids [B, L] and dense [B, {self.dense_dim}]; "
                f"got {tuple(ngram_ids.shape)} and {tuple(dense.shape)}"
            )
        mask = (ngram_ids > 0).to(dense.dtype)
        count = mask.sum(dim=1).clamp(min=1.0)
        embedding_mean = self.embedding(ngram_ids).sum(dim=1) / count.unsqueeze(1)
        wide_term = (self.wide[ngram_ids] * mask).sum(dim=1) / count.sqrt()
        dense_transformed = torch.sign(dense) * torch.log1p(dense.abs())
        dense_normalized = (dense_transformed - self.dense_mean) / self.dense_std
        hidden = torch.relu(self.hidden(torch.cat([embedding_mean, dense_normalized], dim=1)))
        logit: torch.Tensor = self.output(hidden).squeeze(1) + wide_term
        return logit

    def to_weights(self) -> dict[str, np.ndarray]:
        """The weights under their contract names, as float32 numpy copies (what `build_onnx` takes)."""

        def array(tensor: torch.Tensor) -> np.ndarray:
            return tensor.detach().cpu().to(torch.float32).numpy().copy()

        return {
            "embedding": array(self.embedding.weight),
            "wide": array(self.wide),
            "dense_mean": array(self.dense_mean),
            "dense_std": array(self.dense_std),
            "w1": array(self.hidden.weight.T),
            "b1": array(self.hidden.bias),
            "w2": array(self.output.weight[0]),
            "b2": array(self.output.bias[0]),
        }

    @classmethod
    def from_weights(cls, weights: Mapping[str, np.ndarray]) -> QuestionNet:
        """Rebuild a network from contract weights (sizes are read from the shapes; ValueError if invalid)."""
        arrays, shape = validate_weights(weights)
        net = cls(shape.n_buckets, shape.dense_dim, embed_dim=shape.embed_dim, hidden=shape.hidden)
        with torch.no_grad():
            net.embedding.weight.copy_(torch.from_numpy(arrays["embedding"]))
            net.wide.copy_(torch.from_numpy(arrays["wide"]))
            net.hidden.weight.copy_(torch.from_numpy(arrays["w1"].T.copy()))
            net.hidden.bias.copy_(torch.from_numpy(arrays["b1"]))
            net.output.weight.copy_(torch.from_numpy(arrays["w2"][None, :]))
            net.output.bias.copy_(torch.from_numpy(arrays["b2"].reshape(1)))
        net.set_dense_normalization(arrays["dense_mean"], arrays["dense_std"])
        return net
