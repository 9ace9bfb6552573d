"""The federated run's output: the final global weights as a normal model directory, with the personal parts inside.

    directory = write_federated_model(Path("federated"), result, partition, table, parts, "head")
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from mleditor.federated.partition import Partition
from mleditor.federated.simulation import SimulationResult
from mleditor.training.network import QuestionNet
from mleditor.training.train import FeatureTable, network_logits


def write_federated_model(output: Path, result: SimulationResult, partition: Partition, table: FeatureTable,
                          personal: dict[str, Any], mode: str, data: dict[str, Any] | None = None,
                          model_id: str | None = None) -> Path:
    """The final global weights as a model directory (`write_model_directory`, then the card) under `output`.

    Inside it, for a ``head`` run: personal.json (author -> output bias), recorded with its sha256 in
    meta.json (`mleditor.core.personal`), so the directory stays one artefact every door can serve.
    ``finetune`` parts (per-author dense layers) are measured by the benchmark but no door serves them
    yet (that needs per-author weights in the ONNX graph): they go beside the directory, as
    personal-finetune.json, and the directory serves the global model. Beside it too: summary.json.
    Platt calibration is fitted on the clients' training questions' global logits (the driver sees
    them in simulation).
    """
    import json
    from datetime import UTC, datetime

    from mleditor.core.personal import add_personal
    from mleditor.core.registry import load_model_directory
    from mleditor.training.calibration import fit_platt
    from mleditor.training.card import write_model_card
    from mleditor.training.train import write_model_directory

    train = partition.mask("train")
    created = datetime.now(UTC)
    logits = network_logits(QuestionNet.from_weights(result.weights), table.rows(train)).astype(np.float64)
    calib_a, calib_b = fit_platt(logits, partition.labels[train])
    model_id = model_id or f"fed-{created:%Y%m%d-%H%M%S}"
    meta = {
        "model_id": model_id, "created": created.isoformat(timespec="seconds"),
        "calibration": {"method": "platt", "a": calib_a, "b": calib_b, "fitted_on": "clients' training questions"},
        "label": {"mode": "site-year", "definition": "score strictly above the median of its group"},
        "training": {"federated": result.summary, "personalize": mode},
        "split_sizes": {role: int(partition.mask(role).sum()) for role in ("train", "heldout", "unseen")},
        "positive_rate": round(float(partition.labels.mean()), 4),
        "data": data or {},
    }
    output.mkdir(parents=True, exist_ok=True)
    directory = write_model_directory(output / model_id, result.weights, meta, table.dense[train],
                                      partition.labels[train])
    if mode == "head":
        add_personal(directory, mode, personal)
    elif mode == "finetune":
        (output / "personal-finetune.json").write_text(json.dumps({"model_id": model_id, "kind": mode,
                                                                   "authors": personal}) + "\n", encoding="utf-8")
    write_model_card(load_model_directory(directory))
    (output / "summary.json").write_text(json.dumps(result.summary, indent=1) + "\n", encoding="utf-8")
    return directory
