"""A real browser on the real page: Playwright (playwright-core) drives Debian's Chromium through /v3.

Needs node, /usr/bin/chromium and `npm ci` in tests/browser (`.ci/run` installs all three); skips
without them, except in CI where a missing piece is a failure.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.helpers import chromium_missing, skip_unless_present, start_server

BROWSER_DIR = Path(__file__).parents[1] / "browser"
ARTIFACTS = Path(__file__).parents[2] / "test-artifacts"


@pytest.mark.slow
def test_v3_page_shows_a_score_and_recommendations_in_a_real_browser(tmp_path):
    skip_unless_present(chromium_missing(), "the browser test")
    server, url = start_server(tmp_path)
    with server:
        try:
            screenshot = ARTIFACTS / "v3-page.png"
            result = subprocess.run(["node", "page.test.mjs"], cwd=BROWSER_DIR, capture_output=True, timeout=120,
                                    env={**os.environ, "MLEDITOR_URL": url, "SCREENSHOT": str(screenshot)})
            assert result.returncode == 0, result.stderr.decode() + result.stdout.decode()
            shown = json.loads(result.stdout.decode().strip().splitlines()[-1])
            assert shown["recommendations"] >= 1
            assert screenshot.stat().st_size > 1000
        finally:
            server.terminate()
            server.wait(timeout=30)
