"""Door 6 measured, as far as it can be in a short run: what one training round moves per client.

Flower (the `federated` extra) must be importable, else the door is not measured. With it, the
bytes per client per round are measured from the model itself: every float32 parameter of the
network's ONNX graph travels down (the global model) and up (the client's update) each round. A
Flower simulation that shows rounds to converge and the quality against centralized training needs
the dumps and minutes (`mleditor federated run` records both in its summary.json), so those figures
are reported as not measured here.
"""

from __future__ import annotations

import importlib.util

from mleditor.advise.measure.base import DoorMeasurement, Figure
from mleditor.advise.measure.context import MeasureContext

MIN_S = 0.2
INSTALL = "install extra 'federated' (pip install 'mleditor[federated]')"


def measure(ctx: MeasureContext, seconds: float) -> DoorMeasurement:
    if importlib.util.find_spec("flwr") is None:
        return DoorMeasurement.not_measured("federated", f"not measured: {INSTALL}")
    if importlib.util.find_spec("onnx") is None:
        return DoorMeasurement.not_measured("federated", "not measured: install extra 'train' "
                                                         "(pip install 'mleditor[train]')")
    parameters = parameter_count(ctx.model_dir)
    how = "measured: the float32 parameters of the model's ONNX graph, once each way"
    figures = (
        Figure("parameters", parameters, "parameters", "measured: the model's ONNX initializers"),
        Figure("bytes_per_client_per_round", parameters * 4 * 2, "bytes", how),
        Figure("rounds", None, "rounds", "not measured: run `mleditor federated run` (needs the dumps, minutes)"),
        Figure("quality_vs_centralized", None, "ROC AUC ratio",
               "not measured: run `mleditor federated run`; its summary.json records it"),
    )
    why = ("federated: rounds and quality versus centralized not measured: a Flower simulation needs the dumps and "
           "minutes (`mleditor federated run --dataset ...` records them in summary.json)")
    return DoorMeasurement("federated", figures, missing=(why,))


def parameter_count(model_dir: str | None) -> int:
    """Float parameters in the model's graph (its initializers)."""
    import numpy as np
    import onnx
    from onnx import numpy_helper

    from mleditor.core.registry import resolve_model

    graph = onnx.load(str(resolve_model(model_dir).onnx_path)).graph
    return int(sum(np.prod(numpy_helper.to_array(t).shape) for t in graph.initializer
                   if t.data_type in (onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16)))
