"""Per-author personal model parts: stored inside the model directory, checked when loaded, served by step 4.

A federated run with `--personalize` (`mleditor.federated.output`) writes the parts into the model
directory, so the directory stays one artefact, and records the file in its meta.json::

    meta["personal"] = {"file": "personal.json", "kind": "head", "schema": 1, "authors": 812, "sha256": "..."}
    personal.json    = {"schema": 1, "model_id": "fed-...", "kind": "head", "authors": {"beer:user:42": 0.31}}

An author key is `site:user:<owner id>` (`mleditor.core.records.user_author_key`). Invariant: a part
is checked when a door loads it — the file is there, its sha256 is meta's, the schema is known, the
model id is this directory's, every value is finite and of the right shape — and a kind this
mleditor cannot serve is refused then too; nothing about a part fails at request time.

Kind ``head`` (a per-author output bias) is served exactly: the graph's uncalibrated ``logit``
(an output of every model, `mleditor.core.scorer`) plus the author's bias, through the model's
Platt calibration in float64: ``sigmoid(a · (logit + bias) + b)``, the formula of
`federated.personalize.apply_heads` followed by `training.calibration.apply_platt`; on the same
logits the two agree to float64 rounding (≈1e-16, tested within 1e-6). Kind ``finetune`` (the
author's dense layers) is validated but refused: the graph runs its own dense layers and exposes
neither their input nor a way to swap them without rebuilding it, and serving needs no torch.

    scorer = OnnxScorer.from_path(model.onnx_path)
    pipeline = Pipeline(model, scorer.score, personal=PersonalScorer.for_model(model, scorer.logit))
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeGuard

import numpy as np

from mleditor.core.features import DENSE_FEATURES
from mleditor.core.prediction import Personalization
from mleditor.core.registry import META_FILE, ModelDirectory
from mleditor.core.requests import ModelInput
from mleditor.core.runners import DirectRunner
from mleditor.errors import ModelError

PERSONAL_FILE = "personal.json"
SCHEMA = 1  # the personal file's format; a newer one is refused
KINDS = ("head", "finetune")
SERVED_KINDS = ("head",)
DENSE_LAYERS = ("w1", "b1", "w2", "b2")

LogitFn = Callable[[np.ndarray, np.ndarray], np.ndarray]
"""`logit(ngram_ids int64 [B, L], dense float32 [B, D]) -> float32 [B]`, e.g. `OnnxScorer.logit`."""


@dataclass(frozen=True)
class PersonalParts:
    """A model directory's checked personal parts: author key -> a bias (head) or dense layers (finetune)."""

    model_id: str
    kind: str
    authors: Mapping[str, Any]

    def lookup(self, author: str | None) -> Personalization | None:
        """The author's personalization, or None when they have no part (the global model answers)."""
        return Personalization(self.kind, author) if author is not None and author in self.authors else None

    def only(self, author: str) -> PersonalParts:
        """These parts for one author alone (what a device bundle carries); ModelError when the author has none."""
        if author not in self.authors:
            raise ModelError(f"author {author!r} has no personal part in model {self.model_id} "
                             f"({len(self.authors)} authors have one); check the key (site:user:<owner id>)")
        return PersonalParts(self.model_id, self.kind, {author: self.authors[author]})


def head_scores(logits: np.ndarray, bias: float, calib_a: float, calib_b: float) -> np.ndarray:
    """sigmoid(a · (logit + bias) + b) in float64: the personalized calibrated probability of each logit."""
    shifted = np.asarray(logits, dtype=np.float64) + float(bias)
    scores: np.ndarray = 1.0 / (1.0 + np.exp(-(calib_a * shifted + calib_b)))
    return scores


def write_personal(directory: Path, model_id: str, kind: str, authors: Mapping[str, Any]) -> dict[str, Any]:
    """Write `authors`' parts as the directory's personal.json (checked first); the entry for meta["personal"].

    The caller puts the entry into meta.json (`add_personal` does both for a written model directory).
    """
    document = {"schema": SCHEMA, "model_id": model_id, "kind": kind, "authors": dict(authors)}
    check_parts(directory / PERSONAL_FILE, document, model_id, kind)
    data = (json.dumps(document, separators=(",", ":")) + "\n").encode("utf-8")
    (directory / PERSONAL_FILE).write_bytes(data)
    return {"file": PERSONAL_FILE, "kind": kind, "schema": SCHEMA, "authors": len(authors),
            "sha256": hashlib.sha256(data).hexdigest()}


