"""`mleditor serve`, `mleditor keys` and `mleditor profiles`: run the API and page, manage who may call it.

Server libraries are imported inside the commands, so `mleditor predict` starts as fast as before.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

import typer
from rich.table import Table

from mleditor.cli.options import account_store_option, err, json_option, out
from mleditor.errors import InvalidInputError, require_extra

if TYPE_CHECKING:
    from mleditor.hybrid.settings import HybridSettings
    from mleditor.serve.settings import ServeSettings
    from mleditor.stores.accounts import AccountStore

keys_app = typer.Typer(help="Create, list and revoke API keys for the server.", no_args_is_help=True)
profiles_app = typer.Typer(help="Set user profiles that the server's gather step reads.", no_args_is_help=True)


def _config_option() -> Any:
    return typer.Option(None, "--config", "-c",
                        help="TOML settings file with a 'serve' table (default: $MLEDITOR_SERVE_CONFIG).")


def _open_store(store: Optional[str]) -> AccountStore:
    from mleditor.serve.settings import load_settings
    from mleditor.stores.accounts import AccountStore

    return AccountStore(store or load_settings().store_path)


def serve(
    host: Optional[str] = typer.Option(None, "--host", help="Interface to listen on (default 127.0.0.1)."),
    port: Optional[int] = typer.Option(None, "--port", "-p", help="TCP port (default 8000)."),
    workers: Optional[int] = typer.Option(None, "--workers", "-w", help="Worker processes, each with its own model."),
    config: Optional[Path] = _config_option(),
    engine: str = typer.Option("local", "--engine", help="local (uvicorn) or ray (Ray Serve; extra 'ray')."),
    min_replicas: Optional[int] = typer.Option(None, "--min-replicas", help="Ray: fewest replicas (default 1)."),
    max_replicas: Optional[int] = typer.Option(None, "--max-replicas", help="Ray: most replicas (default 2)."),
    target_ongoing: Optional[float] = typer.Option(
        None, "--target-ongoing-requests", help="Ray: requests per replica the autoscaler aims for (default 2)."),
) -> None:
    """Run the JSON API, the page and the operations endpoints (/healthz, /readyz, /metrics)."""
    from mleditor.hybrid.settings import load_settings as load_hybrid_settings
    from mleditor.serve.settings import load_settings

    flags: dict[str, Any] = {"host": host, "port": port, "workers": workers}
    settings = dataclasses.replace(load_settings(config), **{k: v for k, v in flags.items() if v is not None})
    hybrid = load_hybrid_settings(config)
    scaling: dict[str, Any] = {"min_replicas": min_replicas, "max_replicas": max_replicas,
                               "target_ongoing_requests": target_ongoing}
    scaling = {k: v for k, v in scaling.items() if v is not None}
    if engine == "ray":
        if hybrid.store:
            raise InvalidInputError("the hybrid store is not wired into --engine ray yet; unset MLEDITOR_HYBRID_STORE "
                                    "or use --engine local")
        _run_ray(settings, scaling)
    elif engine == "local":
        if scaling:
            raise InvalidInputError(f"--{next(iter(scaling)).replace('_', '-')} applies to --engine ray only")
        _run_uvicorn(settings, hybrid)
    else:
        raise InvalidInputError(f"unknown engine {engine!r}; choose local or ray")


def _run_uvicorn(settings: ServeSettings, hybrid: HybridSettings) -> None:
    import uvicorn

    from mleditor.config import CONFIG_ENV
    from mleditor.hybrid.settings import settings_to_env as hybrid_to_env
    from mleditor.serve.connections import ConnectionLimits, guarded_protocol
    from mleditor.serve.logs import configure_logging
    from mleditor.serve.metrics import multiprocess_directory
    from mleditor.serve.settings import CONFIG_ENV as SERVE_CONFIG_ENV
    from mleditor.serve.settings import settings_to_env
    from mleditor.serve.workers import serve_workers

    configure_logging(settings.log_level)
    options: dict[str, Any] = {"host": settings.host, "port": settings.port, "log_config": None, "access_log": False,
                               "log_level": settings.log_level,
                               "timeout_graceful_shutdown": max(1, round(settings.graceful_timeout_s)),
                               # deadlines for headers and bodies, a cap per client IP (uvicorn has neither);
                               # no WebSocket upgrades: the app has no WebSocket route
                               "http": guarded_protocol(ConnectionLimits.from_settings(settings)), "ws": "none"}
    # uvicorn re-raises SIGTERM/SIGINT after its graceful shutdown, which would end the process with a signal
    # status; a drained, orderly shutdown is a success, so it exits 0.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: sys.exit(0))
    # With a prediction store configured, the hybrid door answers first (stored, else live + write-back).
    factory = "mleditor.hybrid.app:hybrid_app_from_env" if hybrid.store else "mleditor.serve.app:app_from_env"
    if settings.workers == 1:
        if hybrid.store:
            from mleditor.hybrid.app import create_hybrid_app

            app = create_hybrid_app(settings, hybrid)
        else:
            from mleditor.serve.app import create_app

            app = create_app(settings)
        uvicorn.run(app, **options)
        return
    # Worker processes rebuild the app from the environment: pass every setting down explicitly.
    for name in (CONFIG_ENV, SERVE_CONFIG_ENV, "MLEDITOR_HYBRID_CONFIG"):
        os.environ.pop(name, None)
    os.environ.update(settings_to_env(settings) | hybrid_to_env(hybrid))
    # Each worker writes its metrics to files there, and /metrics sums them whichever worker answers.
    # Each worker listens on its own SO_REUSEPORT socket: the kernel spreads connections over them (serve/workers.py).
    with multiprocess_directory():
        serve_workers(uvicorn.Config(factory, factory=True, workers=settings.workers, **options))


def _run_ray(settings: ServeSettings, scaling: dict[str, Any]) -> None:
    require_extra("ray", "ray")
    from mleditor.serve.engines.ray import Autoscaling, run

    run(settings, Autoscaling(**scaling))  # Autoscaling refuses bad values with a one-line InvalidInputError


@keys_app.command("create")
def keys_create(
    name: str = typer.Option(..., "--name", help="Who or what uses the key, e.g. demo-app."),
    scopes: str = typer.Option("v1,v2,v3", "--scopes",
                               help="Model versions the key may call, e.g. v1,v2; add ops for /metrics, /docs "
                                    "and /openapi.json when those are closed (operator_access)."),
    store: Optional[str] = account_store_option(),
) -> None:
    """Create an API key and print it once; only its hash is stored."""
    from mleditor.stores.keys import create_api_key

    key = create_api_key(_open_store(store), name, scopes)
    sys.stdout.write(key + "\n")
    err.print("Keep this key: it is shown only once. Send it as 'Authorization: Bearer <key>'.")


@keys_app.command("list")
def keys_list(store: Optional[str] = account_store_option(),
              as_json: bool = json_option()) -> None:
    """List the keys (ids, names, scopes, dates; never the secrets)."""
    from mleditor.stores.keys import list_api_keys

    keys = list_api_keys(_open_store(store))
    if as_json:
        sys.stdout.write(json.dumps([dataclasses.asdict(k) for k in keys], indent=2) + "\n")
        return
    table = Table("key id", "name", "scopes", "created", "revoked")
    for key in keys:
        table.add_row(key.key_id, key.name, ",".join(key.scopes), key.created, key.revoked or "-")
    out.print(table)


@keys_app.command("revoke")
def keys_revoke(key_id: str = typer.Argument(..., help="The key id (the part after mle_)."),
                store: Optional[str] = account_store_option()) -> None:
    """Revoke a key; requests with it get 401 from then on."""
    from mleditor.stores.keys import revoke_api_key

    revoke_api_key(_open_store(store), key_id)
    err.print(f"revoked {key_id}")


@profiles_app.command("set")
def profiles_set(
    user_id: str = typer.Argument(..., help="The user id clients send as user_id."),
    questions: int = typer.Option(0, "--questions", help="How many questions the user asked."),
    median_score: Optional[float] = typer.Option(None, "--median-score", help="Median score of their questions."),
    preferred_version: Optional[str] = typer.Option(None, "--preferred-version", help="v1, v2 or v3."),
    site: Optional[str] = typer.Option(None, "--site", help="The user's Stack Exchange site (with --owner-id)."),
    owner_id: Optional[int] = typer.Option(None, "--owner-id", help="The user's account id on --site: finds "
                                           "their personal model part (author site:user:<id>)."),
    store: Optional[str] = account_store_option(),
) -> None:
    """Create or replace a user's profile."""
    from mleditor.stores.profiles import upsert_profile

    profile = upsert_profile(_open_store(store), user_id, questions, median_score, preferred_version,
                             site=site, owner_id=owner_id)
    err.print(f"profile {profile.user_id}: {profile.questions_asked} questions, median score "
              f"{profile.median_score if profile.median_score is not None else '-'}, "
              f"prefers {profile.preferred_version or '-'}, author {profile.author or '-'}")


def register(app: typer.Typer) -> None:
    """Add serve, keys and profiles to the `mleditor` command."""
    app.command("serve")(serve)
    app.add_typer(keys_app, name="keys")
    app.add_typer(profiles_app, name="profiles")
