"""The featurizer: a question's title and body → hashed n-gram ids + dense handcrafted features.

This module is FEATURES.md (spec version `SPEC_VERSION`) in pure Python: the *reference*, the
oracle every other implementation is tested against (the golden vectors in tests/golden/, and
differential tests). Every step takes time linear in the input's length (FEATURES.md §10).

`featurize`, `featurize_normalized` and `featurize_many` run the selected implementation: the
compiled one (`mleditor.core.native_features`, built at install) unless `$MLEDITOR_FEATURIZER`
or `use_featurizer("reference")` says otherwise; where it was not built, the reference, with a
one-line warning. Both give the same ids and bit-identical dense values.
"""

from __future__ import annotations

import functools
import os
import re
import unicodedata
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Protocol

import mmh3
import numpy as np

from mleditor.core.feature_spec import (
    DENSE_FEATURES,
    DENSE_INDEX,
    GREETING_WORDS,
    MAX_BODY_TOKENS_FOR_NGRAMS,
    MAX_NGRAMS,
    N_BUCKETS,
    QUESTION_WORDS,
    SPEC_VERSION,
    Features,
)
from mleditor.core.text_structure import ASCII_WHITESPACE, parse_body

__all__ = [
    "DENSE_FEATURES", "DENSE_INDEX", "FEATURIZERS", "FEATURIZER_ENV", "GREETING_WORDS", "MAX_BODY_TOKENS_FOR_NGRAMS",
    "MAX_NGRAMS", "N_BUCKETS", "QUESTION_WORDS", "SPEC_VERSION", "Features", "Featurizer", "ReferenceFeaturizer",
    "active_featurizer", "bucket", "code_point_ranges", "dense_features", "featurize", "featurize_many",
    "featurize_normalized", "nfkc", "ngram_ids", "ngrams", "normalize", "normalize_title",
    "reference_featurize_normalized", "syllables", "tokenize", "use_featurizer",
]

TOKEN = re.compile(r"[^\W_]+")  # runs of code points of general category L* or N*
# §5's `[.!?]+(?=[ \t\n]|$)`, tried only where a run of terminators starts: the same matches, but a
# long run followed by a letter is scanned once instead of once from each of its characters.
SENTENCE_BREAK = re.compile(r"(?<![.!?])[.!?]+(?=[ \t\n]|\Z)|\u3002+|\n")
VOWEL_RUN = re.compile("[aeiouyàáâãäåæèéêëìíîïòóôõöøùúûüýÿœ]+")


_LEADING_BLANK_LINES = re.compile(r"^(?:[ \t\f\v]*\n)+")
# CPython puts combining marks in canonical order with an insertion sort: quadratic in the length of
# a run of marks. Text with a run at least this long is normalized in steps (`_nfkc_in_steps`).
_LONG_MARK_RUN = 32
_LONG_NON_ASCII_RUN = re.compile(f"[^\\x00-\\x7f]{{{_LONG_MARK_RUN}}}")  # a cheap necessary condition


def _has_long_non_ascii_run(text: str) -> bool:
    return _LONG_NON_ASCII_RUN.search(text) is not None


try:  # the same test, compiled (the regex costs ~25 ns a character); §2 itself is the same code for both featurizers
    from mleditor.core._native_featurizer import has_non_ascii_run as _native_run_test

    def _has_long_non_ascii_run(text: str) -> bool:
        return _native_run_test(text, _LONG_MARK_RUN)
except ImportError:  # not built: the regex
    pass


def nfkc(text: str) -> str:
    """Unicode NFKC (§2 step 1), in time linear in the length of `text` (§10)."""
    if text.isascii():
        return text
    if _has_long_non_ascii_run(text) and _has_long_mark_run(text):
        return _nfkc_in_steps(text)
    return unicodedata.normalize("NFKC", text)


def _nfkc_in_steps(text: str) -> str:
    """NFKC as its definition composes it: decompose each character, order each run of marks, compose."""
    decomposed = "".join(map(_nfkd_char, text))
    ordered = _mark_tables().mark_run.sub(_in_canonical_order, decomposed)
    # NFC of any text canonically equivalent to NFKD(text) is NFKC(text); its own ordering step finds
    # the runs in order now (one the tables missed it would still order, slowly).
    return unicodedata.normalize("NFC", ordered)


