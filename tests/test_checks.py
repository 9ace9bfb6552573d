"""The static checks written down in pyproject.toml ([tool.ruff], [tool.mypy]) pass: the test command runs them."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.helpers import REPO_ROOT

CHECKS = {
    "ruff": ["ruff", "check", "."],
    "mypy": ["mypy", "mleditor"],
}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(CHECKS))
def test_the_static_check_passes(name: str) -> None:
    command = [sys.executable, "-m", *CHECKS[name]]
    done = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=600, check=False)
    output = (done.stdout + done.stderr).strip()
    assert done.returncode == 0, f"`{' '.join(CHECKS[name])}` failed (exit {done.returncode}):\n{output}"
