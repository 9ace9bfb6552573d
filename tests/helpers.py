"""Plain helpers the tests share: model directories, synthetic questions, subprocesses, a throwaway PostgreSQL.

Fixtures are in the `conftest.py` of the folder that uses them; this module holds what they (and the
tests) call. Import it by name (`from tests.helpers import make_questions`); it defines no fixture.
"""

from __future__ import annotations

import csv
import glob
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from mleditor.core.features import DENSE_FEATURES, N_BUCKETS, SPEC_VERSION
from mleditor.stores.predictions.base import PredictionStore

REPO_ROOT = Path(__file__).resolve().parents[1]
WORDS = ("how what why which does the a to of in is it not my beer hop yeast bottle brew "
         "carbonation temperature sugar gravity ferment lager ale stout glass foam").split()
GOOD_QUESTION = {
    "title": "How do I keep a bottle-conditioned ale from over-carbonating?",
    "body": "I bottle my pale ale with 120 g of priming sugar per 20 L batch. After three weeks the bottles gush.\n\n"
            "- Is my priming rate too high?\n- Could an infection cause this?\n\nWhat should I check first?",
}


# Model directories ------------------------------------------------------------------------------

def random_weights(seed: int = 0, embed_dim: int = 4, hidden: int = 8) -> dict[str, np.ndarray]:
    """Contract weights for the full bucket space, drawn with numpy alone."""
    rng = np.random.default_rng(seed)
    d = len(DENSE_FEATURES)
    embedding = rng.normal(0, 0.1, (N_BUCKETS + 1, embed_dim)).astype(np.float32)
    embedding[0] = 0
    wide = rng.normal(0, 0.05, N_BUCKETS + 1).astype(np.float32)
    wide[0] = 0
    return {
        "embedding": embedding,
        "wide": wide,
        "dense_mean": np.zeros(d, np.float32),
        "dense_std": np.full(d, 2.0, np.float32),
        "w1": rng.normal(0, 0.3, (embed_dim + d, hidden)).astype(np.float32),
        "b1": np.zeros(hidden, np.float32),
        "w2": rng.normal(0, 0.3, hidden).astype(np.float32),
        "b2": np.array(0.0, np.float32),
    }


def write_model_dir(path: Path, weights: dict[str, np.ndarray] | None = None,
                    calibration: tuple[float, float] = (1.0, 0.0), **meta_overrides) -> Path:
    """A complete model directory (model.onnx + meta.json) that the registry accepts, Platt-calibrated (a, b)."""
    pytest.importorskip("onnx")
    from mleditor.training.export import save_onnx

    path.mkdir(parents=True, exist_ok=True)
    save_onnx(path / "model.onnx", weights or random_weights(), *calibration)
    typical = dict.fromkeys(DENSE_FEATURES, 1.0)
    typical.update(title_has_question_mark=1.0, body_words=120.0, words_per_sentence=17.0, paragraphs=3.0)
    meta = {
        "model_id": path.name,
        "created": "2026-11-25T00:00:00+00:00",
        "featurizer_spec": SPEC_VERSION,
        "n_buckets": N_BUCKETS,
        "dense_features": list(DENSE_FEATURES),
        "typical_values": typical,
        "v1_calibration": [0.6, 0.5, 0.4, 0.3, 0.2, 0.15, 0.1],
        "calibration": {"method": "platt", "a": calibration[0], "b": calibration[1]},
        "metrics": {},
    }
    meta.update(meta_overrides)
    (path / "meta.json").write_text(json.dumps(meta), encoding="utf-8")
    return path


# The personal parts a federated run writes, without Flower: two authors of beer with an output bias each.
PERSONAL_HEADS = {"beer:user:7": 0.8, "beer:user:8": -1.3}
PERSONAL_CALIBRATION = (0.9, 0.2)


def write_personal_model_dir(path: Path, heads: dict[str, float] | None = None) -> Path:
    """A tiny model directory with personal head parts inside (personal.json + its meta.json entry)."""
    from mleditor.core.personal import add_personal

    write_model_dir(path, calibration=PERSONAL_CALIBRATION)
    add_personal(path, "head", PERSONAL_HEADS if heads is None else heads)
    return path


# Questions and input files ----------------------------------------------------------------------

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
    """Write `rows` as a CSV file with a header of `columns` (other keys are ignored)."""
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(columns), extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return path


# Prediction stores ------------------------------------------------------------------------------

# Every prediction-store test runs on each backend; PostgreSQL skips without a server (see conftest.py).
STORE_BACKENDS = ("sqlite", "postgres", "memory")
POSTGRES_URL_ENV = "MLEDITOR_TEST_POSTGRES_URL"


def on_every_store(memory: pytest.MarkDecorator) -> pytest.MarkDecorator:
    """Parametrize `store_url` (and so `store`) over every backend as the fixture does, marking the memory:// case.

    For a test that cannot apply to memory:// (it needs SQL tables or another process to see the store):
    `@on_every_store(memory=pytest.mark.skip(reason="..."))`.
    """
    params = [pytest.param(name, marks=memory) if name == "memory" else name for name in STORE_BACKENDS]
    return pytest.mark.parametrize("store_url", params, indirect=True)


def execute_sql(store: PredictionStore, sql: str, rows: list[tuple[Any, ...]] | None = None) -> None:
    """Run DDL or inserts through the store's own connection (tests only; SQL backends only)."""
    with store._transaction() as cursor:
        if rows is None:
            cursor.execute(store._sql(sql))
        else:
            cursor.executemany(store._sql(sql), rows)