@functools.lru_cache(maxsize=4096)
def _nfkd_char(char: str) -> str:
    return unicodedata.normalize("NFKD", char)


def _in_canonical_order(run: re.Match[str]) -> str:
    return "".join(sorted(run.group(), key=unicodedata.combining))  # stable, as canonical ordering is


def _has_long_mark_run(text: str) -> bool:
    tables = _mark_tables()
    return tables.maybe_long_run.search(text) is not None and tables.long_run.search(text) is not None


@dataclass(frozen=True)
class _MarkTables:
    """Patterns over the characters that NFKD turns into combining marks (canonical combining class ≠ 0).

    Only the speed of `nfkc` depends on them being complete (a run they miss is ordered by CPython:
    slowly, but right). Planes 0 and 1 hold every mark of Unicode 14.
    """

    maybe_long_run: re.Pattern[str]  # a superset that searches fast: a class of plane-0 characters and one range
    long_run: re.Pattern[str]  # _LONG_MARK_RUN characters that decompose to marks only
    mark_run: re.Pattern[str]  # two or more marks


@functools.cache
def _mark_tables() -> _MarkTables:
    """Built from the Unicode database on first use (some 30 ms), not at import."""
    marks: list[int] = []
    mark_like: list[int] = []  # marks, and U+0F73, U+FF9E…: no mark themselves, marks once decomposed
    for code in range(0x20000):
        char = chr(code)
        if unicodedata.combining(char):
            marks.append(code)
            mark_like.append(code)
        elif unicodedata.decomposition(char) and all(map(unicodedata.combining, _nfkd_char(char))):
            mark_like.append(code)
    plane0 = [code for code in mark_like if code < 0x10000]
    beyond = [code for code in mark_like if code >= 0x10000]
    maybe = [*plane0, *range(beyond[0], beyond[-1] + 1)] if beyond else plane0
    return _MarkTables(
        maybe_long_run=re.compile(f"[{_char_class(maybe)}]{{{_LONG_MARK_RUN}}}"),
        long_run=re.compile(f"[{_char_class(mark_like)}]{{{_LONG_MARK_RUN}}}"),
        mark_run=re.compile(f"[{_char_class(marks)}]{{2,}}"),
    )


def code_point_ranges(codes: Iterable[int]) -> list[tuple[int, int]]:
    """Sorted code points as inclusive (low, high) ranges."""
    ranges: list[list[int]] = []
    for code in codes:
        if ranges and ranges[-1][1] == code - 1:
            ranges[-1][1] = code
        else:
            ranges.append([code, code])
    return [(low, high) for low, high in ranges]


def _char_class(codes: list[int]) -> str:
    """A regex class of sorted code points, as ranges (the regex compiler checks those beyond plane 0 one by one)."""
    return "".join(re.escape(chr(lo)) + (f"-{re.escape(chr(hi))}" if hi > lo else "")
                   for lo, hi in code_point_ranges(codes))


def normalize(text: str) -> str:
    """§2: NFKC, CRLF/CR → LF, strip trailing ASCII whitespace and leading blank lines."""
    text = nfkc(text).replace("\r\n", "\n").replace("\r", "\n")
    return _LEADING_BLANK_LINES.sub("", text.rstrip(ASCII_WHITESPACE), count=1)


def normalize_title(title: str) -> str:
    """§2: a title is normalized like a body, then stripped of ASCII whitespace at both ends."""
    return normalize(title).strip(ASCII_WHITESPACE)


def tokenize(text: str) -> list[str]:
    """§5: lowercase, then every maximal run of letters and numbers is a token."""
    return TOKEN.findall(text.lower())


_SYLLABLE_CACHE: dict[str, int] = {}


def syllables(token: str) -> int:
    """§6: vowel groups, minus a silent final 'e' (not after 'l'), at least 1."""
    count = _SYLLABLE_CACHE.get(token)
    if count is None:
        groups = len(VOWEL_RUN.findall(token))
        if groups >= 2 and token.endswith("e") and not token.endswith("le"):
            groups -= 1
        count = max(1, groups)
        if len(_SYLLABLE_CACHE) > 200_000:
            _SYLLABLE_CACHE.clear()
        _SYLLABLE_CACHE[token] = count
    return count


