"""Browser benchmark: the editor page in Debian's Chromium (advise/browser_probe.mjs), against the streaming API.

Run from the repository root (data: $MLEDITOR_DATA, else ../shared/data), copy the table to BENCHMARKS.md:
    .venv/bin/python benchmarks/bench_browser.py [--questions N] [--url URL --editor-path P] [--json]

It starts `mleditor serve` on a free loopback port (no cache, no rate limit, so every API answer is computed),
writes real questions (typical ones, and one body repeated to 49,500 characters), runs the Node program, stops
the server by pid and prints the figures beside the issue's targets, met or not. The streaming API, measured in
the same run on the same questions from Node over loopback, is the baseline. `--url` measures a server already
running instead (then nothing is started or stopped). Needs node, /usr/bin/chromium and `npm ci` in tests/browser.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench_core import load_questions, table
from servers import ServerProcess, free_ports

from mleditor.advise.measure.browser import run_probe

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
LONG_CHARS = 49_500  # under the 50,000-character limit once normalized
NODE_TIMEOUT_S = 600
# The targets: (figure, limit, unit).
TARGETS = {"first_visit_bytes": 3_000_000, "repeat_visit_bytes": 50_000, "first_score_cold_ms": 1000.0,
           "typical_p50_ms": 2.0}


def questions_file(path: Path, count: int) -> str:
    """Write `count` real questions (else synthetic) and one long one for the page; say which they are."""
    questions, source = load_questions(count)
    typical = [{"title": q.title, "body": q.body} for q in questions]
    seed = max(typical, key=lambda q: len(q["body"]) if len(q["body"]) < 5000 else 0)
    body = "\n\n".join([seed["body"]] * (LONG_CHARS // (len(seed["body"]) + 2) + 1))[:LONG_CHARS]
    path.write_text(json.dumps({"typical": typical, "long": [{"title": seed["title"], "body": body}]}), "utf-8")
    return source


@contextmanager
def served(work: Path) -> Iterator[str]:
    """`mleditor serve` on a free loopback port, every answer computed; stopped by pid at the end."""
    port = free_ports(1)[0]
    env = {**os.environ, "MLEDITOR_SERVE_CACHE_SIZE": "0", "MLEDITOR_SERVE_RATE_LIMIT_PER_MINUTE": "0",
           "MLEDITOR_SERVE_STORE_PATH": str(work / "serve.db")}
    server = ServerProcess("mleditor serve", [sys.executable, "-m", "mleditor", "serve", "--port", str(port)], env,
                           REPO_ROOT, work / "serve.log", port)
    try:
        server.wait_until(lambda: server.answers("/healthz"), timeout_s=60)
        yield server.url("")
    finally:
        server.stop()


def run_node(url: str, editor_path: str, questions: Path) -> dict[str, Any]:
    """The probe's figures (one JSON object): mleditor/advise/browser_probe.mjs, the code `mleditor advise` runs."""
    try:
        return run_probe(url, editor_path, questions, timeout_s=NODE_TIMEOUT_S)
    except RuntimeError as exc:
        raise SystemExit(str(exc)) from None


def verdict(value: float | None, limit: float) -> str:
    return "—" if value is None else "met" if value <= limit else "not met"


def render(figures: dict[str, Any], source: str) -> str:
    """The Markdown table: each figure, the API baseline where there is one, the target and met / not met."""
    first, repeat, typical, long = (figures[k] for k in ("first_visit", "repeat_visit", "typical", "long"))
    api = figures["streaming_api"]
    api_typical, api_long = api["typical"], api["long"]
    heap = figures["heap"]

    def ms(value: float | None) -> str:
        return "—" if value is None else f"{value:.2f} ms"

    rows = [
        ("bytes over the wire, first visit", f"{first['bytes'] / 1e6:.2f} MB", "—", "≤ 3 MB",
         verdict(first["bytes"], TARGETS["first_visit_bytes"])),
        ("bytes over the wire, repeat visit", f"{repeat['bytes'] / 1e3:.1f} KB", "—", "≤ 50 KB",
         verdict(repeat["bytes"], TARGETS["repeat_visit_bytes"])),
        ("navigation → first score, cold cache", ms(first["first_score_ms"]), "—", "≤ 1 s",
         verdict(first["first_score_ms"], TARGETS["first_score_cold_ms"])),
        ("navigation → first score, warm cache", ms(repeat["first_score_ms"]), "—", "—", "—"),
        (f"per score p50, typical ({typical['chars_median']:.0f} chars median)", ms(typical["p50_ms"]),
         ms(api_typical.get("p50_ms")), "≤ 2 ms", verdict(typical["p50_ms"], TARGETS["typical_p50_ms"])),
        ("per score p99, typical", ms(typical["p99_ms"]), ms(api_typical.get("p99_ms")), "—", "—"),
        ("per score mean, typical", ms(typical["mean_ms"]), ms(api_typical.get("mean_ms")), "—", "—"),
        (f"per score p50, {long['chars']:,} chars", ms(long["p50_ms"]), ms(api_long.get("p50_ms")), "—", "—"),
        (f"per score p99, {long['chars']:,} chars", ms(long["p99_ms"]), ms(api_long.get("p99_ms")), "—", "—"),
        (f"JS heap after {heap['scores']:,} scores (before)",
         f"{heap['after_bytes'] / 1e6:.1f} MB ({heap['before_bytes'] / 1e6:.1f} MB)", "—", "—", "—"),
    ]
    lines = [(f"Chromium {figures['chromium']}, page {figures['editor']}; questions: {source}; "
              f"service worker after the first visit: {first['service_worker']}; "
              "the API column is POST /predict/v3 from Node, one at a time, over loopback; "
              "the page's clock ticks in 0.1 ms (no cross-origin isolation), so the mean is the finer figure."), ""]
    lines += table(("figure", "browser", "streaming API", "target", "verdict"), rows)
    lines.append(f"requests on the repeat visit: {', '.join(repeat['requests']) or 'none'}")
    if "error" in api_typical:
        lines.append(f"streaming API not measured: {api_typical['error']}")
    return "\n".join(lines)


def missing_tools() -> str | None:
    if shutil.which("node") is None:
        return "node is not installed"
    if not Path(os.environ.get("CHROMIUM", "/usr/bin/chromium")).exists():
        return "chromium is not installed (apt-get install chromium)"
    if not (REPO_ROOT / "tests" / "browser" / "node_modules" / "playwright-core").is_dir():
        return "playwright-core is not installed (npm ci --prefix tests/browser)"
    if not (REPO_ROOT / "mleditor" / "browser" / "node_modules" / "onnxruntime-web").is_dir():
        return "onnxruntime-web is not installed, so /editor cannot score (npm ci --prefix mleditor/browser)"
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--questions", type=int, default=500, help="typical questions to score (default 500)")
    parser.add_argument("--url", help="measure this running server instead of starting one")
    parser.add_argument("--editor-path", default="/editor/", help="the editor page's path (default /editor/)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if (missing := missing_tools()) is not None:
        raise SystemExit(f"bench_browser: {missing}")
    with tempfile.TemporaryDirectory(prefix="mleditor-bench-browser-") as scratch:
        work = Path(scratch)
        source = questions_file(work / "questions.json", args.questions)
        if args.url:
            figures = run_node(args.url.rstrip("/"), args.editor_path, work / "questions.json")
        else:
            with served(work) as url:
                figures = run_node(url, args.editor_path, work / "questions.json")
    print(json.dumps({**figures, "questions": source}, indent=1) if args.json else render(figures, source))


if __name__ == "__main__":
    main()
