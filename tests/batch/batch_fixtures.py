"""Fixtures for the batch tests: one store per backend (SQLite, PostgreSQL) and synthetic questions.

Test modules import the fixtures they use from here. (A tests/batch/conftest.py would be imported
as the module `conftest` and hide tests/conftest.py from the tests that `from conftest import`.)

PostgreSQL comes from `MLEDITOR_TEST_POSTGRES_URL` when set, else from a throwaway server started
once per test run (initdb + pg_ctl in a temporary folder on a free port; as root, through
`runuser -u postgres`) and stopped at exit. Without one the PostgreSQL cases skip, except under
CI=true, where they fail.
"""

from __future__ import annotations

import atexit
import csv
import glob
import importlib.util
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mleditor.stores.predictions.base import PredictionStore
from mleditor.stores.predictions.factory import open_store

POSTGRES_URL_ENV = "MLEDITOR_TEST_POSTGRES_URL"
WORDS = ("how what why which does the a to of in is it not my beer hop yeast bottle brew "
         "carbonation temperature sugar gravity ferment lager ale stout glass foam").split()


def _unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"PostgreSQL is required in CI but {reason}; .ci/run must `apt-get install -y postgresql`")
    pytest.skip(reason)


def _postgres_bindir() -> Path | None:
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name), reverse=True)
    for candidate in versions:
        if (Path(candidate) / "initdb").is_file() and (Path(candidate) / "pg_ctl").is_file():
            return Path(candidate)
    initdb, pg_ctl = shutil.which("initdb"), shutil.which("pg_ctl")
    return Path(initdb).resolve().parent if initdb and pg_ctl else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ThrowawayPostgres:
    """A PostgreSQL server in a temporary folder, for one test session; stopped and deleted afterwards."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.root = Path(tempfile.mkdtemp(prefix="mleditor-pg-"))
        self.data = self.root / "data"
        self.port = _free_port()
        self.prefix: list[str] = []
        if os.geteuid() == 0:  # initdb and postgres refuse to run as root
            import pwd

            try:
                user = pwd.getpwnam("postgres")
            except KeyError:
                shutil.rmtree(self.root)
                _unavailable("running as root and there is no 'postgres' user to run the server as")
            os.chown(self.root, user.pw_uid, user.pw_gid)
            self.prefix = ["runuser", "-u", "postgres", "--"]
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *argv: str) -> None:
        result = subprocess.run([*self.prefix, *argv], capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            log = (self.root / "server.log").read_text() if (self.root / "server.log").exists() else ""
            raise RuntimeError(f"{' '.join(argv[:2])} failed: {result.stderr or result.stdout}\n{log}")

    def start(self) -> ThrowawayPostgres:
        self._run(str(self.bindir / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres",
                  "-E", "UTF8", "--no-sync", "--locale=C")
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off"
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-l", str(self.root / "server.log"),
                  "-o", options, "-w", "-t", "60", "start")
        return self

    def stop(self) -> None:
        try:
            self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


_SERVER: dict[str, str] = {}  # one throwaway server per test process, whichever module asks first


@pytest.fixture(scope="session")
def postgres_server_url() -> str:
    """The URL of a PostgreSQL server the tests may create schemas in."""
    if importlib.util.find_spec("psycopg") is None:
        _unavailable("psycopg is not installed (pip install 'mleditor[postgres]')")
    url = os.environ.get(POSTGRES_URL_ENV)
    if url:
        return url
    if "url" in _SERVER:
        return _SERVER["url"]
    if "error" in _SERVER:
        _unavailable(_SERVER["error"])
    bindir = _postgres_bindir()
    if bindir is None:
        _SERVER["error"] = ("no PostgreSQL server binaries (initdb, pg_ctl); install postgresql "
                            f"or set {POSTGRES_URL_ENV}")
        _unavailable(_SERVER["error"])
    server = ThrowawayPostgres(bindir)
    try:
        server.start()
    except (RuntimeError, OSError, subprocess.TimeoutExpired) as exc:
        server.stop()
        _SERVER["error"] = f"could not start a throwaway PostgreSQL server: {exc}"
        _unavailable(_SERVER["error"])
    atexit.register(server.stop)
    _SERVER["url"] = server.url
    return server.url


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


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Every store test runs on both backends."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'predictions.db'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def store(store_url: str) -> Iterator[PredictionStore]:
    with open_store(store_url) as opened:
        yield opened


def execute_sql(store: PredictionStore, sql: str, rows: list[tuple[Any, ...]] | None = None) -> None:
    """Run DDL or inserts through the store's own connection (tests only)."""
    with store._transaction() as cursor:  # noqa: SLF001 - test helper
        if rows is None:
            cursor.execute(store._sql(sql))  # noqa: SLF001
        else:
            cursor.executemany(store._sql(sql), rows)  # noqa: SLF001


def make_questions(count: int, site: str = "beer", seed: int = 0, start_id: int = 1) -> list[dict[str, Any]]:
    """Deterministic word-salad questions with paragraphs and sometimes code."""
    rng = random.Random(seed)

    def sentence() -> str:
        return " ".join(rng.choices(WORDS, k=rng.randint(4, 18))).capitalize() + rng.choice(".?.!")

    questions = []
    for n in range(count):
        paragraphs = [" ".join(sentence() for _ in range(rng.randint(1, 4))) for _ in range(rng.randint(1, 4))]
        if rng.random() < 0.3:
            paragraphs.append("```\nx = brew(y)\n```")
        questions.append({"site": site, "question_id": start_id + n, "title": sentence()[:80],
                          "body": "\n\n".join(paragraphs)})
    return questions


def write_csv(path: Path, rows: list[dict[str, Any]],
              columns: tuple[str, ...] = ("site", "question_id", "title", "body")) -> Path:
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(columns), extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return path


def mleditor_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "mleditor", *args]


STORE_FIXTURES = ("postgres_server_url", "postgres_url", "store_url", "store")


@pytest.fixture
def questions():
    """make_questions(count, site=..., seed=..., start_id=...)."""
    return make_questions


@pytest.fixture
def csv_file():
    """write_csv(path, rows, columns=...)."""
    return write_csv


@pytest.fixture
def run_sql():
    """execute_sql(store, sql, rows=None) through the store's own connection."""
    return execute_sql
