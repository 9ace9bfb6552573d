"""A device bundle: one variant of a model directory, packed to run offline, and checked before it runs.

A bundle is a folder::

    model.onnx | model.ort | model.tflite   the variant's one model file (inputs and output as variants.py says)
    meta.json                              the source model's metadata, with the variant's id and calibration
    card.md                                the model card: the source's, plus what the variant changed
    personal.json                          only with `--author`: that one author's personal part
                                           (`mleditor.core.personal`), which every answer then applies
    manifest.json                          format, variant, runtime, model file, the sha256 and size of every
                                           file above, featurizer spec, source model id, measured quality,
                                           the tolerance versus the source and `personal` (kind, author)

`load_bundle` refuses, with one line saying what to do, a folder that is missing or partial, a file
whose hash or size differs from the manifest's (altered or truncated), a manifest of a newer format,
a featurizer spec this mleditor does not implement, and a model file that is not the kind its name
says. Nothing here imports a door, torch or an inference engine.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mleditor.core.features import SPEC_VERSION
from mleditor.core.registry import CARD_FILE, META_FILE, ModelDirectory, check_model_meta
from mleditor.device.variants import BuiltVariant, Runtime
from mleditor.errors import ModelError

MANIFEST_FILE = "manifest.json"
FORMAT = 1  # the manifest's format; a bundle of a newer one is refused
MODEL_FILES: dict[str, Runtime] = {"model.onnx": "onnxruntime", "model.ort": "onnxruntime",
                                   "model.tflite": "litert"}
_TFLITE_MAGIC = b"TFL3"  # bytes 4-8 of every TFLite flatbuffer
_ORT_MAGIC = b"ORTM"  # bytes 4-8 of an ORT-format flatbuffer


@dataclass(frozen=True)
class DeviceBundle:
    """A checked bundle: its model directory view, its manifest, and which file and engine run it."""

    path: Path
    manifest: dict[str, Any]
    model: ModelDirectory

    @property
    def variant(self) -> str:
        return str(self.manifest["variant"])

    @property
    def runtime(self) -> Runtime:
        return MODEL_FILES[self.model_file.name]

    @property
    def model_file(self) -> Path:
        return self.path / str(self.manifest["model_file"])

    @property
    def author(self) -> str | None:
        """The author whose personal part this bundle applies to every question, or None (the global model)."""
        personal = self.manifest.get("personal")
        return str(personal["author"]) if isinstance(personal, dict) else None

    @property
    def tolerance(self) -> float:
        """The largest |score - source score| measured for this variant (0 for the source itself)."""
        return float(self.manifest["tolerance"]["max_abs_delta_score"])


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_bundle(source: ModelDirectory, built: BuiltVariant, output: Path, *, quality: dict[str, Any] | None,
                 max_abs_delta_score: float, measured_on: str = "every real question",
                 card_note: str = "", author: str | None = None) -> DeviceBundle:
    """Pack `built` (a variant of `source`) into the folder `output` (replaced if it is a bundle) and check it.

    With `author`, the bundle carries that author's personal part from `source` (and no other's).
    """
    if built.model_file.name not in MODEL_FILES:
        raise ModelError(f"a variant's model file must be one of {', '.join(MODEL_FILES)}; got {built.model_file.name}")
    from mleditor.core.personal import PERSONAL_FILE, write_personal  # it runs the model: numpy, onnxruntime

    parts = _author_part(source, built, author) if author is not None else None
    _prepare_output(output)
    model_id = f"{source.model_id}+{built.name}"
    meta = {**source.meta, **built.meta_updates, "model_id": model_id,
            "variant": {"name": built.name, "source_model_id": source.model_id, "runtime": built.runtime,
                        "description": built.description}}
    meta.pop("personal", None)  # the source's parts stay with the source; a bundle carries one author's at most
    if built.calibration is not None:
        meta["calibration"] = built.calibration
    shutil.copyfile(built.model_file, output / built.model_file.name)
    for extra in built.extra_files:
        shutil.copyfile(extra, output / extra.name)
    names = [built.model_file.name, META_FILE, CARD_FILE, *(extra.name for extra in built.extra_files)]
    if parts is not None:
        meta["personal"] = write_personal(output, model_id, parts.kind, parts.authors)
        names.append(PERSONAL_FILE)
    (output / META_FILE).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    (output / CARD_FILE).write_text(_card(source, built, model_id, quality, card_note), encoding="utf-8")
    manifest = {
        "format": FORMAT, "variant": built.name, "runtime": built.runtime, "model_file": built.model_file.name,
        "model_id": model_id, "source_model_id": source.model_id, "featurizer_spec": SPEC_VERSION,
        "created": datetime.now(UTC).isoformat(timespec="seconds"), "description": built.description,
        "files": {name: {"sha256": sha256_of(output / name), "bytes": (output / name).stat().st_size}
                  for name in names},
        "quality": quality,
        "tolerance": {"max_abs_delta_score": max_abs_delta_score, "measured_on": measured_on},
        "personal": None if parts is None else {"kind": parts.kind, "author": author, "file": PERSONAL_FILE},
    }
    (output / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return load_bundle(output)


def _author_part(source: ModelDirectory, built: BuiltVariant, author: str) -> Any:
    """The source's personal part of `author` alone, for a variant that can apply it; ModelError otherwise."""
    from mleditor.core.personal import SERVED_KINDS, load_personal

    parts = load_personal(source)
    if parts is None:
        raise ModelError(f"model {source.model_id} has no personal parts, so --author has nothing to include; "
                         "use a model written by `mleditor federated run --personalize head`")
    if parts.kind not in SERVED_KINDS:
        raise ModelError(f"model {source.model_id}'s personal parts are of kind {parts.kind!r}, which a bundle "
                         f"cannot apply (only {', '.join(SERVED_KINDS)}); drop --author")
    if built.calibration is not None or built.runtime != "onnxruntime":
        raise ModelError(f"variant {built.name} cannot apply a personal part: it is fitted on the source's logits, "
                         "and this variant is recalibrated or has no logit output; choose fp32, fp32-ort, int8 "
                         "or fp16")
    return parts.only(author)


