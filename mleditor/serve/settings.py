"""The server's settings: one frozen object, read from a TOML file's `[serve]` table, then the environment.

Precedence, lowest first: the defaults below, the file, `MLEDITOR_SERVE_<FIELD>` variables, and
(in `mleditor serve`) the command-line flags. Unknown keys and bad values are refused with a
message that names the key, so a typo never silently falls back to a default.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mleditor.core.registry import MODEL_VERSIONS
from mleditor.errors import InvalidInputError

ENV_PREFIX = "MLEDITOR_SERVE_"
CONFIG_ENV = "MLEDITOR_SERVE_CONFIG"
LOG_LEVELS = ("critical", "error", "warning", "info", "debug")


@dataclass(frozen=True)
class ServeSettings:
    """Everything `mleditor serve` and `create_app` need to know; see load_settings for where it comes from."""

    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    model: str | None = None  # model id or directory; None = the shipped default
    model_threads: int = 1  # onnxruntime intra-op threads per process (0 = let onnxruntime choose)
    store_path: str = "mleditor.db"  # SQLite file with API keys and user profiles
    anonymous_enabled: bool = True  # callers without a key (the public demo page) are allowed
    anonymous_scopes: tuple[str, ...] = MODEL_VERSIONS
    max_batch_size: int = 64  # model rows per micro-batch (best of 7 settings in benchmarks/bench_serve.py)
    max_wait_ms: float = 0.5  # how long the first request of a batch waits for company (2 ms halved a lone client)
    cache_size: int = 10_000  # LRU entries; 0 turns the cache off
    rate_limit_per_minute: int = 600  # per API key, or per client IP for anonymous callers; 0 = off
    max_request_bytes: int = 1_048_576
    body_timeout_s: float = 30.0  # a client that stalls this long while sending its body gets 408
    log_level: str = "info"
    graceful_timeout_s: float = 10.0  # how long shutdown waits for in-flight requests
    hybrid_store: str | None = None  # prediction store URL (sqlite:///… or postgresql://…): serve stored predictions first
    hybrid_ttl_s: float = 7 * 24 * 3600.0  # a stored prediction older than this is recomputed live

    def __post_init__(self) -> None:
        _check_settings(self)


def _check_settings(s: ServeSettings) -> None:
    """Refuse values that cannot work, naming the key and what it accepts."""
    problems = {
        "port": not 0 <= s.port <= 65535 and "a TCP port 0-65535",
        "workers": s.workers < 1 and "at least 1",
        "model_threads": s.model_threads < 0 and "0 (onnxruntime chooses) or more",
        "max_batch_size": s.max_batch_size < 1 and "at least 1",
        "max_wait_ms": not 0 <= s.max_wait_ms <= 10_000 and "0 to 10000 milliseconds",
        "cache_size": s.cache_size < 0 and "0 (off) or more",
        "rate_limit_per_minute": s.rate_limit_per_minute < 0 and "0 (off) or more",
        "max_request_bytes": s.max_request_bytes < 1 and "at least 1",
        "body_timeout_s": s.body_timeout_s <= 0 and "more than 0 seconds",
        "graceful_timeout_s": s.graceful_timeout_s < 0 and "0 or more seconds",
        "hybrid_ttl_s": s.hybrid_ttl_s <= 0 and "more than 0 seconds",
        "log_level": s.log_level not in LOG_LEVELS and f"one of {', '.join(LOG_LEVELS)}",
        "anonymous_scopes": not set(s.anonymous_scopes) <= set(MODEL_VERSIONS)
        and f"model versions among {', '.join(MODEL_VERSIONS)}",
    }
    for key, expected in problems.items():
        if expected:
            raise InvalidInputError(f"serve setting {key}={getattr(s, key)!r} is not valid; expected {expected}")


_FIELDS = {f.name: f for f in dataclasses.fields(ServeSettings)}


def load_settings(path: Path | str | None = None, environ: Mapping[str, str] | None = None) -> ServeSettings:
    """Defaults, then the `[serve]` table of the TOML file `path` (or $MLEDITOR_SERVE_CONFIG), then env vars."""
    env = os.environ if environ is None else environ
    if path is None and env.get(CONFIG_ENV):
        path = env[CONFIG_ENV]
    values: dict[str, Any] = {}
    if path is not None:
        values.update(_read_file(Path(path)))
    for name, raw in env.items():
        if not name.startswith(ENV_PREFIX) or name == CONFIG_ENV:
            continue
        key = name[len(ENV_PREFIX):].lower()
        if key not in _FIELDS:
            raise InvalidInputError(f"unknown setting {name}; known: {_known(ENV_PREFIX)}")
        values[key] = _convert(key, raw, source=name)
    return ServeSettings(**values)


def settings_to_env(settings: ServeSettings) -> dict[str, str]:
    """The settings as `MLEDITOR_SERVE_*` variables (for worker processes started by uvicorn)."""
    env = {}
    for name in _FIELDS:
        value = getattr(settings, name)
        if value is None:
            continue
        text = ",".join(value) if isinstance(value, tuple) else str(value).lower() if isinstance(value, bool) else str(value)
        env[ENV_PREFIX + name.upper()] = text
    return env


def _read_file(path: Path) -> dict[str, Any]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InvalidInputError(f"settings file {path} not found; check --config or ${CONFIG_ENV}") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise InvalidInputError(f"settings file {path} cannot be read: {exc}") from None
    table = data.get("serve", {})
    if not isinstance(table, dict):
        raise InvalidInputError(f"{path}: [serve] must be a table of settings")
    values = {}
    for key, raw in table.items():
        if key not in _FIELDS:
            raise InvalidInputError(f"{path}: unknown setting serve.{key}; known: {_known('')}")
        values[key] = _convert(key, raw, source=f"{path}: serve.{key}")
    return values


def _convert(key: str, raw: Any, source: str) -> Any:
    """Turn a TOML value or an environment string into the field's type; refuse what does not fit."""
    default = _FIELDS[key].default
    try:
        if key in ("model", "hybrid_store"):
            return None if raw in ("", None) else str(raw)
        if isinstance(default, bool):
            return _to_bool(raw)
        if isinstance(default, tuple):
            items = raw.split(",") if isinstance(raw, str) else raw
            if not isinstance(items, list | tuple) or not all(isinstance(i, str) for i in items):
                raise ValueError
            return tuple(i.strip() for i in items if i.strip())
        if isinstance(default, int):
            if isinstance(raw, bool) or isinstance(raw, float):
                raise ValueError
            return int(raw)
        if isinstance(default, float):
            if isinstance(raw, bool):
                raise ValueError
            return float(raw)
        if not isinstance(raw, str):
            raise ValueError
        return raw.lower() if key == "log_level" else raw
    except (TypeError, ValueError):
        kind = {bool: "true or false", tuple: "a comma-separated list", int: "an integer", float: "a number"}
        expected = kind.get(type(default), "text")
        raise InvalidInputError(f"{source}={raw!r} is not valid; expected {expected}") from None


def _to_bool(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and raw.strip().lower() in ("1", "true", "yes", "on"):
        return True
    if isinstance(raw, str) and raw.strip().lower() in ("0", "false", "no", "off"):
        return False
    raise ValueError(raw)


def _known(prefix: str) -> str:
    return ", ".join(prefix + (name.upper() if prefix else name) for name in _FIELDS)
