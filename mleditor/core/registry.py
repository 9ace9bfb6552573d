"""Model directories: what a trained model is made of on disk, and how to find one by name.

A model directory holds `model.onnx`, `meta.json` (featurizer spec version, calibration, typical
values of well-received questions, the training ranges of the dense features, v1 rule calibration,
metrics, data fingerprint, training config, created date) and `card.md`. One directory serves the
three model versions: v1 (rules), v2 (the network's calibrated score) and v3 (v2 plus
model-computed recommendations).
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mleditor.config import PACKAGED_MODELS_DIR, models_dirs
from mleditor.core.features import DENSE_FEATURES, N_BUCKETS, SPEC_VERSION
from mleditor.core.ood import FeatureRanges
from mleditor.errors import ModelError

MODEL_FILE = "model.onnx"
META_FILE = "meta.json"
CARD_FILE = "card.md"
DEFAULT_POINTER = "DEFAULT"
MODEL_VERSIONS = ("v1", "v2", "v3")


@dataclass(frozen=True)
class ModelDirectory:
    """A validated model directory and its metadata."""

    path: Path
    meta: dict[str, Any]

    @property
    def model_id(self) -> str:
        return str(self.meta["model_id"])

    @property
    def onnx_path(self) -> Path:
        return self.path / MODEL_FILE

    @property
    def typical_values(self) -> dict[str, float]:
        """Median of each dense feature among well-received training questions."""
        return {k: float(v) for k, v in self.meta["typical_values"].items()}

    @property
    def v1_calibration(self) -> list[float]:
        """Observed rate of well-received questions by number of failed v1 rules (index = count)."""
        return [float(p) for p in self.meta["v1_calibration"]]

    @functools.cached_property
    def dense_ranges(self) -> FeatureRanges | None:
        """The dense features' training ranges (`mleditor.core.ood`); None for models trained before they were kept."""
        ranges = self.meta.get("dense_ranges")
        return None if ranges is None else FeatureRanges.from_dict(ranges)


def load_model_directory(path: Path) -> ModelDirectory:
    """Open and check a model directory; every problem is a one-line ModelError saying what to do."""
    path = Path(path)
    if not path.is_dir():
        raise ModelError(f"model directory {path} not found; `mleditor models list` shows the installed models")
    meta_path = path / META_FILE
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelError(f"{path} has no {META_FILE}: it is not a model directory "
                         "(train one with `mleditor train`)") from None
    except (OSError, ValueError) as exc:
        raise ModelError(f"{meta_path} cannot be read ({exc}); retrain with `mleditor train`") from None
    except RecursionError:
        raise ModelError(f"{meta_path} cannot be read (nested too deeply); retrain with `mleditor train`") from None
    if not isinstance(meta, dict):
        raise ModelError(f"{meta_path} holds a JSON {type(meta).__name__}, not an object; "
                         "retrain with `mleditor train`")
    if not (path / MODEL_FILE).is_file():
        raise ModelError(f"{path} has no {MODEL_FILE}; retrain with `mleditor train`")
    check_model_meta(path, meta)
    return ModelDirectory(path=path, meta=meta)


def check_model_meta(path: Path, meta: dict[str, Any]) -> None:
    """Check a model directory's meta.json against this featurizer (spec version, features, required keys)."""
    spec = meta.get("featurizer_spec")
    if spec != SPEC_VERSION:
        raise ModelError(
            f"model {path.name} was trained with featurizer spec {spec} but this mleditor implements "
            f"spec {SPEC_VERSION}; retrain it with `mleditor train` or use a matching mleditor release"
        )
    features = meta.get("dense_features")
    if not isinstance(features, list) or tuple(features) != DENSE_FEATURES or meta.get("n_buckets") != N_BUCKETS:
        raise ModelError(
            f"model {path.name} expects other features than spec {SPEC_VERSION} defines; "
            "retrain it with `mleditor train`"
        )
    missing = [key for key in ("model_id", "typical_values", "v1_calibration") if key not in meta]
    if missing:
        raise ModelError(f"{path / META_FILE} lacks {', '.join(missing)}; retrain with `mleditor train`")
    if not _numbers(meta["typical_values"], dict) or not _numbers(meta["v1_calibration"], list):
        raise ModelError(f"{path / META_FILE}: typical_values must be an object of numbers and v1_calibration "
                         "a list of numbers; retrain with `mleditor train`")
    if meta.get("dense_ranges") is not None:
        try:
            FeatureRanges.from_dict(meta["dense_ranges"])
        except ValueError as exc:
            raise ModelError(f"{path / META_FILE}: {exc}; retrain with `mleditor train`") from None


def _numbers(value: object, kind: type[dict[str, Any]] | type[list[Any]]) -> bool:
    """Whether `value` is a dict (or list) whose values are all numbers."""
    if not isinstance(value, kind):
        return False
    items = value.values() if isinstance(value, dict) else value
    return all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in items)


def default_model_id(packaged_dir: Path = PACKAGED_MODELS_DIR) -> str:
    pointer = packaged_dir / DEFAULT_POINTER
    try:
        return pointer.read_text(encoding="utf-8").strip()
    except OSError:
        raise ModelError(f"no default model is installed ({pointer} is missing); pass --model-dir") from None


def resolve_model(name_or_path: str | Path | None = None) -> ModelDirectory:
    """A model by directory path, by id in the registry roots, or the shipped default when None."""
    if name_or_path is None or str(name_or_path) == "default":
        name_or_path = default_model_id()
    candidate = Path(name_or_path)
    if candidate.is_dir():
        return load_model_directory(candidate)
    for root in models_dirs():
        if (root / str(name_or_path)).is_dir():
            return load_model_directory(root / str(name_or_path))
    raise ModelError(
        f"model {name_or_path!r} not found (looked in {', '.join(str(r) for r in models_dirs())}); "
        "`mleditor models list` shows the installed models"
    )


def list_models() -> list[ModelDirectory | tuple[Path, str]]:
    """Every model directory under the registry roots: loaded ones, or (path, why it can't load)."""
    found: list[ModelDirectory | tuple[Path, str]] = []
    for root in models_dirs():
        if not root.is_dir():
            continue
        for path in sorted(p for p in root.iterdir() if (p / META_FILE).is_file()):
            try:
                found.append(load_model_directory(path))
            except ModelError as exc:
                found.append((path, str(exc)))
    return found
