"""Where things live: the data directory and the model registry, read from the environment at the edge."""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_DATA_DIR = "../shared/data"
PACKAGED_MODELS_DIR = Path(__file__).parent / "models"


def data_dir(environ: dict[str, str] | None = None) -> Path:
    """The Stack Exchange dumps: $MLEDITOR_DATA, else ../shared/data (relative to the working directory)."""
    env = os.environ if environ is None else environ
    return Path(env.get("MLEDITOR_DATA", DEFAULT_DATA_DIR)).expanduser()


def models_dirs(environ: dict[str, str] | None = None) -> list[Path]:
    """Registry roots searched for model directories: $MLEDITOR_MODELS (colon-separated) then the shipped ones."""
    env = os.environ if environ is None else environ
    extra = [Path(p).expanduser() for p in env.get("MLEDITOR_MODELS", "").split(os.pathsep) if p]
    return [*extra, PACKAGED_MODELS_DIR]
