"""The device variants: what each is, and the contract a variant builder keeps.

A variant is a model file that takes what the source model takes — `ngram_ids` int64 [B, L] (bucket
ids 1..65,536 as FEATURES.md §7 gives them, right-padded with 0) and `dense` float32 [B, 24] — and
returns `score` float32 [B] (calibrated), so every runtime and every door feeds it the featurizer's
output unchanged. Whatever a variant changes inside (a bucket → row map, folded buckets, int8
tables, its own calibration) lives in its graph.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from mleditor.core.registry import ModelDirectory

Runtime = Literal["onnxruntime", "litert"]


@dataclass(frozen=True)
class BuildOptions:
    """What a builder may need beyond the source model."""

    data_dir: Path | None = None  # the dumps ($MLEDITOR_DATA): for saliency, recalibration, retraining
    keep_percent: float | None = None  # pruned variants: the share of buckets kept, in (0, 100]
    seed: int = 0


@dataclass(frozen=True)
class BuiltVariant:
    """A builder's result, in its work folder; `mleditor.device.bundle` packs it with its manifest."""

    name: str  # the variant's name, e.g. "int8" or "pruned-10-int8"
    model_file: Path  # the one model file (model.onnx, model.ort or model.tflite)
    runtime: Runtime
    description: str  # one line for the variants table
    calibration: dict[str, Any] | None = None  # set when the variant was recalibrated: replaces meta["calibration"]
    meta_updates: dict[str, Any] = field(default_factory=dict)  # anything else meta.json should say
    extra_files: tuple[Path, ...] = ()  # other files the bundle must carry (none for a self-contained graph)


Builder = Callable[[ModelDirectory, Path, BuildOptions], BuiltVariant]
"""`build(source, work_dir, options) -> BuiltVariant`: writes the variant's files under work_dir."""


@dataclass(frozen=True)
class VariantSpec:
    """A variant by name: how to build it and what it needs."""

    name: str
    summary: str
    build: Builder
    needs_data: bool = False  # needs the dumps (saliency, recalibration, retraining)
    extra: str | None = None  # the pip extra its builder needs (e.g. "train", "litert"), None: the base install
