"""Featurizing and converting HTML take time linear in the input (FEATURES.md §10).

Each pathological body of 50,000 characters (the API's limit) is timed against an ordinary body of
the same size in the same run: a quadratic step makes the ratio hundreds, a linear one keeps it
near 1. Only ratios are asserted, with a wide margin, each the best of a few runs.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable

import pytest

from mleditor.core.features import Featurizer, ReferenceFeaturizer, normalize
from mleditor.core.html_text import html_to_markdown
from mleditor.core.native_features import NativeFeaturizer

SIZE = 50_000
MAX_RATIO = 5.0
MAX_HTML_RATIO = 10.0
# NFKC of a long run of marks is done in steps in Python (FEATURES.md §10): linear, but some 10x CPython's
# per-character cost; the insertion sort it avoids takes seconds, thousands of times an ordinary body.
MAX_NFKC_RATIO = 25.0
RUNS = 3
WORDS = ("how what why the a to of in is it not my beer hop yeast bottle brew carbonation temperature "
         "sugar gravity ferment lager ale stout glass foam priming batch week infection").split()


def _sentence(rng: random.Random) -> str:
    return " ".join(rng.choices(WORDS, k=rng.randint(6, 22))).capitalize() + rng.choice(".?.!.")


def ordinary_markdown(size: int = SIZE) -> str:
    """Real-looking Markdown: paragraphs, a list, links, inline code and a fenced block, repeated to `size`."""
    rng = random.Random(0)
    blocks: list[str] = []
    while sum(map(len, blocks)) < size:
        blocks.append(" ".join(_sentence(rng) for _ in range(rng.randint(2, 6))))
        blocks.append(f"See [the {rng.choice(WORDS)} notes](https://example.org/{rng.randint(1, 99)}) "
                      f"and run `brew --{rng.choice(WORDS)}` first.")
        blocks.append("\n".join(f"- {_sentence(rng)}" for _ in range(3)))
        blocks.append("```\nfor bottle in batch:\n    prime(bottle, grams=4)\n```")
    return "\n\n".join(blocks)[:size]


def ordinary_html(size: int = SIZE) -> str:
    """Real-looking post HTML, as the dumps have it: paragraphs, a list, links, code, repeated to `size`."""
    rng = random.Random(0)
    parts: list[str] = []
    while sum(map(len, parts)) < size:
        parts.append(f"<p>{' '.join(_sentence(rng) for _ in range(rng.randint(2, 6)))}</p>\n")
        parts.append(f'<p>See <a href="https://example.org/{rng.randint(1, 99)}" rel="nofollow">the notes</a> '
                     f"and run <code>brew --{rng.choice(WORDS)}</code> first.</p>\n")
        parts.append("<ul>\n" + "".join(f"<li>{_sentence(rng)}</li>\n" for _ in range(3)) + "</ul>\n")
        parts.append("<pre><code>for bottle in batch:\n    prime(bottle, grams=4)\n</code></pre>\n")
    return "".join(parts)[:size]


def _fill(unit: str, tail: str = "") -> str:
    return unit * ((SIZE - len(tail)) // len(unit)) + tail


def _lines(make: Callable[[int], str]) -> str:
    lines: list[str] = []
    total = 0
    while total < SIZE:
        lines.append(make(len(lines)))
        total += len(lines[-1]) + 1
    return "\n".join(lines)[:SIZE]


PATHOLOGICAL_MARKDOWN = {
    "open brackets": _fill("["),
    "bracket then parenthesis": _fill("]("),
    "links never closed": _fill("[a]("),
    "image openers": _fill("!["),
    "empty link texts never closed": _fill("[]("),
    "backticks": _fill("`"),
    "backtick before each letter": _fill("`a"),
    "stars": _fill("*"),
    "angle brackets": _fill("<"),
    "ampersands": _fill("&"),
    "full stops then a letter": _fill(".", "x"),
    "mixed terminators then a letter": _fill("?!", "x"),
    "nested quote markers": _fill("> ", "x"),
    "nested list markers": _fill("- ", "x"),
    "deeply nested list": _lines(lambda depth: "  " * (depth % 200) + "- item"),
    "deeply nested quotes": _lines(lambda depth: "> " * (depth % 200) + "quoted"),
    "one long word": _fill("a"),
    "full-width brackets": _fill("\uff3b"),
    "combining marks out of canonical order": "a" + "\u0301" * (SIZE // 2) + "\u0316" * (SIZE // 2 - 1),
    "alternating combining marks": _fill("\u0301\u0316"),
    "one letter per line": _fill("a\n"),
    "fences": _fill("```\n"),
    "bare url schemes": _fill("http://"),
}

PATHOLOGICAL_HTML = {
    "angle brackets": _fill("<"),
    "angle bracket then space": _fill("< "),
    "unclosed start tags": _fill("<a"),
    "unclosed tags with attributes": _fill("<p "),
    "unclosed end tags": _fill("</"),
    "unclosed comments": _fill("<!--x>"),
    "unclosed declarations": _fill("<!"),
    "unclosed processing instructions": _fill("<?"),
    "unclosed paragraphs": _fill("<p>a paragraph never closed "),
    "unclosed bold": _fill("<b>bold never closed "),
    "deeply nested divs": "<div>" * (SIZE // 11) + "x" + "</div>" * (SIZE // 11),
    "deeply nested lists": _fill("<ul><li>a nested item "),
    "deeply nested quotes": _fill("<blockquote><p>a quoted line</p>"),
    "deeply nested spans": _fill("<span>"),
    "items in a heading": "<h2>" + _fill("<li>an item "),
    "stray end tags in a deep stack": "<li>" + "<h2>" * (SIZE // 8) + "</b>" * (SIZE // 8),
    "huge attribute value": '<p><a href="https://x.org/' + "a" * SIZE + '">link</a></p>',
    "unclosed attribute value": '<p><a href="' + "a" * SIZE,
    "many attributes": "<p " + _fill(" x=1", ">"),
    "open brackets in text": "<p>" + _fill("[") + "</p>",
    "link syntax in text": "<p>" + _fill("](") + "</p>",
    "ampersands": _fill("&"),
}


def best_time(run: Callable[[str], object], text: str, *, within: float = float("inf")) -> float:
    """The fastest of RUNS runs, in seconds; stops early once a run is within `within` (a slow input is run once)."""
    best = float("inf")
    for _ in range(RUNS):
        start = time.perf_counter()
        run(text)
        best = min(best, time.perf_counter() - start)
        if best <= within or best > 20 * within:
            break
    return best


def slower_than(bound: float, run: Callable[[str], object], ordinary: str, shapes: dict[str, str]) -> dict[str, float]:
    """The shapes that take `run` more than `bound` times as long as `ordinary`, each with its ratio."""
    for text in (ordinary, *shapes.values()):
        run(text[:100])  # once-only work (tables built on first use) is not what is timed
    baseline = best_time(run, ordinary)
    slow = {}
    for name, text in shapes.items():
        seconds = best_time(run, text, within=bound * baseline)
        if bound * baseline < seconds < 20 * bound * baseline:  # a second look, in case the machine was busy
            baseline = min(baseline, best_time(run, ordinary))
            seconds = min(seconds, best_time(run, text, within=bound * baseline))
        if seconds > bound * baseline:
            slow[name] = round(seconds / baseline, 1)
    return slow


def ordinary_markdown_to_normalize(size: int = SIZE) -> str:
    """Ordinary Markdown that NFKC has work on: full-width question marks, as a CJK keyboard types them."""
    return ordinary_markdown(size).replace("?", "\uff1f")


@pytest.mark.parametrize("featurizer", [NativeFeaturizer(), ReferenceFeaturizer()], ids=["native", "reference"])
def test_featurizing_a_pathological_body_takes_at_most_a_few_times_an_ordinary_one(featurizer: Featurizer):
    """§3-§8 on bodies already normalized (§2 is timed on its own below: it runs in CPython whatever the featurizer)."""
    shapes = {name: normalize(body) for name, body in PATHOLOGICAL_MARKDOWN.items()}
    assert slower_than(MAX_RATIO, lambda body: featurizer.featurize_normalized("A title", body),
                       normalize(ordinary_markdown()), shapes) == {}


def test_normalizing_a_pathological_body_takes_at_most_a_few_times_an_ordinary_one():
    assert slower_than(MAX_NFKC_RATIO, normalize, ordinary_markdown_to_normalize(), PATHOLOGICAL_MARKDOWN) == {}


def test_converting_pathological_html_takes_at_most_a_few_times_ordinary_html():
    # A wider margin: html.parser spends microseconds on each tag, and some shapes are many times as dense in tags.
    assert slower_than(MAX_HTML_RATIO, html_to_markdown, ordinary_html(), PATHOLOGICAL_HTML) == {}


def test_the_bodies_are_the_size_they_claim():
    assert len(ordinary_markdown()) == len(ordinary_html()) == SIZE
    for text in (*PATHOLOGICAL_MARKDOWN.values(), *PATHOLOGICAL_HTML.values()):
        assert SIZE - 40 <= len(text) <= 2 * SIZE
