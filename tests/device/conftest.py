"""Bundles for the device tests, built from the shipped model without the data (quick, and everywhere)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mleditor.core.registry import ModelDirectory, resolve_model
from mleditor.device.bundle import DeviceBundle, write_bundle
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
