"""The `litert` variant: the same network as a TensorFlow Lite flatbuffer, run by the LiteRT interpreter.

The graph is rebuilt from the source model's ONNX initializers (the weight contract of
`mleditor.training.export`, plus `calib_a`/`calib_b`) with TensorFlow ops, step for step as the
ONNX graph computes it, and converted with `tf.lite.TFLiteConverter` to builtin ops only (no Flex
ops, nothing TensorFlow must be linked for): the same fp32 math, so it scores as ONNX Runtime does
within 1e-5. Its inputs keep the variant contract unchanged — `ngram_ids` int64 [B, L] with B and L
dynamic (the interpreter is resized per call), `dense` float32 [B, D] — and its one output is
`score` float32 [B], named through the model's signature, so no output order is assumed.

Rebuilding from the weights rather than translating the ONNX graph (onnx2tf) or tracing a torch
module (litert-torch) keeps int64 ids and a dynamic n-gram count, and leaves no converter
choice (output order, int32 inputs, a fixed L) for the runtime to undo.

TensorFlow (~1.2 GB) is the converter; it is never imported into the calling process. The
conversion runs in a subprocess of the interpreter named by `$MLEDITOR_LITERT_PYTHON` (a separate
environment: `python3 -m venv /work/litert-venv && /work/litert-venv/bin/pip install
tensorflow-cpu==2.21.0`), or of this interpreter when it can import TensorFlow itself
(`pip install 'mleditor[litert]'`). The subprocess runs only `_write_tflite`, which imports
numpy and TensorFlow and nothing of ML Editor, so the converter environment needs nothing else.

    from mleditor.core.registry import resolve_model
    from mleditor.device.litert import build
    from mleditor.device.variants import BuildOptions
    built = build(resolve_model(None), Path("work"), BuildOptions())   # work/model.tflite
"""

from __future__ import annotations

import importlib.util
import inspect
import os
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

import numpy as np

from mleditor.core.registry import ModelDirectory
from mleditor.device.variants import BuildOptions, BuiltVariant, VariantSpec
from mleditor.errors import MissingExtraError, ModelError, require_extra
from mleditor.training.export import WEIGHT_NAMES, validate_weights  # numpy only: export imports onnx lazily

PYTHON_ENV = "MLEDITOR_LITERT_PYTHON"
MODEL_FILE = "model.tflite"
SIGNATURE = "serving_default"
CALIBRATION_NAMES = ("calib_a", "calib_b")
_CONVERT_TIMEOUT_S = 600


def build(source: ModelDirectory, work_dir: Path, options: BuildOptions) -> BuiltVariant:
    """Write `work_dir/model.tflite` from the source model's weights (the Builder contract)."""
    del options  # no data, no seed: the variant is a translation of the source's weights
    model_file = convert(source.onnx_path, Path(work_dir) / MODEL_FILE, python=converter_python(os.environ))
    return BuiltVariant(
        name="litert",
        model_file=model_file,
        runtime="litert",
        description="the fp32 network as a TensorFlow Lite model, run by the LiteRT interpreter",
        meta_updates={"litert": {"signature": SIGNATURE, "inputs": ["ngram_ids", "dense"], "outputs": ["score"]}},
    )


def converter_python(environ: Mapping[str, str]) -> str:
    """The interpreter that runs the conversion: $MLEDITOR_LITERT_PYTHON, else this one if it has TensorFlow."""
    named = environ.get(PYTHON_ENV)
    if named:
        if not Path(named).is_file():
            raise MissingExtraError(f"${PYTHON_ENV}={named} does not exist; point it at a Python with tensorflow-cpu")
        return named
    if importlib.util.find_spec("tensorflow") is None:
        raise MissingExtraError(
            f"building the litert variant needs TensorFlow: pip install 'mleditor[litert]', or set ${PYTHON_ENV} "
            "to a Python that has tensorflow-cpu"
        )
    return sys.executable


def convert(onnx_path: Path, output: Path, *, python: str) -> Path:
    """Convert the model at `onnx_path` to a .tflite at `output` with the converter `python`; return `output`."""
    weights = read_weights(onnx_path)
    output.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="litert-", dir=output.parent) as scratch:
        npz = Path(scratch) / "weights.npz"
        np.savez(npz, **cast("dict[str, Any]", weights))
        tflite = Path(scratch) / MODEL_FILE
        _run_converter(python, npz, tflite)
        os.replace(tflite, output)
    output.chmod(0o644)
    return output


