"""Bundles for the device tests, built from the shipped model without the data (quick, and everywhere);
the real questions, ingested once, for the variants that need the data (skipped without the dumps)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mleditor.core.registry import ModelDirectory, resolve_model
from mleditor.device.bundle import DeviceBundle, write_bundle
from mleditor.device.quality import LabelledQuestions, labelled_questions
from mleditor.device.variants import BuiltVariant


@pytest.fixture(scope="session")
def source_model() -> ModelDirectory:
    return resolve_model(None)


def fp32_bundle_at(path: Path, source: ModelDirectory) -> DeviceBundle:
    """The source model itself as a bundle (the fp32 variant): its scores are the source's."""
    built = BuiltVariant("fp32", source.onnx_path, "onnxruntime", "the source model as it is")
    return write_bundle(source, built, path, quality=None, max_abs_delta_score=0.0)


@pytest.fixture
def fp32_bundle(tmp_path: Path, source_model: ModelDirectory) -> DeviceBundle:
    return fp32_bundle_at(tmp_path / "fp32", source_model)


@pytest.fixture(scope="session")
def real_dataset(real_dump_dirs: list[Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every real dump ingested once into a dataset file (what builders accept as their data); skips without dumps."""
    from mleditor.core.ingest import ingest_dumps

    path = tmp_path_factory.mktemp("device-data") / "questions.sqlite"
    ingest_dumps(real_dump_dirs, path)
    return path


@pytest.fixture(scope="session")
def real_questions(source_model: ModelDirectory, real_dataset: Path) -> LabelledQuestions:
    """The real questions labelled, split and featurized as the source model's meta.json says."""
    return labelled_questions(source_model, real_dataset)
