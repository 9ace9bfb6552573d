"""Write the differential cases for featurizer.js: generated inputs with the reference's outputs, as JSON.

    python tests/browser/make_differential_cases.py OUT.json [--seed N] [--random N]

Inputs (over 10,000): random mixes of Markdown and HTML shapes, URLs, every script, combining
marks, emoji, RTL and CJK text, lone surrogates, very long words, empty titles or bodies; ordinary
questions; 50,000-character bodies and the pathological shapes of FEATURES.md §10; every code point
of Unicode, in blocks. Long inputs are written as specs that tests/browser/featurizer.test.mjs
builds as `build` here does (those of tests/golden/regenerate.py, plus "codepoints"), so the file
stays a few megabytes. Outputs come from `mleditor.core.features.featurize` (the native featurizer,
identical to the reference). Also written: `str.lower()` and NFKC of every code point where they
change it, and NFKC of each decomposable or combining code point before a run of 32 marks (the
stepwise NFKC of §10). The file is made at test time, never committed.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import unicodedata
from pathlib import Path
from typing import Any

from mleditor.core.features import DENSE_FEATURES, SPEC_VERSION, featurize_many, nfkc
from tests.golden.regenerate import build as golden_build

Spec = str | dict[str, Any]
SURROGATES = range(0xD800, 0xE000)
MAX_CODE = 0x110000
# A high surrogate right before a low one is one code point in JavaScript, two in Python: never generated.
_PAIR = re.compile("([\ud800-\udbff])(?=[\udc00-\udfff])")

PIECES = [
    "```", "~~~", "````", "```python\n", "    ", "\t", "   ", "- ", "* ", "+ ", "1. ", "123456789) ", "1234567890. ",
    "> ", ">> ", "#", "## ", "###### ", "####### ", "---", "* * *", "___", "- - -", "[", "]", "](", "(", ")", "![",
    "!", "`", "``", "`code`", "[text](http://x.org/a)", "![alt](img.png)", "http://", "https://x.y/z?q=1&r=2",
    "https:/", "www.example.com", "<", ">", "&amp;", "<p>", "</p>", "<a href=\"x\">", "<br/>", "<script>", "*", "_",
    "\n", "\n\n", "\r\n", "\r", " ", ".", "...", "!?", "?", "!", "\u3002", "\u3002\u3002", "é", "e\u0301", "İ", "Σ",
    "ΣΑΣ", "σ", "ς", "ß", "ẞ", "ﬁ", "\u0301", "\u0316", "\u0345", "\x00", "\u3000", "\u00a0", "\u200b", "\u200d",
    "\ufeff", "ǅ", "Ⓐ", "Ⅻ", "٣", "𝟘", "😀", "👩\u200d💻", "🇫🇷", "\ud800", "\udfff", "\ud7ff", "\ue000", "\uffff",
    "\U0010ffff", "\f", "\v", "word", "Brew", "THANKS", "hello", "what", "où", "le", "able", "queue", "x" * 300,
    "שלום עולם", "مرحبا بالعالم", "\u200f", "\u202e", "中文问题？", "日本語の質問です。", "한국어", "हिन्दी", "ไทย",
    "Привет", "Ελληνικά", "ǈ", "ﾊﾟ", "ｶﾞ", "\u0f73", "\u0344", "①", "½", "Ⅸ", "\U0001e900", "\U00016e40", "\U0001f3fb",
    "\U000e0041", "\U0001d400", "\u1e9e", "\u0130", "\u2126", "\u212a", "\u0149", "\u1f88", "\u03d0", "\u1fbc",
]
SCRIPTS = [(0x20, 0x7E), (0xA0, 0x24F), (0x300, 0x36F), (0x370, 0x3FF), (0x400, 0x52F), (0x590, 0x6FF),
           (0x900, 0x97F), (0xE00, 0xE7F), (0x1100, 0x11FF), (0x1E00, 0x1FFF), (0x2000, 0x2BFF), (0x3000, 0x30FF),
           (0x4E00, 0x9FFF), (0xAC00, 0xD7A3), (0xFB00, 0xFFEF), (0x10000, 0x1FFFF), (0x1F300, 0x1FAFF)]
WORDS = ("how what why the a to of in is it not my beer hop yeast bottle brew carbonation temperature sugar "
         "gravity ferment lager ale stout glass foam priming batch week infection hello thanks please").split()


def build(value: Spec) -> str:
    """tests/golden/regenerate.py `build`, plus {"codepoints": [low, high, sep, before, after]}: each code point
    of low..high but the surrogates, between `before` and `after`, joined by `sep`."""
    if isinstance(value, dict) and "codepoints" in value:
        low, high, sep, before, after = value["codepoints"]
        return sep.join(before + chr(code) + after for code in range(low, high + 1) if code not in SURROGATES)
    return golden_build(value)


def random_text(rng: random.Random, max_pieces: int) -> str:
    parts: list[str] = []
    for _ in range(rng.randrange(max_pieces + 1)):
        roll = rng.random()
        if roll < 0.45:
            parts.append(rng.choice(PIECES))
        elif roll < 0.6:
            parts.append(rng.choice(WORDS) + " ")
        elif roll < 0.85:
            low, high = rng.choice(SCRIPTS)
            parts.append(chr(rng.randint(low, high)))
        elif roll < 0.98:
            code = rng.randrange(MAX_CODE)
            parts.append(chr(code) if code not in SURROGATES else "\ufffd")
        else:
            parts.append(rng.choice("[*`<](!~#-. \n>") * rng.randrange(1, 2000))
    return _PAIR.sub("\\1 ", "".join(parts))


def question(rng: random.Random) -> tuple[str, str]:
    """An ordinary question: a few paragraphs, a list, a link, inline and fenced code."""
    def sentence() -> str:
        return " ".join(rng.choices(WORDS, k=rng.randint(4, 18))).capitalize() + rng.choice(".?!.")

    blocks = [" ".join(sentence() for _ in range(rng.randint(1, 5))) for _ in range(rng.randint(1, 4))]
    if rng.random() < 0.5:
        blocks.append("\n".join(f"{rng.choice(['-', '*', '1.'])} {sentence()}" for _ in range(rng.randint(1, 4))))
    if rng.random() < 0.5:
        blocks.append(f"See [the notes](https://example.org/{rng.randint(1, 99)}) and run `brew --{rng.choice(WORDS)}`.")
    if rng.random() < 0.4:
        blocks.append("```\nfor bottle in batch:\n    prime(bottle, grams=4)\n```")
    if rng.random() < 0.3:
        blocks.append("    indented = code\n    more()")
    rng.shuffle(blocks)
    return sentence(), "\n\n".join(blocks)


def long_bodies(rng: random.Random) -> list[tuple[str, Spec, Spec]]:
    """50,000-character bodies: the shapes of FEATURES.md §10 and repeated random text."""
    size = 50_000
    fill = {"[": "[", "](": "](", "[a](": "[a](", "![": "![", "[](": "[](", "`": "`", "`a": "`a", "*": "*", "<": "<",
            "&": "&", "> ": "> ", "- ": "- ", "a": "a", "\uff3b": "\uff3b", "\u0301\u0316": "\u0301\u0316",
            "a\n": "a\n", "```\n": "```\n", "http://": "http://", "?!": "?!", ".": ".", "\u3002": "\u3002",
            "\u03a3'": "\u03a3'", "    x\n": "    x\n", "~~~\n    \n": "~~~\n    \n", "![a](b)[c](d) ": "![a](b)[c](d) "}
    cases: list[tuple[str, Spec, Spec]] = [
        (f"pathological {name!r}", "Pathological", {"concat": [{"repeat": [unit, size // len(unit)]}, "x"]})
        for name, unit in fill.items()
    ]
    cases += [
        ("marks out of order", "Marks", {"concat": ["a", {"repeat": ["\u0301", size // 2]}, {"repeat": ["\u0316", size // 2 - 1]}]}),
        ("deeply nested list", "Nested", {"nested": ["  ", "- item", 2_000]}),
        ("deeply nested quotes", "Nested", {"nested": ["> ", "quoted", 300]}),
        ("many words", "Many words", {"numbered": ["w", 9_000]}),
        ("one long word", "", {"repeat": ["a", size]}),
    ]
    for i in range(30):
        unit = random_text(rng, 60) or "a b. "
        cases.append((f"random repeated {i}", random_text(rng, 8), {"repeat": [unit, max(1, size // len(unit))]}))
    return cases


def code_point_blocks() -> list[tuple[str, Spec, Spec]]:
    """Every code point: alone between spaces (body), next to its neighbours (title and body), and after a base
    letter before two marks."""
    cases: list[tuple[str, Spec, Spec]] = []
    low = 0
    while low < MAX_CODE:
        dense_plane = low < 0x40000 or 0xE0000 <= low < 0xF0000
        high = min(low + (2_048 if dense_plane else 16_384), MAX_CODE) - 1
        name = f"U+{low:04X}..U+{high:04X}"
        cases.append((f"{name} apart", {"codepoints": [low, min(high, low + 63), "", "", ""]},
                      {"codepoints": [low, high, " ", "", ""]}))
        cases.append((f"{name} together", "", {"codepoints": [low, high, "", "", ""]}))
        if low < 0x20000:
            cases.append((f"{name} between letters and marks", {"codepoints": [low, min(high, low + 40), "", "A", "Σ"]},
                          {"codepoints": [low, high, " ", "a", "\u0316\u0301"]}))
        low = high + 1
    return cases


def code_point_facts() -> dict[str, list[list[Any]]]:
    """`str.lower()` and NFKC of each code point they change; NFKC of a mark-bearing one before 32 marks."""
    lower: list[list[Any]] = []
    normalized: list[list[Any]] = []
    before_marks: list[list[Any]] = []
    marks = "\u0316\u0301" * 16
    for code in range(MAX_CODE):
        char = chr(code)
        if char.lower() != char:
            lower.append([code, char.lower()])
        if code in SURROGATES:
            continue
        if nfkc(char) != char:
            normalized.append([code, nfkc(char)])
        if code < 0x20000 and (unicodedata.decomposition(char) or unicodedata.combining(char)):
            before_marks.append([code, nfkc(char + marks)])
    return {"lower": lower, "nfkc": normalized, "nfkc_before_marks": before_marks}


def all_cases(seed: int, n_random: int) -> list[tuple[str, Spec, Spec]]:
    rng = random.Random(seed)
    cases: list[tuple[str, Spec, Spec]] = [
        ("empty", "", ""), ("empty title", "", "A body. With two sentences!"), ("empty body", "What is this?", ""),
        ("lone surrogates", "x\ud800 y \udfff", "a\udc00b \ud800. [\udbff](u) \udfff` `\ud800"),
        ("final sigma", "ΟΔΟΣ ΣΑΣ Σ", "ΌΣΟΣ σοφός. Σ' ΑΣ. aΣ\u0301 b"),
    ]
    for i in range(n_random):
        cases.append((f"random {i}", random_text(rng, 12), random_text(rng, 80 if i % 10 else 400)))
    for i in range(1_000):
        cases.append((f"question {i}", *question(rng)))
    cases += long_bodies(rng)
    cases += code_point_blocks()
    return cases


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--random", type=int, default=9_000, help="how many random mixes (default 9,000)")
    args = parser.parse_args(argv)
    cases = all_cases(args.seed, args.random)
    features = featurize_many([build(title) for _, title, _ in cases], [build(body) for _, _, body in cases])
    payload = {
        "spec_version": SPEC_VERSION,
        "unicode_version": unicodedata.unidata_version,
        "dense_features": list(DENSE_FEATURES),
        "cases": [{"name": name, "title": title, "body": body, "ngram_ids": f.ngram_ids.tolist(),
                   "dense": f.dense.tolist()} for (name, title, body), f in zip(cases, features)],
        "code_points": code_point_facts(),
    }
    args.out.write_text(json.dumps(payload, ensure_ascii=True, separators=(",", ":")), encoding="ascii")
    print(f"wrote {len(cases)} cases to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
