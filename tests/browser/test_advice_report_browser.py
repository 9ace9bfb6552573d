"""The advice report in a real browser: Playwright (playwright-core) opens it from file:// in Debian's Chromium.

Every request that is not the file itself is aborted (`advice_report.test.mjs`): the page must need
none, log no error, and draw each chart as a visible SVG. The screenshot goes to the test's tmp
folder and to test-artifacts/advice-report.png (and to $ADVICE_SCREENSHOT_DIR when set). Needs
node, /usr/bin/chromium and `npm ci` in tests/browser; skips without them, fails in CI.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.helpers import chromium_missing, skip_unless_present

BROWSER_DIR = Path(__file__).parent
ARTIFACTS = Path(__file__).parents[2] / "test-artifacts"
FIXTURE = Path(__file__).parents[1] / "advise" / "fixtures" / "advice_full.json"
SCREENSHOT_DIR_ENV = "ADVICE_SCREENSHOT_DIR"  # not MLEDITOR_*: tests/conftest.py drops those


@pytest.fixture
def browser_parts() -> None:
    skip_unless_present(chromium_missing(), "the advice report's browser test")


def png_colours(path: Path) -> tuple[int, int, int]:
    """Width, height and the number of distinct colours of a PNG (Pillow comes with matplotlib)."""
    from PIL import Image

    with Image.open(path) as image:
        assert image.format == "PNG"
        small = image.convert("RGB").resize((image.width // 4, image.height // 4))
        return image.width, image.height, len(small.getcolors(maxcolors=1 << 20) or [])


@pytest.mark.usefixtures("browser_parts")
def test_the_report_opens_offline_from_a_file_with_every_chart_drawn_and_nothing_fetched(tmp_path):
    pytest.importorskip("matplotlib")
    from mleditor.advise.report import render_html

    report = tmp_path / "advice.html"
    report.write_text(render_html(json.loads(FIXTURE.read_text(encoding="utf-8"))), encoding="utf-8")
    screenshot = tmp_path / "advice-report.png"
    result = subprocess.run(["node", "advice_report.test.mjs"], cwd=BROWSER_DIR, capture_output=True, timeout=90,
                            env={**os.environ, "REPORT": str(report), "SCREENSHOT": str(screenshot)})
    assert result.returncode == 0, result.stderr.decode() + result.stdout.decode()
    shown = json.loads(result.stdout.decode().strip().splitlines()[-1])
    for copy_to in (ARTIFACTS, os.environ.get(SCREENSHOT_DIR_ENV)):
        if copy_to:
            Path(copy_to).mkdir(parents=True, exist_ok=True)
            shutil.copyfile(screenshot, Path(copy_to) / "advice-report.png")

    assert shown["attempted"] == [] and shown["problems"] == []
    assert [chart["chart"] for chart in shown["charts"]] == ["latency", "user-latency", "cost", "device-variants"]
    for chart in shown["charts"]:
        assert chart["svg"] and chart["width"] > 200 and chart["height"] > 100, chart
        assert chart["shapes"] > 10 and chart["texts"] > 3, chart
    assert "Streaming API (mleditor serve)" in shown["recommendation"]
    assert shown["scrollWidth"] <= 1280  # nothing wider than the window: the tables scroll in their own box
    width, height, colours = png_colours(screenshot)
    assert width == 1280 and height > 2000
    assert colours > 50  # not blank: text, the doors' colours, the charts
