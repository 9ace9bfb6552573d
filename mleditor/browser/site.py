"""The editor as a static site: every file the page needs, with its media type, cache policy and compressed forms.

`build_site` assembles it from three places, and both `mleditor serve` (under `/editor/`) and
`mleditor browser export` (into a folder) hand out exactly these files:

    static/          the page, its scripts (pipeline.js, featurizer.js), the service worker, the manifest
    model/int8/      the int8 bundle (`mleditor device build --variant int8`), the default; fp32 is the
                     shipped model directory, with a manifest written here
    node_modules/    onnxruntime-web's wasm entry, from `npm ci --prefix mleditor/browser` (pip cannot run
                     npm); its postinstall (precompress.mjs) writes the .br and .gz forms next to each file

Nothing is fetched from anywhere else: the site runs from its own origin. The service worker's cache
name is a hash of every file, so any change gives a new cache.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from mleditor.core.registry import resolve_model
from mleditor.errors import InvalidInputError, MissingExtraError, ModelError

HERE = Path(__file__).parent
STATIC_DIR = HERE / "static"
BUNDLES_DIR = HERE / "model"
RUNTIME_DIR = HERE / "node_modules" / "onnxruntime-web"
ORT_VERSION = "1.30.0"  # pinned in package.json; pipeline.js loads ort-<version>/ (immutable URLs)
ORT_FILES = ("ort.wasm.min.mjs", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm")
VARIANTS = ("int8", "fp32")
DEFAULT_VARIANT = "int8"
BUNDLE_FILES = ("manifest.json", "meta.json", "model.onnx")
PAGE_FILES = ("editor.js", "pipeline.js", "featurizer.js", "text_structure.js", "unicode14.js", "editor.css",
              "icon.svg", "manifest.webmanifest")
MEDIA_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript", ".mjs": "text/javascript",
               ".css": "text/css", ".svg": "image/svg+xml", ".json": "application/json",
               ".webmanifest": "application/manifest+json", ".wasm": "application/wasm",
               ".onnx": "application/octet-stream"}
IMMUTABLE = "public, max-age=31536000, immutable"  # the runtime's URLs carry its version
REVALIDATE = "no-cache"  # the page and the service worker: always asked again, so an update is seen
SHORT = "public, max-age=3600"
COMPRESS_MIN_BYTES = 1024
INSTALL_HINT = "run `npm ci --prefix mleditor/browser`"


@dataclass(frozen=True)
class SiteFile:
    """One file of the site: its bytes, how it is served, and its smaller encodings (`br`, `gzip`)."""

    path: str  # relative to the site's root, with / separators ("" is the page)
    content: bytes
    media_type: str
    cache_control: str
    encoded: Mapping[str, bytes] = field(default_factory=dict)


@dataclass(frozen=True)
class Site:
    """The editor's files by path, the model variants it offers and the version (hash) of the whole."""

    files: Mapping[str, SiteFile]
    variants: tuple[str, ...]
    version: str

    def get(self, path: str) -> SiteFile | None:
        """The file at `path` ("" or "index.html" is the page), or None."""
        return self.files.get("" if path == "index.html" else path)


def runtime_missing() -> str | None:
    """Why the wasm runtime cannot be served (a sentence naming the command), or None when it is installed."""
    missing = [name for name in ORT_FILES if not (RUNTIME_DIR / "dist" / name).is_file()]
    if missing:
        return f"the editor's wasm runtime (onnxruntime-web {ORT_VERSION}) is not installed: {INSTALL_HINT}"
    return None


def check_variants(variants: Sequence[str]) -> tuple[str, ...]:
    """The variants, each one the browser can load; InvalidInputError otherwise."""
    wrong = [name for name in variants if name not in VARIANTS]
    if wrong or not variants:
        raise InvalidInputError(f"browser variant {wrong[0] if wrong else ''!r} is not valid; expected one of "
                                f"{', '.join(VARIANTS)}")
    return tuple(dict.fromkeys(variants))