def read_weights(onnx_path: Path) -> dict[str, np.ndarray]:
    """The contract weights and the calibration of a model.onnx, checked, as float32 arrays."""
    require_extra("onnx", "litert")
    import onnx
    from onnx import numpy_helper

    try:
        graph = onnx.load(str(onnx_path)).graph
    except Exception as exc:  # onnx raises OSError, protobuf's DecodeError and others
        raise ModelError(f"cannot read {onnx_path}: {_first_line(exc)}; export the model again") from exc
    found = {init.name: numpy_helper.to_array(init) for init in graph.initializer}
    missing = [name for name in CALIBRATION_NAMES if name not in found]
    if missing:
        raise ModelError(f"{onnx_path} has no {', '.join(missing)} initializer; export it with build_onnx again")
    try:
        arrays, _ = validate_weights({name: found[name] for name in WEIGHT_NAMES if name in found})
    except (ValueError, TypeError) as exc:
        raise ModelError(f"{onnx_path} does not hold the network's weights: {_first_line(exc)}") from exc
    calibration = {name: np.asarray(found[name], dtype=np.float32).reshape(()) for name in CALIBRATION_NAMES}
    return {**arrays, **calibration}


def _run_converter(python: str, npz: Path, tflite: Path) -> None:
    """Run `_write_tflite` in `python`; ModelError with the converter's last line when it fails."""
    script = "\n".join([
        "from __future__ import annotations",
        "import sys",
        "from typing import Any",
        inspect.getsource(_write_tflite),
        "_write_tflite(sys.argv[1], sys.argv[2])",
    ])
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}
    try:
        done = subprocess.run(
            [python, "-c", script, str(npz), str(tflite)],
            capture_output=True, text=True, timeout=_CONVERT_TIMEOUT_S, env=env, check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ModelError(f"the litert converter ({python}) did not run: {exc}") from exc
    if done.returncode != 0 or not tflite.is_file():
        lines = [line for line in (done.stderr or done.stdout).splitlines() if line.strip()]
        last = lines[-1] if lines else f"exit status {done.returncode}"
        raise ModelError(f"the litert converter ({python}) failed: {last}")


def _first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


def _write_tflite(npz_path: str, tflite_path: str) -> None:  # pragma: no cover - runs in the converter's Python
    """Build the network from the weights in `npz_path` with TensorFlow ops and write it as TFLite.

    Self-contained: it runs alone in the converter's interpreter (see the module docstring).
    """
    import numpy as np
    import tensorflow as tf

    weights = dict(np.load(npz_path))
    dense_dim = int(weights["dense_mean"].shape[0])
    constant = {name: tf.constant(value, dtype=tf.float32) for name, value in weights.items()}

    class Network(tf.Module):  # type: ignore[misc, unused-ignore]
        @tf.function(input_signature=[  # type: ignore[untyped-decorator, unused-ignore]
            tf.TensorSpec([None, None], tf.int64, name="ngram_ids"),
            tf.TensorSpec([None, dense_dim], tf.float32, name="dense"),
        ])
        def serve(self, ngram_ids: Any, dense: Any) -> dict[str, Any]:
            # The ONNX graph's steps, in its order, so float32 rounding matches.
            mask = tf.cast(tf.greater(ngram_ids, 0), tf.float32)
            count = tf.maximum(tf.reduce_sum(mask, axis=1, keepdims=True), 1.0)
            embedding_mean = tf.reduce_sum(tf.gather(constant["embedding"], ngram_ids), axis=1) / count
            wide_sum = tf.reduce_sum(tf.gather(constant["wide"], ngram_ids), axis=1, keepdims=True)
            wide_term = tf.squeeze(wide_sum / tf.sqrt(count), axis=1)
            transformed = tf.sign(dense) * tf.math.log(tf.abs(dense) + 1.0)
            normalized = (transformed - constant["dense_mean"]) / constant["dense_std"]
            mlp_input = tf.concat([embedding_mean, normalized], axis=1)
            hidden = tf.nn.relu(tf.matmul(mlp_input, constant["w1"]) + constant["b1"])
            mlp_out = tf.squeeze(tf.matmul(hidden, tf.expand_dims(constant["w2"], 1)), axis=1)
            logit = mlp_out + constant["b2"] + wide_term
            score = tf.sigmoid(logit * constant["calib_a"] + constant["calib_b"])
            return {"score": score}

    network = Network()
    concrete = network.serve.get_concrete_function()
    converter = tf.lite.TFLiteConverter.from_concrete_functions([concrete], network)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]  # no Flex ops: plain LiteRT runs it
    with open(tflite_path, "wb") as handle:
        handle.write(converter.convert())


SPECS: tuple[VariantSpec, ...] = (
    VariantSpec(
        name="litert",
        summary="the fp32 network as a .tflite for the LiteRT interpreter (same score as ONNX Runtime within 1e-5)",
        build=build,
        extra="litert",
    ),
)
