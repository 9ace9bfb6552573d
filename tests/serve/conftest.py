"""Fixtures for the server's tests: a question, the shipped model's scorer, and services and clients on a temporary store."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Iterator

import httpx
import numpy as np
import pytest
import uvicorn

from mleditor.core.registry import resolve_model
from mleditor.core.scorer import OnnxScorer
from mleditor.serve.app import create_app
from mleditor.serve.connections import ConnectionLimits, guarded_protocol
from mleditor.serve.service import PredictionService
from mleditor.serve.settings import ServeSettings
from tests.helpers import GOOD_QUESTION, free_port


@pytest.fixture
def question() -> dict[str, str]:
    """A well-formed question as the JSON API takes it."""
    return dict(GOOD_QUESTION)


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


@pytest.fixture
def make_server(settings, make_service) -> Iterator[Callable[..., int]]:
    """make_server(**setting_overrides) -> the port of the app under uvicorn with `mleditor serve`'s protocol.

    The server runs in a thread of this process on 127.0.0.1 and is stopped (and its thread joined)
    when the test ends.
    """
    running: list[tuple[uvicorn.Server, threading.Thread]] = []

    def make(**overrides) -> int:
        chosen = dataclasses.replace(settings, **overrides)
        port = free_port()
        config = uvicorn.Config(create_app(chosen, make_service(**overrides)), host="127.0.0.1", port=port,
                                http=guarded_protocol(ConnectionLimits.from_settings(chosen)), ws="none",
                                log_config=None, access_log=False)
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, name=f"uvicorn-{port}", daemon=True)
        thread.start()
        running.append((server, thread))
        deadline = time.monotonic() + 15
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
            time.sleep(0.02)
        return port

    yield make
    for server, _ in running:
        server.should_exit = True
    for _, thread in running:
        thread.join(15)
