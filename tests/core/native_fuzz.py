"""Fuzz the compiled featurizer: random text at it until the time is up; a crash kills this process.

Run by tests/core/test_native_featurizer.py in a subprocess (so a crash is a failed test with its
exit status, not a dead test run), and by hand under the sanitizers (tests/core/run_native_under_sanitizers.sh):

    python -m tests.core.native_fuzz --seconds 60 [--seed N] [--check-reference]

Each input mixes pieces chosen to reach every branch of the C code: Markdown and HTML shapes,
pathological runs, every Unicode plane, lone surrogates, NUL, very long lines and words.
`--check-reference` also compares every result with the pure-Python reference (slower).
"""

from __future__ import annotations

import argparse
import random
import sys
import time

import numpy as np

from mleditor.core import features as F
from mleditor.core.native_features import NativeFeaturizer

PIECES = [
    "```", "~~~", "````", "    ", "\t", "   ", "- ", "* ", "+ ", "1. ", "123456789) ", "1234567890. ", "> ", ">> ",
    "#", "###### ", "####### ", "---", "* * *", "___", "[", "]", "](", "(", ")", "![", "!", "`", "``", "http://",
    "https://x.y/z", "https:/", "<", ">", "&amp;", "<p>", "</p>", "*", "_", "\n", "\n\n", " ", ".", "...", "!?", "?",
    "\u3002", "é", "İ", "Σ", "ΣΑΣ", "ß", "ﬁ", "\u0301", "\u0316", "\x00", "\u3000", "ǅ", "Ⓐ", "Ⅻ", "٣", "𝟘", "😀",
    "\ud800", "\udfff", "\ud7ff", "\ue000", "\uffff", "\U0010ffff", "\u200b", "\u00a0", "\f", "\v", "\r", "word",
    "Brew", "THANKS", "hello", "what", "où", "le", "able", "queue", "x" * 300,
]


def random_text(rng: random.Random, max_pieces: int) -> str:
    """A string of random pieces and random code points from every plane."""
    parts: list[str] = []
    for _ in range(rng.randrange(max_pieces)):
        roll = rng.random()
        if roll < 0.6:
            parts.append(rng.choice(PIECES))
        elif roll < 0.9:
            parts.append(chr(rng.randrange(0x80, 0x3000)))
        elif roll < 0.98:
            parts.append(chr(rng.randrange(0x110000)))
        else:
            parts.append(rng.choice("[*`<](!~#- \n") * rng.randrange(1, 3000))
    return "".join(parts)


def fuzz(seconds: float, seed: int, check_reference: bool) -> int:
    """Featurize random inputs for `seconds`; the number of inputs tried."""
    rng = random.Random(seed)
    native = NativeFeaturizer()
    reference = F.ReferenceFeaturizer()
    deadline = time.monotonic() + seconds
    tried = 0
    while time.monotonic() < deadline:
        titles = [random_text(rng, 8) for _ in range(8)]
        bodies = [random_text(rng, 120) for _ in range(8)]
        many = native.featurize_many_normalized(titles, bodies)
        for title, body, batched in zip(titles, bodies, many):
            one = native.featurize_normalized(title, body)
            assert one.ngram_ids.tobytes() == batched.ngram_ids.tobytes()
            assert one.dense.tobytes() == batched.dense.tobytes()
            if check_reference:
                expected = reference.featurize_normalized(title, body)
                assert np.array_equal(one.ngram_ids, expected.ngram_ids), (title, body)
                assert one.dense.tobytes() == expected.dense.tobytes(), (title, body)
        tried += len(titles)
    return tried


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--check-reference", action="store_true")
    args = parser.parse_args(argv)
    tried = fuzz(args.seconds, args.seed, args.check_reference)
    print(f"native featurizer fuzz: {tried} inputs in {args.seconds:g} s, seed {args.seed}: no crash"
          + (", every one equal to the reference" if args.check_reference else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