def postgres_unavailable(reason: str) -> None:
    """Skip the PostgreSQL case, or fail it under CI=true, where a server is required."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"PostgreSQL is required in CI but {reason}; .ci/run must `apt-get install -y postgresql`")
    pytest.skip(reason)


def postgres_bindir() -> Path | None:
    """The newest folder holding initdb and pg_ctl, or None."""
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name), reverse=True)
    for candidate in versions:
        if (Path(candidate) / "initdb").is_file() and (Path(candidate) / "pg_ctl").is_file():
            return Path(candidate)
    initdb, pg_ctl = shutil.which("initdb"), shutil.which("pg_ctl")
    return Path(initdb).resolve().parent if initdb and pg_ctl else None


class ThrowawayPostgres:
    """A PostgreSQL server in a temporary folder, for one test session; stopped and deleted afterwards.

    initdb + pg_ctl on a free port; as root, through `runuser -u postgres` (both refuse to run as root).
    """

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.root = Path(tempfile.mkdtemp(prefix="mleditor-pg-"))
        self.data = self.root / "data"
        self.port = free_port()
        self.prefix: list[str] = []
        if os.geteuid() == 0:
            import pwd

            try:
                user = pwd.getpwnam("postgres")
            except KeyError:
                shutil.rmtree(self.root)
                postgres_unavailable("running as root and there is no 'postgres' user to run the server as")
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


# Subprocesses and servers -----------------------------------------------------------------------

def free_port() -> int:
    """A loopback TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def mleditor_command(*args: str) -> list[str]:
    """The argv of `mleditor ARGS...` run with this interpreter."""
    return [sys.executable, "-m", "mleditor", *args]


def run_mleditor(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    """Run `mleditor ARGS...` to the end; text output; `env` is added to this (cleaned) environment."""
    return subprocess.run(mleditor_command(*args), capture_output=True, timeout=timeout,
                          env={**os.environ, **(env or {})}, text=True)


def trickle_until_closed(sockets: list[socket.socket], data: bytes, every_s: float, for_s: float) -> float:
    """Send one byte of `data` to each socket every `every_s` until all are closed; the seconds that took."""
    started = time.monotonic()
    open_ = list(sockets)
    for sock in open_:
        sock.setblocking(False)
    step = 0
    while open_ and time.monotonic() - started < for_s:
        for sock in list(open_):
            try:
                if sock.recv(65536) == b"":
                    open_.remove(sock)
                    continue
            except BlockingIOError:
                pass
            except OSError:  # reset: closed too
                open_.remove(sock)
                continue
            try:
                sock.send(data[step % len(data):step % len(data) + 1])
            except OSError:
                open_.remove(sock)
        step += 1
        time.sleep(every_s)
    assert not open_, f"{len(open_)} of {len(sockets)} trickling connections still open after {for_s} s"
    return time.monotonic() - started


def stop_server(server: subprocess.Popen) -> None:
    """SIGTERM a server started by `start_server`, wait up to 30 s for it (and its pipes), else kill it."""
    server.terminate()
    try:
        server.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        server.kill()
        server.communicate()


def start_server(tmp_path: Path, *args: str, **env: str) -> tuple[subprocess.Popen, str]:
    """Run `mleditor serve` on a free port and return it once /healthz answers."""
    port = free_port()
    server = subprocess.Popen(mleditor_command("serve", "--port", str(port), *args),
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


BROWSER_TESTS_DIR = Path(__file__).parent / "browser"


def chromium_missing(*, editor_runtime: bool = False) -> str | None:
    """What a Playwright test lacks (node, Debian's Chromium, playwright-core; the editor's onnxruntime-web), or None."""
    if shutil.which("node") is None:
        return "node is not installed"
    if not Path(os.environ.get("CHROMIUM", "/usr/bin/chromium")).exists():
        return "chromium is not installed (apt-get install chromium)"
    if not (BROWSER_TESTS_DIR / "node_modules" / "playwright-core").is_dir():
        return "playwright-core is not installed (cd tests/browser && npm ci)"
    if editor_runtime:
        from mleditor.browser.site import runtime_missing

        return runtime_missing()
    return None


def skip_unless_present(missing: str | None, what: str) -> None:
    """Skip the test for `missing` (a reason), except in CI (`CI=true`), where a missing part is a failure."""
    if missing:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{what} cannot run in CI: {missing}")
        pytest.skip(missing)


# Ray 2.55.1 (what flwr[simulation] pins) leaves raylet's /dev/null handle and a Popen of its own open at shutdown;
# pytest reports them as unraisable ResourceWarnings. Tests that start Ray list these; Ray 2.60 raises neither.
RAY_2_55_LEAKS = [
    pytest.mark.filterwarnings("ignore:Exception ignored in. <_io.FileIO name='/dev/null':"
                               "pytest.PytestUnraisableExceptionWarning"),
    pytest.mark.filterwarnings("ignore:Exception ignored in. <function Popen.__del__:"
                               "pytest.PytestUnraisableExceptionWarning"),
    pytest.mark.filterwarnings("ignore:subprocess \\d+ is still running:ResourceWarning"),
    pytest.mark.filterwarnings("ignore:unclosed file <_io.TextIOWrapper name='/dev/null':ResourceWarning"),
]

