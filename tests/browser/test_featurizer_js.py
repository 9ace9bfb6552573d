"""featurizer.js equals the Python reference (FEATURES.md §11): Node runs tests/browser/featurizer.test.mjs on the
golden vectors and on the cases make_differential_cases.py writes (over 10,000 inputs, every code point).

Needs node 18 or later on PATH (`.ci/run` has it); skips without it, except in CI where a missing node is a failure.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mleditor.browser import tables
from tests.helpers import skip_unless_present

HERE = Path(__file__).parent
REPO = HERE.parents[1]
TIMEOUT_S = 300


def _node_missing() -> str | None:
    node = shutil.which("node")
    if node is None:
        return "node is not on PATH (install Node.js 18 or later)"
    version = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=30).stdout.strip()
    major = re.match(r"v(\d+)", version)
    if major is None or int(major.group(1)) < 18:
        return f"node {version or '(unknown version)'} is too old: `node --test` needs Node.js 18 or later"
    return None


@pytest.fixture
def node() -> str:
    skip_unless_present(_node_missing(), "the featurizer.js test")
    return "node"


def test_the_unicode_tables_are_what_python_writes_today():
    assert tables.TARGET.read_text(encoding="utf-8") == tables.render(), "run python -m mleditor.browser.tables"


def test_featurizer_js_gives_the_references_ids_and_dense_values_on_every_generated_input(node, tmp_path):
    cases = tmp_path / "cases.json"
    generated = subprocess.run([sys.executable, "-m", "tests.browser.make_differential_cases", str(cases)], cwd=REPO,
                               capture_output=True, text=True, timeout=TIMEOUT_S)
    assert generated.returncode == 0, generated.stderr + generated.stdout
    result = subprocess.run([node, "--test", str(HERE / "featurizer.test.mjs")], cwd=REPO, capture_output=True,
                            text=True, timeout=TIMEOUT_S, env={**os.environ, "FEATURIZER_CASES": str(cases)})
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert re.search(r"^# pass 6$", output, re.MULTILINE) and re.search(r"^# skipped 0$", output, re.MULTILINE), output
    assert re.search(r"^# differential: \d+ cases .* 0 failing, 0 dense values not bit-identical$", output,
                     re.MULTILINE), output