def add_personal(directory: Path, kind: str, authors: Mapping[str, Any]) -> dict[str, Any]:
    """Write the parts into a written model directory and record them in its meta.json; the updated meta."""
    meta_path = directory / META_FILE
    meta: dict[str, Any] = json.loads(meta_path.read_text(encoding="utf-8"))
    meta["personal"] = write_personal(directory, str(meta["model_id"]), kind, authors)
    meta_path.write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    return meta


def has_personal(model: ModelDirectory) -> bool:
    """Whether the model directory records personal parts (they are checked by `load_personal`)."""
    return model.meta.get("personal") is not None


def load_personal(model: ModelDirectory) -> PersonalParts | None:
    """The directory's personal parts, checked (see the module docstring); None when it has none."""
    entry = model.meta.get("personal")
    if entry is None:
        return None
    where = model.path / META_FILE
    if not isinstance(entry, dict) or not isinstance(entry.get("file"), str) or not isinstance(entry.get("sha256"),
                                                                                              str):
        raise ModelError(f"{where}: \"personal\" must be an object naming the file and its sha256; "
                         "write the model again with `mleditor federated run --personalize head`")
    name = entry["file"]
    if Path(name).name != name or not name:
        raise ModelError(f"{where}: the personal file {name!r} must be a file in the model directory")
    path = model.path / name
    try:
        data = path.read_bytes()
    except OSError:
        raise ModelError(f"model {model.model_id}: its personal parts {path} are missing (meta.json records "
                         "them); copy the whole model directory again") from None
    if hashlib.sha256(data).hexdigest() != entry["sha256"]:
        raise ModelError(f"{path} does not match the sha256 in {META_FILE} (altered or corrupted); copy the "
                         "model directory again or re-run `mleditor federated run`")
    try:
        document = json.loads(data.decode("utf-8"))
    except (ValueError, RecursionError):
        raise ModelError(f"{path} is not valid JSON; re-run `mleditor federated run`") from None
    check_parts(path, document, model.model_id, entry.get("kind"))
    return PersonalParts(model.model_id, str(document["kind"]), _parsed(document))


def check_parts(path: Path, document: object, model_id: str, kind: object) -> None:
    """The personal file's schema, model id, kind and every part's values; ModelError saying what is wrong."""
    redo = "re-run `mleditor federated run`"
    if not isinstance(document, dict):
        raise ModelError(f"{path} must hold a JSON object; {redo}")
    schema = document.get("schema")
    if not isinstance(schema, int) or isinstance(schema, bool) or schema > SCHEMA:
        raise ModelError(f"{path} has schema {schema!r}; this mleditor reads personal files up to schema {SCHEMA}: "
                         "upgrade mleditor or " + redo)
    if document.get("model_id") != model_id:
        raise ModelError(f"{path} holds the personal parts of model {document.get('model_id')!r}, not of "
                         f"{model_id!r}; copy the personal file that came with this model")
    if document.get("kind") not in KINDS or document.get("kind") != kind:
        raise ModelError(f"{path} has kind {document.get('kind')!r} (meta.json says {kind!r}); expected one of "
                         f"{', '.join(KINDS)}, the same in both; {redo}")
    authors = document.get("authors")
    if not isinstance(authors, dict) or not all(isinstance(key, str) and key for key in authors):
        raise ModelError(f"{path}: \"authors\" must map author keys to parts; {redo}")
    check = _check_head if kind == "head" else _check_finetune
    shapes: set[tuple[tuple[int, ...], ...]] = set()
    for author, part in authors.items():
        problem = check(part, shapes)
        if problem:
            raise ModelError(f"{path}: the part of author {author!r} {problem}; {redo}")


def _check_head(part: object, shapes: set[tuple[tuple[int, ...], ...]]) -> str:
    if not _is_number(part):
        return f"must be a number (an output bias); got {type(part).__name__}"
    return "" if math.isfinite(float(part)) else f"is {part}, not a finite number"


def _check_finetune(part: object, shapes: set[tuple[tuple[int, ...], ...]]) -> str:
    if not isinstance(part, dict) or set(part) != set(DENSE_LAYERS):
        return f"must hold exactly the dense layers {', '.join(DENSE_LAYERS)}"
    try:
        arrays = {name: np.asarray(part[name], dtype=np.float64) for name in DENSE_LAYERS}
    except (TypeError, ValueError):
        return "holds a layer that is not an array of numbers"
    w1, b1, w2, b2 = (arrays[name] for name in DENSE_LAYERS)
    if w1.ndim != 2 or w1.shape[0] <= len(DENSE_FEATURES) or b1.shape != (w1.shape[1],) or w2.shape != b1.shape \
            or b2.size != 1:
        return (f"has the wrong shape (w1 {w1.shape}, b1 {b1.shape}, w2 {w2.shape}, b2 {b2.shape}; expected "
                f"w1 [E+{len(DENSE_FEATURES)}, H], b1 [H], w2 [H], b2 one number)")
    if not all(np.all(np.isfinite(value)) for value in arrays.values()):
        return "holds a value that is not finite"
    shapes.add(tuple(value.shape for value in arrays.values()))
    return "" if len(shapes) == 1 else "has other shapes than the other authors' parts"