_BUCKET_CACHE: dict[str, int] = {}


def bucket(ngram: str) -> int:
    """§7: MurmurHash3 x86 32-bit (seed 0) of the n-gram's UTF-8 bytes, mod N_BUCKETS, plus 1."""
    bucket_id = _BUCKET_CACHE.get(ngram)
    if bucket_id is None:
        bucket_id = mmh3.hash(ngram.encode("utf-8"), 0, signed=False) % N_BUCKETS + 1
        if len(_BUCKET_CACHE) > 1_000_000:
            _BUCKET_CACHE.clear()
        _BUCKET_CACHE[ngram] = bucket_id
    return bucket_id


def ngrams(prefix: str, tokens: list[str]) -> list[str]:
    """§7: unigrams then bigrams of one field, each prefixed with the field's namespace."""
    grams = [prefix + token for token in tokens]
    grams.extend(f"{prefix}{a} {b}" for a, b in pairwise(tokens))
    return grams


def ngram_ids(title_tokens: list[str], body_tokens: list[str]) -> np.ndarray:
    """§7: bucket ids of title then body n-grams, first occurrences kept, capped, sorted."""
    grams = dict.fromkeys(ngrams("t:", title_tokens) + ngrams("b:", body_tokens[:MAX_BODY_TOKENS_FOR_NGRAMS]))
    cache = _BUCKET_CACHE
    ids = dict.fromkeys([cache.get(gram) or bucket(gram) for gram in grams])
    return np.array(sorted(list(ids)[:MAX_NGRAMS]), dtype=np.int64)


def _ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator else 0.0


def _uppercase_ratio(title: str) -> float:
    letters = upper = 0
    for char in title:
        category = unicodedata.category(char)
        if category[0] == "L":
            letters += 1
            upper += category == "Lu"
    return _ratio(upper, letters)


def dense_features(title: str, body: str) -> tuple[np.ndarray, list[str], list[str]]:
    """§8: the dense vector of a normalized title and body, plus both token lists."""
    structure = parse_body(body)
    title_tokens = tokenize(title)
    body_tokens = tokenize(structure.prose)
    n_words = len(body_tokens)
    n_sentences = sum(1 for part in SENTENCE_BREAK.split(structure.prose) if TOKEN.search(part))
    words_per_sentence = _ratio(n_words, n_sentences)
    syllables_per_word = _ratio(sum(map(syllables, body_tokens)), n_words)
    flesch = 0.0
    if n_words:
        flesch = 206.835 - 1.015 * words_per_sentence - 84.6 * syllables_per_word
        flesch = min(max(flesch, -100.0), 121.22)
    long_tokens = [t for t in body_tokens if len(t) >= 4]
    title_vocab = {t for t in title_tokens if len(t) >= 3}
    body_vocab = set(body_tokens)
    values = {
        "title_chars": len(title),
        "title_words": len(title_tokens),
        "title_has_question_mark": float("?" in title),
        "title_starts_with_question_word": float(bool(title_tokens) and title_tokens[0] in QUESTION_WORDS),
        "title_uppercase_ratio": _uppercase_ratio(title),
        "body_chars": len(body),
        "body_words": n_words,
        "body_sentences": n_sentences,
        "words_per_sentence": words_per_sentence,
        "chars_per_word": _ratio(sum(map(len, body_tokens)), n_words),
        "syllables_per_word": syllables_per_word,
        "flesch_reading_ease": flesch,
        "repetition_ratio": 1.0 - _ratio(len(set(long_tokens)), len(long_tokens)) if long_tokens else 0.0,
        "code_blocks": structure.code_blocks,
        "inline_code": structure.inline_code,
        "links": structure.links,
        "images": structure.images,
        "list_items": structure.list_items,
        "paragraphs": structure.paragraphs,
        "code_char_ratio": min(1.0, _ratio(structure.code_chars, len(body))),
        "body_question_marks": structure.prose.count("?"),
        "body_exclamations": structure.prose.count("!"),
        "has_greeting_or_thanks": float(not GREETING_WORDS.isdisjoint(body_vocab)),
        "title_words_in_body_ratio": _ratio(len(title_vocab & body_vocab), len(title_vocab)),
    }
    dense = np.array([values[name] for name in DENSE_FEATURES], dtype=np.float64)
    return dense, title_tokens, body_tokens


