"""Shared fixtures: a clean environment, a small model directory, the real data when present, prediction stores.

No test inherits the developer's settings: every `MLEDITOR_*` variable and `RAY_ADDRESS` is read once
when pytest starts (kept in `DEVELOPER_ENV`) and removed from the environment, for collection and
session fixtures (`pytest_configure`) and again before each test (`clean_environment`), so a
subprocess a test starts with `env={**os.environ, ...}` gets only what the test gives it. The two
values the tests may use come from that snapshot, through fixtures: `MLEDITOR_DATA` (`data_dir`)
and `MLEDITOR_TEST_POSTGRES_URL` (`postgres_server_url`).
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from mleditor.config import data_dir as configured_data_dir
from mleditor.stores.predictions.base import PredictionStore
from mleditor.stores.predictions.factory import open_store
from tests.helpers import (
    POSTGRES_URL_ENV,
    REPO_ROOT,
    STORE_BACKENDS,
    ThrowawayPostgres,
    make_questions,
    postgres_bindir,
    postgres_unavailable,
    write_csv,
    write_model_dir,
    write_personal_model_dir,
)

DEVELOPER_ENV = pytest.StashKey[dict[str, str]]()
_SESSION_PATCH = pytest.StashKey[pytest.MonkeyPatch]()


def _is_ours(name: str) -> bool:
    return name.startswith("MLEDITOR_") or name in ("RAY_ADDRESS", "PROMETHEUS_MULTIPROC_DIR")


def pytest_configure(config: pytest.Config) -> None:
    found = {name: value for name, value in os.environ.items() if _is_ours(name)}
    patch = pytest.MonkeyPatch()
    for name in found:
        patch.delenv(name)
    config.stash[DEVELOPER_ENV] = found
    config.stash[_SESSION_PATCH] = patch


def pytest_unconfigure(config: pytest.Config) -> None:
    patch = config.stash.get(_SESSION_PATCH, None)
    if patch is not None:
        patch.undo()


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No MLEDITOR_* or RAY_ADDRESS in the environment of any test, whatever ran before it."""
    for name in [name for name in os.environ if _is_ours(name)]:
        monkeypatch.delenv(name)


@pytest.fixture(scope="session")
def developer_env(pytestconfig: pytest.Config) -> dict[str, str]:
    """The MLEDITOR_* and RAY_ADDRESS variables as pytest found them (removed from the environment)."""
    return dict(pytestconfig.stash[DEVELOPER_ENV])


@pytest.fixture(scope="session")
def data_dir(developer_env: dict[str, str]) -> Path:
    """$MLEDITOR_DATA as pytest found it, else ../shared/data; a relative path is taken from the repository root.

    Pass it on explicitly: `env={"MLEDITOR_DATA": str(data_dir)}` or `monkeypatch.setenv(...)`.
    """
    path = configured_data_dir(developer_env)
    return path if path.is_absolute() else (REPO_ROOT / path).resolve()


@pytest.fixture(scope="session")
def real_dump_dirs(data_dir: Path) -> list[Path]:
    """Every site dump of every `stackexchange*/` folder (what `mleditor data ingest` reads); skips when absent."""
    from mleditor.config import dump_dirs

    found = dump_dirs({"MLEDITOR_DATA": str(data_dir)})
    if not found:
        pytest.skip(f"Stack Exchange dumps not found under {data_dir}/stackexchange*/ (set MLEDITOR_DATA)")
    return found


@pytest.fixture(scope="session")
def real_data_dir(data_dir: Path) -> Path:
    """The Stack Exchange dumps (one folder per site); the test skips when they are absent."""
    root = data_dir / "stackexchange"
    if not root.is_dir():
        pytest.skip(f"Stack Exchange dumps not found at {root} (set MLEDITOR_DATA)")
    return root


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model directory with random weights, named tiny-test-model."""
    return write_model_dir(tmp_path_factory.mktemp("models") / "tiny-test-model")


@pytest.fixture(scope="session")
def personal_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny model directory with the personal head parts of two authors (tests.helpers.PERSONAL_HEADS)."""
    return write_personal_model_dir(tmp_path_factory.mktemp("models") / "tiny-personal-model")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def questions():
    """make_questions(count, site=..., seed=..., start_id=...)."""
    return make_questions


@pytest.fixture
def csv_file():
    """write_csv(path, rows, columns=...)."""
    return write_csv


@pytest.fixture(scope="session")
def postgres_server_url(developer_env: dict[str, str]) -> Iterator[str]:
    """A PostgreSQL server the tests may create schemas in.

    $MLEDITOR_TEST_POSTGRES_URL when pytest found it set, else a throwaway server started once per
    run and stopped at its end. Without one the PostgreSQL cases skip, except under CI=true.
    """
    if importlib.util.find_spec("psycopg") is None:
        postgres_unavailable("psycopg is not installed (pip install 'mleditor[postgres]')")
    url = developer_env.get(POSTGRES_URL_ENV)
    if url:
        yield url
        return
    bindir = postgres_bindir()
    if bindir is None:
        postgres_unavailable(f"no PostgreSQL server binaries (initdb, pg_ctl); install postgresql or set {POSTGRES_URL_ENV}")
    server = ThrowawayPostgres(bindir)
    try:
        server.start()
    except (RuntimeError, OSError, subprocess.TimeoutExpired) as exc:
        server.stop()
        postgres_unavailable(f"could not start a throwaway PostgreSQL server: {exc}")
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture
def postgres_url(postgres_server_url: str) -> Iterator[str]:
    """A fresh schema per test, selected through the connection's search_path."""
    import psycopg

    schema = f"test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_server_url, autocommit=True) as connection:
        connection.execute(f'CREATE SCHEMA "{schema}"')
    separator = "&" if "?" in postgres_server_url else "?"
    yield f"{postgres_server_url}{separator}options=-csearch_path%3D{schema}"
    with psycopg.connect(postgres_server_url, autocommit=True) as connection:
        connection.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture(params=STORE_BACKENDS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Every store test runs on each backend: SQLite, PostgreSQL, memory://."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'predictions.db'}"
    if request.param == "memory":
        return "memory://"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def store(store_url: str) -> Iterator[PredictionStore]:
    with open_store(store_url) as opened:
        yield opened