def _is_number(value: object) -> TypeGuard[int | float]:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _parsed(document: dict[str, Any]) -> dict[str, Any]:
    if document["kind"] == "head":
        return {author: float(bias) for author, bias in document["authors"].items()}
    return {author: {name: np.asarray(part[name], dtype=np.float32) for name in DENSE_LAYERS}
            for author, part in document["authors"].items()}


def platt_calibration(model: ModelDirectory) -> tuple[float, float]:
    """The model's Platt constants (a, b) from meta.json; ModelError when it records none."""
    calibration = model.meta.get("calibration")
    a, b = (calibration.get("a"), calibration.get("b")) if isinstance(calibration, dict) else (None, None)
    if not (_is_number(a) and _is_number(b) and math.isfinite(a) and math.isfinite(b)):
        raise ModelError(f"model {model.model_id} has personal parts but its {META_FILE} records no Platt "
                         "calibration (calibration.a and .b); write the model again with `mleditor federated run`")
    return float(a), float(b)


class PersonalScorer:
    """Step 4 for the inputs of authors with a personal part: their rows' logits, shifted, then calibrated.

    Parameters:
        parts: the checked parts (`load_personal`); only kind "head" can be served.
        logit: the model's uncalibrated logits (`OnnxScorer.logit` on the same model file).
        calibration: the model's Platt constants (a, b) (`platt_calibration`).

    Example — the shipped model with one author's head, as `mleditor federated run --personalize head` writes it::

        import shutil, tempfile
        from pathlib import Path

        from mleditor.core import OnnxScorer, Pipeline, PredictRequest, resolve_model
        from mleditor.core.personal import PersonalScorer, add_personal

        path = Path(tempfile.mkdtemp()) / "se15-personal"
        shutil.copytree(resolve_model(None).path, path)
        add_personal(path, "head", {"beer:user:42": 0.5})
        model = resolve_model(path)
        scorer = OnnxScorer.from_path(model.onnx_path)
        pipeline = Pipeline(model, scorer.score, personal=PersonalScorer.for_model(model, scorer.logit))
        mine = pipeline.run(PredictRequest("Flat beer?", "No bubbles.", version="v2", author="beer:user:42"))
        anyone = pipeline.run(PredictRequest("Flat beer?", "No bubbles.", version="v2"))
        assert mine.to_dict()["personalized"] and mine.prediction.score > anyone.prediction.score
        shutil.rmtree(path.parent)
    """

    def __init__(self, parts: PersonalParts, logit: LogitFn, calibration: tuple[float, float]) -> None:
        if parts.kind not in SERVED_KINDS:
            raise ModelError(
                f"model {parts.model_id} has personal parts of kind {parts.kind!r} (per-author dense layers), "
                "which mleditor cannot serve: ONNX Runtime runs the graph's own dense layers and serving loads "
                "no torch; train with `--personalize head`, or drop \"personal\" from meta.json to serve the "
                "global model")
        self.parts = parts
        self.calib_a, self.calib_b = calibration
        self._runner = DirectRunner(logit)

    @classmethod
    def for_model(cls, model: ModelDirectory, logit: LogitFn) -> PersonalScorer | None:
        """The scorer of the model's personal parts, checked now; None when the model has none."""
        parts = load_personal(model)
        return None if parts is None else cls(parts, logit, platt_calibration(model))

    def lookup(self, author: str | None) -> Personalization | None:
        """The author's personalization, or None when they have no part (the global model answers)."""
        return self.parts.lookup(author)

    def score_inputs(self, inputs: Sequence[ModelInput]) -> list[np.ndarray]:
        """Each input's rows scored with its author's part (every input here has one)."""
        logits = self._runner.score_inputs(inputs)
        return [head_scores(rows, self._bias(item), self.calib_a, self.calib_b) for item, rows in zip(inputs, logits)]

    def _bias(self, item: ModelInput) -> float:
        if item.personal is None:
            raise ValueError("PersonalScorer scores only inputs with a personal part")
        return float(self.parts.authors[item.personal.author])
