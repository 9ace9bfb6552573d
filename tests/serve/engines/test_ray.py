"""`mleditor serve --engine ray`: the same app on Ray Serve, with answers equal to the local service's, scaled
out under load and back in when the load stops (a local 2-CPU Ray; Ray's own autoscaler does the scaling)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator

import httpx
import pytest

from mleditor.core.pipeline import Pipeline, PredictRequest
from mleditor.core.registry import resolve_model
from mleditor.errors import InvalidInputError
from mleditor.serve.engines.ray import (
    APP_NAME,
    Autoscaling,
    build_application,
    fast_data_plane_environment,
    haproxy_available,
    running_replicas,
)
from mleditor.serve.settings import ServeSettings
from tests.helpers import GOOD_QUESTION, RAY_2_55_LEAKS, free_port, run_mleditor

ray = pytest.importorskip("ray")

pytestmark = [
    pytest.mark.slow,
    # Ray 2.60 deprecates metrics_interval_s but still reads it (and nothing else) for the report interval.
    pytest.mark.filterwarnings("ignore:The `metrics_interval_s` field:DeprecationWarning"),
    *RAY_2_55_LEAKS,
]

# Fast, reliable scaling on a 2-core CI box rather than production values:
# - target 1 request in flight per replica: 24 clients keep far more than that queued, so the decision is clear;
# - reports every 0.25 s averaged over 1 s, 0.5 s before scaling out and 2 s before scaling in, so the whole
#   cycle takes seconds, not Ray's default minutes;
# - 0.5 logical CPU per replica, so two replicas fit in the 2-CPU cluster with room to spare.
FAST_AUTOSCALING = Autoscaling(min_replicas=1, max_replicas=2, target_ongoing_requests=1, upscale_delay_s=0.5,
                               downscale_delay_s=2.0, metrics_interval_s=0.25, look_back_period_s=1.0,
                               replica_cpus=0.5)
LOAD_CLIENTS = 24
LOAD_MAX_S = 20.0
LOAD_MAX_REQUESTS = 20_000


@pytest.fixture(scope="module")
def ray_url(tmp_path_factory) -> Iterator[str]:
    """A local Ray with the app deployed on a free loopback port; Serve and Ray are shut down afterwards."""
    from ray import serve

    # The data plane `mleditor serve --engine ray` starts (HAProxy, throughput-optimized), for this Ray only.
    with pytest.MonkeyPatch.context() as patch:
        scratch = tempfile.mkdtemp(prefix="mlehap-", dir="/tmp")  # short: HAProxy caps its socket path at 97 bytes
        for name, value in fast_data_plane_environment(ray.__version__, haproxy_available(ray.__version__),
                                                       scratch).items():
            patch.setenv(name, value)
        # address="local" starts a fresh cluster even when RAY_ADDRESS points elsewhere.
        ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="WARNING")
    # The port is chosen once Ray's own processes hold theirs (one of them took a port chosen earlier, once in CI).
    # The cache and the rate limit are off: repeated questions and one client IP must still reach the model.
    settings = ServeSettings(port=free_port(), store_path=str(tmp_path_factory.mktemp("ray") / "serve.db"),
                             cache_size=0, rate_limit_per_minute=0, max_wait_ms=1.0, graceful_timeout_s=2.0)
    try:
        serve.start(http_options={"host": settings.host, "port": settings.port})
        serve.run(build_application(settings, FAST_AUTOSCALING), name=APP_NAME, route_prefix="/")
        yield f"http://{settings.host}:{settings.port}"
    finally:
        serve.shutdown()
        ray.shutdown()
        shutil.rmtree(scratch, ignore_errors=True)


def test_answers_over_ray_equal_the_local_pipeline(ray_url, model_score):
    pipeline = Pipeline(resolve_model(None), model_score)
    with httpx.Client(base_url=ray_url, timeout=30) as client:
        for version in ("v2", "v3"):
            response = client.post(f"/predict/{version}", json=GOOD_QUESTION)
            assert response.status_code == 200, response.text
            answer = response.json()
            expected = pipeline.run(PredictRequest(GOOD_QUESTION["title"], GOOD_QUESTION["body"], version=version))
            assert answer["model_version"] == version
            assert answer["score"] == pytest.approx(expected.prediction.score, abs=1e-6)
            assert [r["feature"] for r in answer["recommendations"]] == [
                r.feature for r in expected.prediction.recommendations]
        assert client.get("/readyz").json()["status"] == "ready"


class LoadGenerator:
    """`clients` threads posting distinct questions until stopped, `max_s` passes or `max_requests` are sent."""

    def __init__(self, url: str, clients: int, max_s: float, max_requests: int) -> None:
        self.url, self.clients, self.deadline, self.max_requests = url, clients, time.monotonic() + max_s, max_requests
        self.stopped = threading.Event()
        self.lock = threading.Lock()
        self.sent = self.in_flight = self.failed = 0
        self.threads = [threading.Thread(target=self._client, daemon=True) for _ in range(clients)]

    def __enter__(self) -> LoadGenerator:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def stop(self) -> None:
        self.stopped.set()
        for thread in self.threads:
            thread.join(timeout=35)

    def _next(self) -> int | None:
        with self.lock:
            if self.stopped.is_set() or self.sent >= self.max_requests or time.monotonic() > self.deadline:
                return None
            self.sent += 1
            self.in_flight += 1
            return self.sent

    def _client(self) -> None:
        with httpx.Client(base_url=self.url, timeout=30) as client:
            while (n := self._next()) is not None:
                try:
                    ok = client.post("/predict/v3", json={**GOOD_QUESTION, "title": f"{GOOD_QUESTION['title']} #{n}"}
                                     ).status_code == 200
                except httpx.HTTPError:
                    ok = False
                with self.lock:
                    self.in_flight -= 1
                    self.failed += not ok


def wait_for_replicas(expected: int, timeout_s: float, timeline: list[tuple[float, int, int]], start: float,
                      in_flight: Callable[[], int]) -> bool:
    """Poll `serve.status()` until `expected` replicas run; each poll adds (seconds, in flight, replicas)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        replicas = running_replicas()
        timeline.append((round(time.monotonic() - start, 2), in_flight(), replicas))
        if replicas == expected:
            return True
        time.sleep(0.25)
    return False