def reference_featurize_normalized(title: str, body: str) -> Features:
    """The reference (this module) on text already normalized by §2: the oracle of every other implementation."""
    dense, title_tokens, body_tokens = dense_features(title, body)
    return Features(ngram_ids=ngram_ids(title_tokens, body_tokens), dense=dense)


class Featurizer(Protocol):
    """An implementation of FEATURES.md §3-§8, on text already normalized by §2."""

    name: str

    def featurize_normalized(self, title: str, body: str) -> Features: ...

    def featurize_many_normalized(self, titles: Sequence[str], bodies: Sequence[str]) -> list[Features]: ...


class ReferenceFeaturizer:
    """The pure-Python reference."""

    name = "reference"

    def featurize_normalized(self, title: str, body: str) -> Features:
        return reference_featurize_normalized(title, body)

    def featurize_many_normalized(self, titles: Sequence[str], bodies: Sequence[str]) -> list[Features]:
        _check_same_length(titles, bodies)
        return [reference_featurize_normalized(title, body) for title, body in zip(titles, bodies)]


FEATURIZER_ENV = "MLEDITOR_FEATURIZER"
FEATURIZERS = ("native", "reference")
_active: Featurizer | None = None


def use_featurizer(name: str | None = None, environ: Mapping[str, str] | None = None) -> Featurizer:
    """Select the implementation every `featurize*` call runs, and return it.

    `name` is "native" or "reference"; without it, `$MLEDITOR_FEATURIZER`; without that, native
    where it was built and the reference (with a one-line warning) where it was not. Asking for
    "native" where it was not built is an error that says how to build it.
    """
    global _active
    env = os.environ if environ is None else environ
    requested = name if name is not None else env.get(FEATURIZER_ENV) or None
    if requested is not None and requested not in FEATURIZERS:
        from mleditor.errors import InvalidInputError

        source = "use_featurizer()" if name is not None else f"${FEATURIZER_ENV}"
        raise InvalidInputError(f"the featurizer named by {source} must be 'native' or 'reference'; got {requested!r}")
    if requested == "reference":
        _active = ReferenceFeaturizer()
        return _active
    try:
        from mleditor.core.native_features import NativeFeaturizer
    except ImportError as exc:
        hint = ("reinstall mleditor where a C compiler and the Python headers exist (e.g. apt-get install gcc "
                "python3-dev; pip install -e .)")
        if requested == "native":
            from mleditor.errors import MLEditorError

            raise MLEditorError(f"the native featurizer is not built ({exc}); {hint}") from exc
        warnings.warn(f"mleditor: the native featurizer is not built ({exc}); using the pure-Python reference, "
                      f"about 10x slower; {hint}", RuntimeWarning, stacklevel=2)
        _active = ReferenceFeaturizer()
        return _active
    _active = NativeFeaturizer()
    return _active


def active_featurizer() -> Featurizer:
    """The implementation in use, selected by `use_featurizer()` on first use."""
    return _active if _active is not None else use_featurizer()


def featurize(title: str, body: str) -> Features:
    """Featurize one question (title and Markdown-flavoured body) per FEATURES.md."""
    return featurize_normalized(normalize_title(title), normalize(body))


def featurize_normalized(title: str, body: str) -> Features:
    """Featurize text already normalized by §2 (as `prepare_question` returns it): normalizing is not repeated."""
    return (_active or active_featurizer()).featurize_normalized(title, body)


def featurize_many(titles: Sequence[str], bodies: Sequence[str], *, normalized: bool = False) -> list[Features]:
    """Featurize many questions in one call (the per-call overhead paid once); `normalized`: §2 already applied."""
    _check_same_length(titles, bodies)
    if not normalized:
        titles = [normalize_title(title) for title in titles]
        bodies = [normalize(body) for body in bodies]
    return (_active or active_featurizer()).featurize_many_normalized(titles, bodies)


def _check_same_length(titles: Sequence[str], bodies: Sequence[str]) -> None:
    if len(titles) != len(bodies):
        raise ValueError(f"titles and bodies must be as long as each other; got {len(titles)} and {len(bodies)}")
