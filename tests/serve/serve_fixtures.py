"""Fixtures for the server's tests (imported by each test module: a conftest.py here would shadow tests/conftest.py)."""

from __future__ import annotations

import dataclasses
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable

import httpx
import numpy as np
import pytest

from mleditor.core.registry import resolve_model
from mleditor.core.scorer import OnnxScorer
from mleditor.serve.app import create_app
from mleditor.serve.service import PredictionService
from mleditor.serve.settings import ServeSettings

GOOD_QUESTION = {
    "title": "How do I keep a bottle-conditioned ale from over-carbonating?",
    "body": "I bottle my pale ale with 120 g of priming sugar per 20 L batch. After three weeks the bottles gush.\n\n"
            "- Is my priming rate too high?\n- Could an infection cause this?\n\nWhat should I check first?",
}


@pytest.fixture
def question() -> dict[str, str]:
    """A well-formed question as the JSON API takes it."""
    return dict(GOOD_QUESTION)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def model_score() -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """The shipped model's scorer, loaded once for the whole session."""
    return OnnxScorer.from_path(resolve_model(None).onnx_path).score


@pytest.fixture
def settings(tmp_path) -> ServeSettings:
    return ServeSettings(store_path=str(tmp_path / "serve.db"), max_wait_ms=1.0)


@pytest.fixture
def make_service(settings, model_score) -> Callable[..., PredictionService]:
    """make_service(score=None, **setting_overrides) -> a service on the temporary store."""

    def make(score=None, **overrides) -> PredictionService:
        return PredictionService.from_settings(dataclasses.replace(settings, **overrides), score=score or model_score)

    return make


@pytest.fixture
def make_client(settings, make_service) -> Callable[..., httpx.AsyncClient]:
    """make_client(score=None, **setting_overrides) -> an httpx client talking to a fresh app in-process."""

    def make(score=None, **overrides) -> httpx.AsyncClient:
        service = make_service(score, **overrides)
        app = create_app(dataclasses.replace(settings, **overrides), service)
        return httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://testserver")

    return make


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(tmp_path, *args: str, **env: str) -> tuple[subprocess.Popen, str]:
    """Run `mleditor serve` on a free port and return it once /healthz answers."""
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "mleditor", "serve", "--port", str(port), *args],
                              env={**os.environ, "MLEDITOR_SERVE_STORE_PATH": str(tmp_path / "serve.db"), **env},
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(base + "/healthz", timeout=1).json() == {"status": "ok"}:
                return server, base
        except httpx.HTTPError:
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                raise AssertionError(f"the server did not start: {server.communicate()[1][-2000:]}") from None
            time.sleep(0.1)