def test_load_adds_a_replica_and_it_goes_away_when_the_load_stops(ray_url):
    timeline: list[tuple[float, int, int]] = []
    start = time.monotonic()
    assert wait_for_replicas(1, 10, timeline, start, lambda: 0), timeline
    with LoadGenerator(ray_url, LOAD_CLIENTS, LOAD_MAX_S, LOAD_MAX_REQUESTS) as load:
        scaled_out = wait_for_replicas(2, LOAD_MAX_S, timeline, start, lambda: load.in_flight)
    assert scaled_out, f"no second replica under load; (s, in flight, replicas): {timeline}"
    assert load.sent > 0 and load.failed == 0, f"{load.failed} of {load.sent} requests failed"
    stopped_at = len(timeline)
    scaled_in = wait_for_replicas(1, 30, timeline, start, lambda: load.in_flight)
    assert scaled_in, f"still 2 replicas 30 s after the load stopped; (s, in flight, replicas): {timeline}"
    print(f"\n{load.sent} requests; (s, in flight, replicas): {timeline[:stopped_at]} | load stopped | "
          f"{timeline[stopped_at:]}")


def test_serve_engine_ray_answers_and_finishes_in_flight_requests_on_sigterm(tmp_path):
    port = free_port()
    log = tmp_path / "serve.log"
    # A request waits 1.5 s in the batcher: long enough to be in flight when SIGTERM comes.
    env = {**os.environ, "MLEDITOR_SERVE_STORE_PATH": str(tmp_path / "serve.db"), "MLEDITOR_SERVE_MAX_WAIT_MS": "1500"}
    env.pop("RAY_ADDRESS", None)  # its own local Ray, started and stopped by the command
    answers: list[httpx.Response] = []
    with log.open("w") as out:
        server = subprocess.Popen([sys.executable, "-m", "mleditor", "serve", "--engine", "ray", "--port", str(port)],
                                  env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while "ML Editor on Ray Serve at" not in log.read_text() and server.poll() is None:
            assert time.monotonic() < deadline, log.read_text()[-2000:]
            time.sleep(0.25)
        assert server.poll() is None, log.read_text()[-2000:]
        in_flight = threading.Thread(target=lambda: answers.append(httpx.post(
            f"http://127.0.0.1:{port}/predict/v2", json=GOOD_QUESTION, timeout=30)))
        in_flight.start()
        time.sleep(0.5)
        server.send_signal(signal.SIGTERM)
        in_flight.join(30)
        assert server.wait(60) == 0
    finally:
        if server.poll() is None:
            server.kill()
    assert answers and answers[0].status_code == 200 and answers[0].json()["model_version"] == "v2"
    assert "stopping: replicas finish the requests they hold, then stop" in log.read_text()


def test_a_busy_port_is_a_one_line_error_before_ray_starts():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        result = run_mleditor("serve", "--engine", "ray", "--port", str(busy.getsockname()[1]))
    assert result.returncode == 2 and result.stderr.startswith("error: cannot listen on 127.0.0.1:")
    assert "Traceback" not in result.stderr


def test_autoscaling_settings_that_cannot_work_are_refused_by_name():
    with pytest.raises(InvalidInputError, match="max_replicas=1 is not valid; expected at least 1 and at least "
                                                r"min_replicas \(2\)"):
        Autoscaling(min_replicas=2, max_replicas=1)
    assert Autoscaling().to_ray() == {"min_replicas": 1, "max_replicas": 2, "target_ongoing_requests": 2.0,
                                      "upscale_delay_s": 10.0, "downscale_delay_s": 60.0}
