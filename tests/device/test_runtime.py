"""The device runtime answers offline, as `mleditor predict` does, with the featurizer and one engine only."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mleditor.device.runtime import load_predictor
from tests.helpers import mleditor_command, run_mleditor

QUESTION = ["--title", "How do I stop my bottles from gushing?",
            "--body", "I prime with 120 g of sugar per 20 L and every bottle gushes. What should I check?"]
# What the runtime must not import: torch, web frameworks, Ray, and every door but core.
FORBIDDEN = re.compile(r"^(torch|fastapi|starlette|uvicorn|ray|onnx|sklearn|mleditor\.(serve|batch|hybrid|"
                       r"training|stores))(\.|$)")
# Fails every socket the process tries to open, loopback included.
NO_SOCKETS = """
import socket
class _NoNetwork(socket.socket):
    def __init__(self, *args, **kwargs):
        raise OSError("network disabled by the offline test")
socket.socket = _NoNetwork
"""


def _unshare_works() -> bool:
    if shutil.which("unshare") is None:
        return False
    return subprocess.run(["unshare", "-n", "true"], capture_output=True).returncode == 0


@pytest.mark.parametrize("version", ["v2", "v3"])
def test_device_predict_answers_as_mleditor_predict_does(fp32_bundle, version):
    device = run_mleditor("device", "predict", "--bundle", str(fp32_bundle.path), "--model", version, "--json",
                          *QUESTION)
    server_side = run_mleditor("predict", "--model", version, "--json", *QUESTION)
    assert device.returncode == 0 and server_side.returncode == 0, device.stderr + server_side.stderr
    got, expected = json.loads(device.stdout), json.loads(server_side.stdout)
    assert got.pop("model_id") == expected.pop("model_id") + "+fp32"
    assert got == expected


def test_device_predict_runs_with_no_network_at_all(fp32_bundle, tmp_path):
    """No socket can be opened (a patched socket module), and where the kernel allows, no network namespace."""
    (tmp_path / "sitecustomize.py").write_text(NO_SOCKETS)
    command = mleditor_command("device", "predict", "--bundle", str(fp32_bundle.path), "--json", *QUESTION)
    if _unshare_works():
        command = ["unshare", "-n", *command]
    env = {"PYTHONPATH": f"{tmp_path}:{Path(__file__).parents[2]}", "PATH": "/usr/bin:/bin"}
    result = subprocess.run(command, capture_output=True, text=True, timeout=60, env=env)
    assert result.returncode == 0, result.stderr
    assert 0 <= json.loads(result.stdout)["score"] <= 1
    check = subprocess.run([sys.executable, "-c", "import socket; socket.socket()"], capture_output=True, text=True,
                           env=env, timeout=30)
    assert "network disabled by the offline test" in check.stderr  # the guard is really in place


def test_the_runtime_imports_only_core_and_one_engine(fp32_bundle):
    result = subprocess.run([sys.executable, "-X", "importtime", *mleditor_command("device", "predict", "--bundle",
                                                                                  str(fp32_bundle.path), *QUESTION)[1:]],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr[-2000:]
    imported = {line.rsplit("|", 1)[1].strip() for line in result.stderr.splitlines() if line.startswith("import time:")}
    assert "onnxruntime" in imported and "mleditor.core.pipeline" in imported
    assert sorted(name for name in imported if FORBIDDEN.match(name)) == []


def test_a_loaded_bundle_scores_in_process(fp32_bundle):
    from mleditor.core.records import Question

    prediction = load_predictor(fp32_bundle.path).predict(Question("Flat beer?", "It tastes flat."), "v2")
    assert prediction.model_id.endswith("+fp32") and 0 <= prediction.score <= 1