def _prepare_output(output: Path) -> None:
    """An empty folder at `output`: created, or emptied when it already holds a bundle (never anything else)."""
    if output.exists():
        if not output.is_dir():
            raise ModelError(f"{output} exists and is not a folder; choose another --output")
        if any(output.iterdir()) and not (output / MANIFEST_FILE).is_file():
            raise ModelError(f"{output} is not empty and holds no bundle; choose an empty or new --output")
        shutil.rmtree(output)
    output.mkdir(parents=True)


def _card(source: ModelDirectory, built: BuiltVariant, model_id: str, quality: dict[str, Any] | None,
          note: str) -> str:
    source_card = source.path / CARD_FILE
    base = source_card.read_text(encoding="utf-8") if source_card.is_file() else f"# {source.model_id}\n"
    measured = ("not measured (built without the data)" if quality is None
                else ", ".join(f"{key} {value:.4g}" for key, value in quality.items()
                               if isinstance(value, float) and key.startswith(("test_", "holdout_", "max_", "p99_"))))
    return (f"# {model_id}: the {built.name} device variant of {source.model_id}\n\n{built.description}. "
            f"Runtime: {built.runtime}. Measured against {source.model_id}: {measured}.{(' ' + note) if note else ''}\n"
            f"The training data, its license and its credits are the source model's, below.\n\n---\n\n{base}")


