"""The in-browser editor in a real browser: Playwright (playwright-core) drives Debian's Chromium.

Through `mleditor serve` (`/editor/`) and through a static export on a plain static file server:
typing scores with no request and no request carries the text, the score changes with the text, and
after one visit it scores offline (`editor.test.mjs`). Needs node, /usr/bin/chromium, `npm ci` in
tests/browser and in mleditor/browser (`.ci/run` does all); skips without them, fails in CI.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.helpers import chromium_missing, free_port, run_mleditor, skip_unless_present, start_server, stop_server

BROWSER_DIR = Path(__file__).parent
ARTIFACTS = Path(__file__).parents[2] / "test-artifacts"


@pytest.fixture
def browser_parts() -> None:
    skip_unless_present(chromium_missing(editor_runtime=True), "the editor's browser test")


def _drive(url: str, screenshot: Path) -> dict:
    result = subprocess.run(["node", "editor.test.mjs"], cwd=BROWSER_DIR, capture_output=True, timeout=150,
                            env={**os.environ, "EDITOR_URL": url, "SCREENSHOT": str(screenshot)})
    assert result.returncode == 0, result.stderr.decode() + result.stdout.decode()
    return json.loads(result.stdout.decode().strip().splitlines()[-1])


@pytest.mark.slow
@pytest.mark.usefixtures("browser_parts")
def test_the_editor_scores_as_you_type_without_sending_the_text_and_offline_after_one_visit(tmp_path):
    server, url = start_server(tmp_path)
    try:
        shown = _drive(f"{url}/editor/", ARTIFACTS / "editor.png")
    finally:
        stop_server(server)
    assert shown["scores"][0] != shown["scores"][1]
    assert shown["repeat_visit_wire_bytes"] <= 50_000
    assert (ARTIFACTS / "editor.png").stat().st_size > 1000


@pytest.mark.slow
@pytest.mark.usefixtures("browser_parts")
def test_a_static_export_on_a_plain_file_server_scores_offline_with_no_python_at_run_time(tmp_path):
    site = tmp_path / "site"
    assert run_mleditor("browser", "export", str(site)).returncode == 0
    port = free_port()
    static = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1", "-d", str(site)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline, "the static file server did not start"
                time.sleep(0.1)
        shown = _drive(f"http://127.0.0.1:{port}/", ARTIFACTS / "editor-static.png")
    finally:
        static.terminate()
        static.wait(timeout=30)
    assert shown["scores"][0] != shown["scores"][1]
