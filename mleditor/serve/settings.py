"""The server's settings: one frozen object, read from a TOML file's `[serve]` table, then the environment.

Precedence, lowest first: the defaults below, the file, `MLEDITOR_SERVE_<FIELD>` variables, and
(in `mleditor serve`) the command-line flags. The loading is `mleditor.config.load_settings`, shared
by every door: unknown keys and bad values are refused with a message that names the key and
where it came from, so a typo never silently falls back to a default.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from mleditor import config
from mleditor.config import (
    Check,
    at_least,
    between,
    check_settings,
    each_one_of,
    more_than,
    one_of,
)
from mleditor.core.registry import MODEL_VERSIONS

SECTION = "serve"
ENV_PREFIX = config.env_prefix(SECTION)  # MLEDITOR_SERVE_
CONFIG_ENV = ENV_PREFIX + "CONFIG"  # this door's own file; $MLEDITOR_CONFIG is the file every door shares
LOG_LEVELS = ("critical", "error", "warning", "info", "debug")
RATE_LIMIT_BACKENDS = ("shared", "process")  # mleditor.serve.ratelimit.open_rate_limiter
OPERATOR_ACCESS = ("auto", "open", "key")


@dataclass(frozen=True)
class ServeSettings:
    """Everything `mleditor serve` and `create_app` need to know, checked when it is made.

    Build it directly (tests, benchmarks) or with `load_settings` (the server), which reads the
    `[serve]` table of a TOML file and `MLEDITOR_SERVE_<FIELD>` variables over these defaults.

    Parameters:
        host: interface to listen on.
        port: TCP port, 0-65535.
        workers: server processes, each with its own model; at least 1.
        model: model id or directory; None is the shipped default.
        model_threads: onnxruntime intra-op threads per process; 0 lets onnxruntime choose.
        store_path: SQLite file with API keys and user profiles.
        anonymous_enabled: whether callers without a key (the public demo page) are allowed.
        anonymous_scopes: the model versions anonymous callers may use.
        max_batch_size: model rows per micro-batch (best of 7 settings in benchmarks/bench_serve.py).
        max_wait_ms: under load only, how long a batch of requests that queued during a model call
            may wait for more rows, 0-10000; a request that finds the batcher idle never waits.
        cache_size: LRU cache entries; 0 turns the cache off.
        rate_limit_per_minute: requests per API key, or per client IP for anonymous callers; 0 is off.
        rate_limit_backend: "shared" (one budget per caller across every worker process and Ray
            replica whose store_path is the same file; buckets in `<store>.ratelimit.db` next to it) or
            "process" (each process counts alone: N workers let up to N times the limit through).
        max_request_bytes: larger request bodies get 413 before they are read.
        body_timeout_s: a client that stalls this long between two chunks of its body gets 408.
        body_deadline_s: the whole body must arrive within this many seconds of the headers, however
            it trickles; 408 otherwise (a client sending a byte every 5 s never stalls for 30 s).
        header_deadline_s: the request line and headers must arrive within this many seconds of the
            connection opening (or of the request's first byte on a kept-alive connection); else the
            connection is closed, with a 408 when part of a request came. Set by `mleditor serve`
            (uvicorn has no such limit); under another server, that server's limits apply.
        max_connections_per_client: open connections one client IP may hold per server process; a
            request on one more gets 429 and the connection is closed. 0 is off (use 0, or the proxy's
            own limit, behind a reverse proxy: every client then has the proxy's address).
        operator_access: who may read /metrics, /docs and /openapi.json: "open" (anyone), "key" (an
            API key with the `ops` scope: `mleditor keys create --scopes ops`), or "auto" (open while
            anonymous access is on, else "key"). /healthz and /readyz stay open for probes.
        log_level: one of critical, error, warning, info, debug (any case; kept lower-case).
        graceful_timeout_s: how long shutdown waits for in-flight requests.

    Example:
        >>> from mleditor.serve.settings import ServeSettings, load_settings
        >>> load_settings(environ={"MLEDITOR_SERVE_PORT": "9000", "MLEDITOR_SERVE_LOG_LEVEL": "DEBUG"}).port
        9000
        >>> ServeSettings(workers=0)
        Traceback (most recent call last):
        ...
        mleditor.errors.InvalidInputError: serve workers=0 is not valid; expected at least 1
    """

    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    model: str | None = None
    model_threads: int = 1
    store_path: str = "mleditor.db"
    anonymous_enabled: bool = True
    anonymous_scopes: tuple[str, ...] = MODEL_VERSIONS
    max_batch_size: int = 64
    max_wait_ms: float = 0.5
    cache_size: int = 10_000
    rate_limit_per_minute: int = 600
    rate_limit_backend: str = "shared"
    max_request_bytes: int = 1_048_576
    body_timeout_s: float = 30.0
    body_deadline_s: float = 60.0
    header_deadline_s: float = 10.0
    max_connections_per_client: int = 100
    operator_access: str = "auto"
    log_level: str = "info"
    graceful_timeout_s: float = 10.0

    checks: ClassVar[Mapping[str, Check]] = {
        "port": between(0, 65535, "a TCP port 0-65535"),
        "workers": at_least(1),
        "model_threads": at_least(0, "0 (onnxruntime chooses) or more"),
        "anonymous_scopes": each_one_of(MODEL_VERSIONS, "model versions"),
        "max_batch_size": at_least(1),
        "max_wait_ms": between(0, 10_000, "0 to 10000 milliseconds"),
        "cache_size": at_least(0, "0 (off) or more"),
        "rate_limit_per_minute": at_least(0, "0 (off) or more"),
        "rate_limit_backend": one_of(RATE_LIMIT_BACKENDS),
        "max_request_bytes": at_least(1),
        "body_timeout_s": more_than(0, "more than 0 seconds"),
        "body_deadline_s": more_than(0, "more than 0 seconds"),
        "header_deadline_s": more_than(0, "more than 0 seconds"),
        "max_connections_per_client": at_least(0, "0 (off) or more"),
        "operator_access": one_of(OPERATOR_ACCESS),
        "log_level": one_of(LOG_LEVELS),
        "graceful_timeout_s": at_least(0, "0 or more seconds"),
    }

    def __post_init__(self) -> None:
        if isinstance(self.log_level, str):  # INFO works as well as info; uvicorn wants lower case
            object.__setattr__(self, "log_level", self.log_level.lower())
        check_settings(self, SECTION, self.checks)

    @property
    def operator_endpoints_open(self) -> bool:
        """Whether /metrics, /docs and /openapi.json answer without a key (see `operator_access`)."""
        return self.operator_access == "open" or (self.operator_access == "auto" and self.anonymous_enabled)


def load_settings(path: Path | str | None = None, environ: Mapping[str, str] | None = None) -> ServeSettings:
    """Defaults, then the `[serve]` table of the TOML file `path` (or $MLEDITOR_SERVE_CONFIG,
    $MLEDITOR_CONFIG), then env vars."""
    return config.load_settings(ServeSettings, SECTION, path, environ)


def settings_to_env(settings: ServeSettings) -> dict[str, str]:
    """The settings as `MLEDITOR_SERVE_*` variables (for worker processes started by uvicorn)."""
    return config.settings_to_env(settings, SECTION)
