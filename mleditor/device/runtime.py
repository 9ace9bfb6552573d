"""Answering from a device bundle: the featurizer and one inference engine, nothing else.

    predictor = load_predictor("bundles/int8")     # checks the bundle (hashes, spec, format) first
    predictor.predict(Question("Flat beer?", "It tastes flat."), "v3").score

This is the whole runtime of the device door: `mleditor.core` (featurizer, pipeline) plus
onnxruntime for `.onnx`/`.ort` files or the LiteRT interpreter for `.tflite` files. It imports no
door, no web framework, no torch and opens no socket (tests/device/test_runtime.py checks both).
"""

from __future__ import annotations

from pathlib import Path

from mleditor.core.predictor import Predictor, Scorer
from mleditor.core.scorer import OnnxScorer
from mleditor.device.bundle import DeviceBundle, load_bundle
from mleditor.device.variants import Runtime


def scorer_for_file(model_file: Path, runtime: Runtime, threads: int = 1) -> Scorer:
    """The engine for a variant's model file, with `threads` intra-op threads (1: the phone-class budget)."""
    if runtime == "litert":
        from mleditor.device.tflite_scorer import TfliteScorer

        scorer: Scorer = TfliteScorer.from_path(model_file, threads=threads)
        return scorer
    return OnnxScorer.from_path(model_file, threads=threads)


def load_scorer(bundle: DeviceBundle, threads: int = 1) -> Scorer:
    """The engine for a checked bundle's model file."""
    return scorer_for_file(bundle.model_file, bundle.runtime, threads)


def load_predictor(path: Path | str, threads: int = 1) -> Predictor:
    """A predictor on the bundle at `path`, checked before it loads; a bundle built for one author scores with
    that author's personal part (`device build --author`)."""
    bundle = load_bundle(path)
    return Predictor(bundle.model, threads=threads, scorer=load_scorer(bundle, threads), author=bundle.author)