def load_bundle(path: Path | str) -> DeviceBundle:
    """Open and check a bundle; every problem is a one-line ModelError saying what to do."""
    path = Path(path)
    rebuild = "rebuild it with `mleditor device build`"
    if not path.is_dir():
        raise ModelError(f"bundle {path} not found; build one with `mleditor device build --output {path}`")
    manifest = _read_json(path / MANIFEST_FILE, rebuild)
    check_manifest(path, manifest)
    for name, expected in manifest["files"].items():
        file = path / name
        if not file.is_file():
            raise ModelError(f"bundle {path} is missing {name} (partial copy?); copy it again or {rebuild}")
        if file.stat().st_size != expected.get("bytes") or sha256_of(file) != expected.get("sha256"):
            raise ModelError(f"bundle {path}: {name} does not match its manifest (altered or truncated); "
                             f"copy the bundle again or {rebuild}")
    meta = _read_json(path / META_FILE, rebuild)
    check_model_meta(path, meta)
    _check_model_kind(path / str(manifest["model_file"]))
    return DeviceBundle(path=path, manifest=manifest, model=ModelDirectory(path=path, meta=meta))


def check_manifest(path: Path, manifest: dict[str, Any]) -> None:
    """The manifest's format, featurizer spec, model file and file list are ones this mleditor can run."""
    where = f"bundle {path}"
    version = manifest.get("format")
    if not isinstance(version, int) or isinstance(version, bool):
        raise ModelError(f"{where}: {MANIFEST_FILE} has no format number; rebuild it with `mleditor device build`")
    if version > FORMAT:
        raise ModelError(f"{where} was made by a newer mleditor (bundle format {version}, this one reads up to "
                         f"{FORMAT}); upgrade mleditor or rebuild the bundle with this one")
    spec = manifest.get("featurizer_spec")
    if spec != SPEC_VERSION:
        raise ModelError(f"{where} needs featurizer spec {spec} but this mleditor implements {SPEC_VERSION}; "
                         "rebuild the bundle with this mleditor")
    model_file = manifest.get("model_file")
    files = manifest.get("files")
    if model_file not in MODEL_FILES or not isinstance(files, dict) or model_file not in files \
            or META_FILE not in files or not all(isinstance(entry, dict) for entry in files.values()):
        raise ModelError(f"{where}: {MANIFEST_FILE} does not list its model file and {META_FILE}; "
                         "rebuild it with `mleditor device build`")
    if any(Path(name).name != name for name in files):
        raise ModelError(f"{where}: {MANIFEST_FILE} names a file outside the bundle; rebuild it")
    tolerance = manifest.get("tolerance")
    if not isinstance(tolerance, dict) or not isinstance(tolerance.get("max_abs_delta_score"), (int, float)):
        raise ModelError(f"{where}: {MANIFEST_FILE} records no tolerance; rebuild it with `mleditor device build`")
    personal = manifest.get("personal")
    if personal is not None and (not isinstance(personal, dict) or not isinstance(personal.get("author"), str)
                                 or personal.get("file") not in files):
        raise ModelError(f"{where}: {MANIFEST_FILE} names a personal part it does not list; rebuild it with "
                         "`mleditor device build --author KEY`")


def _read_json(path: Path, what_to_do: str) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelError(f"{path.parent} has no {path.name}: it is not a bundle; {what_to_do}") from None
    except (OSError, ValueError, RecursionError) as exc:
        raise ModelError(f"{path} cannot be read ({type(exc).__name__}); {what_to_do}") from None
    if not isinstance(value, dict):
        raise ModelError(f"{path} holds a JSON {type(value).__name__}, not an object; {what_to_do}")
    return value


def _check_model_kind(file: Path) -> None:
    """The model file starts as its kind does (ONNX protobuf, ORT or TFLite flatbuffer)."""
    head = file.read_bytes()[:8]
    kind = file.suffix
    if kind == ".tflite" and head[4:8] == _TFLITE_MAGIC:
        return
    if kind == ".ort" and head[4:8] == _ORT_MAGIC:
        return
    if kind == ".onnx" and head[:1] == b"\x08":  # field 1 (ir_version), varint: how every ONNX model starts
        return
    raise ModelError(f"{file} is not a {kind[1:].upper()} model; rebuild the bundle with `mleditor device build`")
