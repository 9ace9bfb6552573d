"""Door 5 measured: the editor's static site, and the page itself in headless Chromium where it is installed.

Without a browser the site's files are still measured: the bytes a first visit downloads (each
file the service worker precaches, in its smallest encoding, as `mleditor serve` sends it). With
node, /usr/bin/chromium and playwright-core, `browser_probe.mjs` (what benchmarks/bench_browser.py
runs) loads `/editor/` from the shared loopback server through a byte-counting forwarder: bytes over
the wire on the first and the repeat visit, navigation to the first score (cold and warm), and the
per-score latency in the page.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from mleditor.advise.measure.base import DoorMeasurement, Figure
from mleditor.advise.measure.context import MeasureContext

MIN_S = 0.5  # the site's bytes alone
CHROMIUM_MIN_S = 12.0  # Chromium's start, two visits, a few hundred scores
PROBE = Path(__file__).resolve().parents[1] / "browser_probe.mjs"
PLAYWRIGHT_DIR = Path(__file__).resolve().parents[3] / "tests" / "browser"  # a source checkout's tests/browser


def chromium() -> str:
    return os.environ.get("CHROMIUM", "/usr/bin/chromium")


def tools_missing() -> str | None:
    """What the Chromium measurement lacks (node, Chromium, playwright-core, onnxruntime-web), or None."""
    from mleditor.browser.site import runtime_missing

    if shutil.which("node") is None:
        return "node is not installed"
    if not Path(chromium()).exists():
        return f"no Chromium at {chromium()} (apt-get install chromium)"
    if not (PLAYWRIGHT_DIR / "node_modules" / "playwright-core").is_dir():
        return "playwright-core is not installed (npm ci --prefix tests/browser)"
    return runtime_missing()


def run_probe(url: str, editor_path: str, questions: Path, timeout_s: float,
              settings: dict[str, str] | None = None) -> dict[str, Any]:
    """browser_probe.mjs's figures (one JSON object); RuntimeError with its last words when it fails."""
    env = {**os.environ, "MLEDITOR_URL": url, "EDITOR_PATH": editor_path, "BENCH_QUESTIONS": str(questions),
           "PLAYWRIGHT_FROM": str(PLAYWRIGHT_DIR / "package.json"), **(settings or {})}
    result = subprocess.run(["node", str(PROBE)], capture_output=True, text=True, timeout=timeout_s, env=env)
    if result.returncode != 0:
        raise RuntimeError(f"browser_probe.mjs failed: {(result.stderr.strip() or result.stdout.strip())[-500:]}")
    figures: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return figures


def site_bytes() -> tuple[int, int]:
    """(bytes of the files a first visit precaches in their smallest encoding, number of files)."""
    from mleditor.browser.site import build_site

    site = build_site()
    default = site.variants[0]
    paths = [p for p in site.files if not p.startswith("model/") or p.startswith(f"model/{default}/")]
    sizes = [min([len(site.files[p].content), *(len(v) for v in site.files[p].encoded.values())]) for p in paths]
    return sum(sizes), len(paths)


def measure(ctx: MeasureContext, seconds: float) -> DoorMeasurement:
    from mleditor.browser.site import runtime_missing

    if (problem := runtime_missing()) is not None:
        return DoorMeasurement.not_measured("browser", problem)
    total, files = site_bytes()
    figures = [Figure("site_bytes", total, "bytes",
                      f"measured: the {files} files a first visit caches, each in its smallest encoding (br/gzip)")]
    missing = tools_missing()
    if missing is None and seconds < CHROMIUM_MIN_S:
        missing = f"its share of the budget ({seconds:.0f} s) is under the {CHROMIUM_MIN_S:.0f} s Chromium needs"
    if missing is not None:
        why = f"browser: time to first score and per-score latency not measured: {missing}"
        return DoorMeasurement("browser", tuple(figures), missing=(why,))
    return DoorMeasurement("browser", tuple(figures + in_chromium(ctx, seconds)))


def in_chromium(ctx: MeasureContext, seconds: float) -> list[Figure]:
    """The probe's figures on the shared loopback server."""
    questions = ctx.workdir / "browser-questions.json"
    typical = [{"title": q.title, "body": q.body} for q in ctx.questions[:100]]
    questions.write_text(json.dumps({"typical": typical, "long": typical[:1]}), "utf-8")
    server = ctx.server()
    scores = 200
    found = run_probe(server.url(""), "/editor/", questions, timeout_s=max(10.0, seconds),
                      settings={"BENCH_HEAP_SCORES": str(scores), "BENCH_LONG_SCORES": "5", "BENCH_API_CALLS": "20",
                                "BENCH_SETTLE_MS": "300"})
    first, repeat, typical_s = found["first_visit"], found["repeat_visit"], found["typical"]
    how = f"measured: headless Chromium {found.get('chromium')}, /editor/ on loopback"
    return [
        Figure("first_visit_bytes", first["bytes"], "bytes", how + ", bytes the server sent (TCP forwarder)"),
        Figure("repeat_visit_bytes", repeat["bytes"], "bytes", how + ", the repeat visit (service worker)"),
        Figure("first_score_cold_ms", first["first_score_ms"], "ms", how + ", navigation to the first score, cold"),
        Figure("first_score_warm_ms", repeat["first_score_ms"], "ms", how + ", the same with the cache warm"),
        Figure("p50_ms", typical_s["p50_ms"], "ms", how + f", {scores} scores in the page (0.1 ms clock)"),
        Figure("p99_ms", typical_s["p99_ms"], "ms", how + f", {scores} scores in the page (0.1 ms clock)"),
        Figure("client_memory_mb", found["heap"]["after_bytes"] / 1e6, "MB", how + ", JS heap after the scores"),
    ]
