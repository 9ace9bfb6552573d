"""A federated run's checkpoint: the global weights after its last completed round, and which run wrote them.

Invariant: a run resumes only from a checkpoint whose fingerprint (the questions, the partition and
every setting except the number of rounds) equals its own, whose arrays have exactly the global
model's names and shapes, and whose values are all finite; anything else is refused with a message
that says what to do, never trained on. The file is replaced atomically after each round, so a run
killed mid-write leaves the previous round's checkpoint.

    fingerprint = run_fingerprint(config, partition, embed_dim=8, hidden=16)
    save_checkpoint(path, Checkpoint(3, fingerprint, weights))
    resumed = load_checkpoint(path, fingerprint, reference=initial)   # or InvalidInputError
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from mleditor.errors import InvalidInputError
from mleditor.federated.partition import Partition
from mleditor.federated.server_app import ServerConfig, Weights, problem_with

ROUND_KEY, FINGERPRINT_KEY = "__round__", "__fingerprint__"


@dataclass(frozen=True)
class Checkpoint:
    """The global weights after round `round` of the run with `fingerprint`."""

    round: int
    fingerprint: str
    weights: Weights


def run_fingerprint(config: ServerConfig, partition: Partition, *, embed_dim: int, hidden: int) -> str:
    """A digest of everything a resumed run must share with the one it continues (not `rounds`)."""
    settings = {name: value for name, value in asdict(config).items() if name != "rounds"}
    digest = hashlib.sha256(json.dumps({"config": settings, "embed_dim": embed_dim, "hidden": hidden},
                                       sort_keys=True).encode())
    for column in (partition.authors.astype(str), partition.labels, partition.mask("train")):
        digest.update(np.ascontiguousarray(column).tobytes())
    return digest.hexdigest()


def save_checkpoint(path: Path, checkpoint: Checkpoint) -> Path:
    """Write `checkpoint` to `path`, replacing the previous one only once the new one is complete."""
    partial = path.with_name(path.name + ".partial")
    with partial.open("wb") as file:
        arrays: dict[str, np.ndarray] = {ROUND_KEY: np.array(checkpoint.round, dtype=np.int64),
                                         FINGERPRINT_KEY: np.array(checkpoint.fingerprint),
                                         **checkpoint.weights}
        np.savez(file, **arrays)  # type: ignore[arg-type, unused-ignore]  # numpy's stub reads **kwds as allow_pickle
        file.flush()
        os.fsync(file.fileno())
    partial.replace(path)
    return path


def load_checkpoint(path: Path, fingerprint: str, reference: Mapping[str, np.ndarray]) -> Checkpoint:
    """The checkpoint at `path`, checked against this run's fingerprint and the global model's arrays."""
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {name: data[name] for name in data.files}
    except FileNotFoundError:
        raise InvalidInputError(f"--resume: no checkpoint at {path}; run without --resume to start") from None
    except (OSError, ValueError) as exc:
        raise InvalidInputError(f"--resume: {path} is not a readable checkpoint ({exc}); delete it and run without "
                                "--resume") from None
    if ROUND_KEY not in arrays or FINGERPRINT_KEY not in arrays:
        raise InvalidInputError(f"--resume: {path} is not a federated checkpoint; run without --resume")
    if str(arrays.pop(FINGERPRINT_KEY)) != fingerprint:
        raise InvalidInputError(f"--resume: {path} was written by a run with other data or settings; resume with the "
                                "same dataset and options, or run without --resume")
    done = int(arrays.pop(ROUND_KEY))
    problem = problem_with(arrays, {name: value.shape for name, value in reference.items()})
    if problem is not None:
        raise InvalidInputError(f"--resume: {path} cannot be the global model: {problem}; run without --resume")
    return Checkpoint(done, fingerprint, {name: value.astype(np.float32) for name, value in arrays.items()})
