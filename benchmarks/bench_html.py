"""HTML → Markdown benchmark: the cost per real question of each converter, against `html_to_markdown`, in one run.

Run from the repository root (data: $MLEDITOR_DATA, else ../shared/data), under the shared lock:
    flock /tmp/mleditor-bench.lock .venv/bin/python benchmarks/bench_html.py [--repeat 5] [--json]

Every question body of every dump (`mleditor.config.dump_dirs`) is converted by each converter, in
turns, and the best of --repeat passes is kept (a shared machine only ever slows a pass down). Rows:
`html_to_markdown` (the baseline); the same converter fed by stock `html.parser` (`feed`; `close`),
which is what the tokenizer cost before its fast path for plain tags; the converter fed from
selectolax's lexbor tree (`html_lexbor.py`), with how many bodies it writes the same text and counts for;
and, for scale, what parsing alone costs in lexbor, in lxml and in our tokenizer with no handlers.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from importlib.util import find_spec

from mleditor import config
from mleditor.core.html_parser import LinearParser
from mleditor.core.html_text import _Converter, html_to_markdown

GOAL_US = 50.0  # the goal: 20,000 questions/s on 2 cores leaves ≲ 30–50 µs for the conversion


def question_bodies() -> list[str]:
    """The Body of every question (PostTypeId=1) of every dump."""
    bodies = []
    for folder in config.dump_dirs():
        for _, element in ET.iterparse(folder / "Posts.xml"):
            if element.tag == "row" and element.get("PostTypeId") == "1":
                bodies.append(element.get("Body") or "")
            element.clear()
    if not bodies:
        sys.exit(f"no dumps under {config.data_dir()}/stackexchange*/; set MLEDITOR_DATA")
    return bodies


def stock_html_parser(html: str) -> object:
    """The converter driven by HTMLParser's own `feed` and `close` (LinearParser's guards told every tag may close)."""
    html = html.replace("\r\n", "\n").replace("\r", "\n")
    converter = _Converter()
    converter._last_gt = converter._text_after = len(html)
    converter._finders = {}
    converter.feed(html)
    converter.close()
    return converter.result()


class _Silent(LinearParser):
    """Our tokenizer with handlers that do nothing: what tokenizing alone costs."""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        pass

    def handle_endtag(self, tag: str) -> None:
        pass

    def handle_data(self, data: str) -> None:
        pass


def tokenize_only(html: str) -> None:
    _Silent(convert_charrefs=True).parse(html)


def converters() -> dict[str, Callable[[str], object]]:
    """Name → converter (or parser), the baseline first; the optional ones only where installed."""
    found: dict[str, Callable[[str], object]] = {
        "html_to_markdown (baseline)": html_to_markdown,
        "same converter, stock html.parser": stock_html_parser,
        "our tokenizer alone (no handlers)": tokenize_only,
    }
    if find_spec("selectolax") is not None:
        from html_lexbor import html_to_markdown_lexbor
        from selectolax.lexbor import LexborHTMLParser

        found["same converter, lexbor tree (html_lexbor.py)"] = html_to_markdown_lexbor
        found["lexbor parse alone"] = LexborHTMLParser
    if find_spec("lxml") is not None:
        import lxml.html

        found["lxml parse alone"] = lambda html: lxml.html.fragment_fromstring(html, create_parent="div")
    return found


def best_pass_us(convert: Callable[[str], object], bodies: list[str]) -> float:
    start = time.perf_counter()
    for body in bodies:
        convert(body)
    return (time.perf_counter() - start) / len(bodies) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    bodies = question_bodies()
    found = converters()
    best = dict.fromkeys(found, float("inf"))
    for _ in range(args.repeat):
        for name, convert in found.items():  # in turns, so a slow spell on the machine hits them all
            best[name] = min(best[name], best_pass_us(convert, bodies))
    baseline_name = next(iter(found))
    reference = [html_to_markdown(body) for body in bodies]
    same = {
        name: sum(found[name](body) == expected for body, expected in zip(bodies, reference))
        for name in found
        if name.startswith("same converter")
    }
    rows = [
        {"converter": name, "us_per_question": round(us, 1), "ratio": round(us / best[baseline_name], 2),
         "identical": f"{same[name]}/{len(bodies)}" if name in same else "-"}
        for name, us in best.items()
    ]
    if args.json:
        print(json.dumps({"questions": len(bodies), "rows": rows}, indent=2))
        return
    print(f"{len(bodies)} question bodies, best of {args.repeat} passes\n")
    print("| converter | µs / question | × baseline | same text and counts |")
    print("|---|---:|---:|---:|")
    for row in rows:
        print(f"| {row['converter']} | {row['us_per_question']} | {row['ratio']} | {row['identical']} |")
    met = "met" if best[baseline_name] <= GOAL_US else "not met"
    print(f"\ngoal: html_to_markdown ≤ {GOAL_US:.0f} µs / question: {met} ({best[baseline_name]:.1f} µs)")


if __name__ == "__main__":
    main()
