"""Every federated test runs with Flower's and Ray's telemetry and update checks off."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def quiet_flower(monkeypatch):
    """The variables `mleditor.federated.simulation.QUIET_ENV` names (no telemetry, no update check)."""
    import importlib.util

    if importlib.util.find_spec("flwr") is None or importlib.util.find_spec("torch") is None:
        return
    from mleditor.federated.simulation import QUIET_ENV

    for name, value in QUIET_ENV.items():
        monkeypatch.setenv(name, value)