def build_site(variants: Sequence[str] = VARIANTS) -> Site:
    """Every file of the editor for `variants` (the first is the default); MissingExtraError without npm's files."""
    variants = check_variants(variants)
    problem = runtime_missing()
    if problem:
        raise MissingExtraError(problem)
    files: dict[str, SiteFile] = {}
    for name in PAGE_FILES:
        files[name] = _file(name, (STATIC_DIR / name).read_bytes(), SHORT)
    for name in ORT_FILES:
        files[f"ort-{ORT_VERSION}/{name}"] = _runtime_file(name)
    for variant in variants:
        for name, content in _bundle(variant).items():
            files[f"model/{variant}/{name}"] = _file(name, content, SHORT)
    page = _template("editor.html", variants=" ".join(variants), default_variant=variants[0])
    files[""] = _file("index.html", page, REVALIDATE)
    version = _version(files)
    precached = ["./", *(path for path in files if path and not _other_variant(path, variants[0]))]
    worker = _template("sw.js", version=version, files=json.dumps(precached, indent=1))
    files["sw.js"] = _file("sw.js", worker, REVALIDATE)
    return Site(files, variants, version)


def _other_variant(path: str, default: str) -> bool:
    """A model file of a variant other than the default: cached when first used, not on install."""
    return path.startswith("model/") and not path.startswith(f"model/{default}/")


def _template(name: str, **values: str) -> bytes:
    text = (STATIC_DIR / name).read_text(encoding="utf-8")
    for key, value in values.items():
        text = text.replace("{{" + key + "}}", value)
    return text.encode()


def _version(files: Mapping[str, SiteFile]) -> str:
    digest = hashlib.sha256()
    for path in sorted(files):
        digest.update(path.encode() + b"\0" + hashlib.sha256(files[path].content).digest())
    return digest.hexdigest()[:16]


def _media_type(name: str) -> str:
    return MEDIA_TYPES.get(Path(name).suffix or ".html", "application/octet-stream")


def _file(name: str, content: bytes, cache_control: str) -> SiteFile:
    path_type = _media_type(name)
    return SiteFile(name, content, path_type, cache_control, _encodings(content))


def _encodings(content: bytes) -> dict[str, bytes]:
    """gzip (stdlib) and, where the `brotli` module is installed, br: each kept only if smaller."""
    if len(content) < COMPRESS_MIN_BYTES:
        return {}
    found = {"gzip": gzip.compress(content, 9, mtime=0)}
    try:
        import brotli  # type: ignore[import-untyped, import-not-found, unused-ignore]
    except ImportError:
        pass
    else:
        found["br"] = brotli.compress(content, quality=11 if len(content) < 1 << 20 else 9)
    return {name: data for name, data in found.items() if len(data) < len(content)}


def _runtime_file(name: str) -> SiteFile:
    """A file of onnxruntime-web, with the .br/.gz forms precompress.mjs wrote (gzip here if they are missing)."""
    source = RUNTIME_DIR / "dist" / name
    content = source.read_bytes()
    encoded: dict[str, bytes] = {}
    for encoding, suffix in (("br", ".br"), ("gzip", ".gz")):
        packed = source.with_name(name + suffix)
        if packed.is_file() and packed.stat().st_mtime >= source.stat().st_mtime:
            encoded[encoding] = packed.read_bytes()
    if not encoded:
        encoded = {"gzip": gzip.compress(content, 6, mtime=0)}
    return SiteFile(name, content, _media_type(name), IMMUTABLE, encoded)


def _bundle(variant: str) -> dict[str, bytes]:
    """manifest.json, meta.json and model.onnx of a variant: the int8 bundle shipped here, or the shipped fp32 model."""
    if variant != "fp32":
        folder = BUNDLES_DIR / variant
        if not (folder / "manifest.json").is_file():
            raise ModelError(f"the browser's {variant} bundle is missing ({folder}); rebuild it with "
                             f"`mleditor device build --variant {variant} --output {BUNDLES_DIR}`")
        return {name: (folder / name).read_bytes() for name in BUNDLE_FILES}
    source = resolve_model(None)
    meta, model = (source.path / "meta.json").read_bytes(), source.onnx_path.read_bytes()
    manifest = {"format": 1, "variant": "fp32", "runtime": "onnxruntime", "model_file": "model.onnx",
                "model_id": source.model_id, "source_model_id": source.model_id,
                "featurizer_spec": source.meta.get("featurizer_spec"),
                "files": {"model.onnx": _entry(model), "meta.json": _entry(meta)},
                "tolerance": {"max_abs_delta_score": 0.0, "measured_on": "the source itself"}}
    return {"manifest.json": json.dumps(manifest, indent=2).encode(), "meta.json": meta, "model.onnx": model}


def _entry(content: bytes) -> dict[str, object]:
    return {"sha256": hashlib.sha256(content).hexdigest(), "bytes": len(content)}
