"""What every door's measurement is given: the scenario, the model, a scratch folder, real questions, a server.

The loopback server (`mleditor serve` on 127.0.0.1, one worker, cache and rate limit off, so every
answer is computed) is started on first use and shared by the streaming and browser measurements;
`close` stops it by pid. Questions are real ones from the dumps under $MLEDITOR_DATA when there are
any, else generated ones, and `questions_source` says which.
"""

from __future__ import annotations

import itertools
import os
import random
import sys
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

from mleditor import config
from mleditor.advise.loopback import ServerProcess
from mleditor.advise.scenario import Scenario
from mleditor.core.records import Question
from mleditor.ports import free_ports

SERVER_START_TIMEOUT_S = 60.0
WORDS = "how what why which does the a to of in is it not my model data error value python train file beer".split()


@dataclass
class MeasureContext:
    """The inputs every door measurement shares (see the module docstring)."""

    scenario: Scenario
    workdir: Path
    model_dir: str | None = None
    questions: list[Question] = field(default_factory=list)
    questions_source: str = ""
    _server: ServerProcess | None = None
    _stack: ExitStack = field(default_factory=ExitStack)

    def __post_init__(self) -> None:
        if not self.questions:
            self.questions, self.questions_source = sample_questions(400)

    def server(self, timeout_s: float = SERVER_START_TIMEOUT_S) -> ServerProcess:
        """The shared loopback server, started (and waited for) on first use."""
        if self._server is None:
            port = free_ports(1)[0]
            env = {k: v for k, v in os.environ.items() if not k.startswith("MLEDITOR_SERVE_")}
            env |= {"MLEDITOR_SERVE_CACHE_SIZE": "0", "MLEDITOR_SERVE_RATE_LIMIT_PER_MINUTE": "0",
                    "MLEDITOR_SERVE_STORE_PATH": str(self.workdir / "serve.db"), "MLEDITOR_SERVE_LOG_LEVEL": "warning"}
            if self.model_dir:
                env["MLEDITOR_SERVE_MODEL"] = self.model_dir
            server = ServerProcess("mleditor serve", [sys.executable, "-m", "mleditor", "serve", "--port", str(port),
                                                      "--workers", "1"], env, self.workdir,
                                   self.workdir / "serve.log", port)
            self._stack.callback(server.stop)
            server.wait_until(lambda: server.answers("/readyz"), timeout_s)
            self._server = server
        return self._server

    def close(self) -> None:
        """Stop what was started (the server, by pid)."""
        self._stack.close()
        self._server = None


def sample_questions(count: int) -> tuple[list[Question], str]:
    """Up to `count` real questions taken in turn from every dump (read lazily), else generated ones; and which."""
    folders = config.dump_dirs()
    if folders:
        from mleditor.core.ingest import iter_dump_questions

        started = time.perf_counter()
        streams = [iter_dump_questions(folder) for folder in folders]
        per_site = max(1, count // len(streams) + 1)
        picked = [r.as_question() for stream in streams for r in itertools.islice(stream, per_site)]
        random.Random(0).shuffle(picked)
        return picked[:count], (f"real: {min(count, len(picked))} questions from {len(folders)} dumps under "
                                f"{config.data_dir()} (read in {time.perf_counter() - started:.1f} s)")
    return synthetic_questions(count), (f"generated: {count} word-salad questions (no dumps under "
                                        f"{config.data_dir()}; set MLEDITOR_DATA for real ones)")


def synthetic_questions(count: int, seed: int = 0) -> list[Question]:
    """Deterministic questions with paragraphs and some code, for machines without the dumps."""
    rng = random.Random(seed)

    def sentence() -> str:
        return " ".join(rng.choices(WORDS, k=rng.randint(5, 25))).capitalize() + rng.choice(".?.!")

    def body() -> str:
        paragraphs = [" ".join(sentence() for _ in range(rng.randint(1, 5))) for _ in range(rng.randint(1, 6))]
        return "\n\n".join(paragraphs + (["```\nx = compute(y)\nprint(x)\n```"] if rng.random() < 0.4 else []))

    return [Question(sentence()[:150], body()) for _ in range(count)]
