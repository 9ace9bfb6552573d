"""Door 6 measured, as far as it can be in a short run: what one training round moves per client.

Flower (the `federated` extra) must be importable, else the door is not measured. With it, the
bytes per client per round are measured from the model itself: every float32 parameter of the
network's ONNX graph travels down (the global model) and up (the client's update) each round. A
Flower run that shows rounds to converge and the quality against centralized training needs the
dumps and minutes, so those figures are *recorded*, not measured here: they come from the last
`benchmarks/bench_federated.py --save` run shipped with the package (`recorded/bench_federated.json`,
its command, date and machine in every figure's `how`).
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

from mleditor.advise.measure.base import DoorMeasurement, Figure
from mleditor.advise.measure.context import MeasureContext

MIN_S = 0.2
INSTALL = "install extra 'federated' (pip install 'mleditor[federated]')"
RECORDED = Path(__file__).resolve().parent.parent / "recorded" / "bench_federated.json"


def measure(ctx: MeasureContext, seconds: float) -> DoorMeasurement:
    if importlib.util.find_spec("flwr") is None:
        return DoorMeasurement.not_measured("federated", f"not measured: {INSTALL}")
    if importlib.util.find_spec("onnx") is None:
        return DoorMeasurement.not_measured("federated", "not measured: install extra 'train' "
                                                         "(pip install 'mleditor[train]')")
    parameters = parameter_count(ctx.model_dir)
    how = "measured: the float32 parameters of the model's ONNX graph, once each way"
    measured = (Figure("parameters", parameters, "parameters", "measured: the model's ONNX initializers"),
                Figure("bytes_per_client_per_round", parameters * 4 * 2, "bytes", how))
    recorded = recorded_figures(RECORDED)
    if recorded:
        return DoorMeasurement("federated", (*measured, *recorded))
    why = ("federated: rounds and quality versus centralized not measured: a Flower run needs the dumps and "
           f"minutes (`benchmarks/bench_federated.py --save {RECORDED}` records them)")
    unknown = (Figure("rounds", None, "rounds", "not measured: no recorded benchmark"),
               Figure("quality_vs_centralized", None, "ROC AUC ratio", "not measured: no recorded benchmark"))
    return DoorMeasurement("federated", (*measured, *unknown), missing=(why,))


def recorded_figures(path: Path) -> tuple[Figure, ...]:
    """Rounds, quality and wall time of FedAvg from a `bench_federated.py --save` report; () when there is none."""
    try:
        report: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        result = report["result"]
        centralized = float(result["rows"][0]["roc_auc"]["centralized"])
        fedavg = result["federated"]["fedavg"]
        final = float(fedavg["final_roc_auc_last_5_rounds"])
        per_round = sorted(fedavg["seconds_per_round"])
    except (OSError, ValueError, KeyError, TypeError, IndexError):
        return ()
    source = (f"recorded: `{report.get('command', 'benchmarks/bench_federated.py')}` on {report.get('date', '?')} "
              f"({report.get('machine', {}).get('cpu', 'unknown machine')}), {fedavg.get('clients', '?')} authors "
              "as clients; not re-measured here")
    first = fedavg.get("rounds_to_95pct_of_centralized")
    figures = [Figure("rounds", float(fedavg["rounds"]), "rounds", source),
               Figure("roc_auc_federated", round(final, 4), "ROC AUC", source + " (mean of the last 5 rounds)"),
               Figure("roc_auc_centralized", round(centralized, 4), "ROC AUC", source),
               Figure("quality_vs_centralized", round(final / centralized, 4), "ROC AUC ratio", source),
               Figure("rounds_to_95pct_of_centralized", None if first is None else float(first), "rounds",
                      source + " (the first round at 95 %; it may fall back)"),
               Figure("seconds_per_round", per_round[len(per_round) // 2] if per_round else None, "s",
                      source + " (median, simulation engine)")]
    deployed = next((run for name, run in result["federated"].items() if "Deployment" in name), None)
    if deployed and deployed.get("seconds_per_round"):
        rounds = sorted(deployed["seconds_per_round"])
        figures.append(Figure("seconds_per_round_deployment", rounds[len(rounds) // 2], "s",
                              source + " (median, Deployment Engine: 3 SuperNodes on loopback)"))
    return tuple(figures)


def parameter_count(model_dir: str | None) -> int:
    """Float parameters in the model's graph (its initializers)."""
    import numpy as np
    import onnx
    from onnx import numpy_helper

    from mleditor.core.registry import resolve_model

    graph = onnx.load(str(resolve_model(model_dir).onnx_path)).graph
    return int(sum(np.prod(numpy_helper.to_array(t).shape) for t in graph.initializer
                   if t.data_type in (onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16)))
