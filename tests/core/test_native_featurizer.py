"""The compiled featurizer equals the reference exactly: the same ids, bit-identical dense values.

The golden vectors run through both implementations in test_features.py; here, generated inputs
(well over 20,000 across the tests below) compare native with reference on the whole path
(`normalize`, then each implementation), plus every code point of Unicode, and a fuzz run in a
subprocess shows that no input crashes the process.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from mleditor.core import features as F
from mleditor.core.native_features import NativeFeaturizer, murmurhash3_32
from mleditor.errors import InvalidInputError, MLEditorError
from tests.core.native_fuzz import PIECES

NATIVE = NativeFeaturizer()
REFERENCE = F.ReferenceFeaturizer()
REPO = Path(__file__).parents[2]


def assert_same(title: str, body: str) -> None:
    title, body = F.normalize_title(title), F.normalize(body)
    expected = REFERENCE.featurize_normalized(title, body)
    got = NATIVE.featurize_normalized(title, body)
    assert got.ngram_ids.dtype == np.int64 and got.dense.dtype == np.float64
    assert got.ngram_ids.tolist() == expected.ngram_ids.tolist()
    differing = [name for name, a, b in zip(F.DENSE_FEATURES, got.dense, expected.dense) if a.tobytes() != b.tobytes()]
    assert not differing, {name: (got.dense_dict()[name], expected.dense_dict()[name]) for name in differing}


EVERY_CATEGORY = st.characters(codec=None, categories=None)  # every category but Cs (surrogates: below)
SURROGATE_ADJACENT = st.sampled_from(["\ud7ff", "\ud800", "\udbff", "\udc00", "\udfff", "\ue000", "\uffff",
                                      "\U00010000", "\U0010ffff", "\x00", "\u0301", "\u0345", "\u3099"])
SHAPES = st.sampled_from(PIECES)
MIXED = st.lists(st.one_of(SHAPES, EVERY_CATEGORY, SURROGATE_ADJACENT), max_size=60).map("".join)
RUN = st.tuples(st.sampled_from(["[", "*", "`", "<", "](", "![", "[a](", ".", "- ", "> ", "    ", "#"]),
                st.integers(1, 50_000)).map(lambda unit_times: unit_times[0] * unit_times[1])
LONG_BODY = st.tuples(MIXED, st.integers(1, 50_000)).map(lambda text_size: (text_size[0] or "a b. ") * 50_000)


@settings(max_examples=12_000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(title=st.text(EVERY_CATEGORY, max_size=40), body=st.text(EVERY_CATEGORY, max_size=200))
@example(title="ΣΑΣ ΟΔΟΣ", body="ΌΣΟΣ σοφός. İstanbul ǅemal")
@example(title="", body="")
def test_native_equals_reference_on_text_of_every_unicode_category(title, body):
    assert_same(title, body)


@settings(max_examples=8_000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(title=MIXED, body=MIXED)
@example(title="How?", body="```\ncode\n```\n    indented\n\n- item\n1. one\n> quote\n# Heading\n* * *\n[a](b) ![i](s)")
@example(title="x", body="`a` ``b`` [t](http://u) https://bare.example/x?y http:/no")
def test_native_equals_reference_on_markdown_and_html_shapes(title, body):
    assert_same(title, body)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(body=st.one_of(RUN, LONG_BODY))
@example(body="[" * 50_000)
@example(body="`" * 50_000)
@example(body="<" * 50_000)
@example(body="*" * 50_000)
def test_native_equals_reference_on_pathological_and_50000_character_bodies(body):
    assert_same("Pathological", body)


@pytest.mark.parametrize("start", range(0, 0x110000, 0x8000))
def test_native_equals_reference_on_every_code_point(start):
    """Each code point alone (between spaces) and next to its neighbours, in the title and the body."""
    chars = [chr(code) for code in range(start, min(start + 0x8000, 0x110000))]
    for block in range(0, len(chars), 2048):
        part = chars[block:block + 2048]
        assert_same(" ".join(part), " ".join(part))
        assert_same("".join(part), "".join(part))


def test_many_questions_in_one_call_equal_one_at_a_time():
    titles = ["How?", "", "ΣΑΣ", "x" * 500]
    bodies = ["Brew [it](x).", "```\nonly code", "", "word " * 6000]
    many = NATIVE.featurize_many_normalized(titles, bodies)
    assert len(many) == 4
    for title, body, batched in zip(titles, bodies, many):
        one = NATIVE.featurize_normalized(title, body)
        assert batched.ngram_ids.tolist() == one.ngram_ids.tolist()
        assert batched.dense.tobytes() == one.dense.tobytes()


def test_featurize_many_normalizes_unless_told_the_text_is_normalized():
    titles, bodies = ["\uff1f Full width", "Title"], ["\r\nBody\r\n", "Body"]
    expected = [F.featurize(t, b) for t, b in zip(titles, bodies)]
    got = F.featurize_many(titles, bodies)
    assert [g.ngram_ids.tolist() for g in got] == [e.ngram_ids.tolist() for e in expected]
    assert [g.dense.tolist() for g in got] == [e.dense.tolist() for e in expected]


@pytest.mark.parametrize("featurizer", [NATIVE, REFERENCE], ids=["native", "reference"])
def test_featurize_many_refuses_titles_and_bodies_of_different_lengths(featurizer):
    with pytest.raises(ValueError, match="as long as each other"):
        featurizer.featurize_many_normalized(["a", "b"], ["a"])


@pytest.mark.parametrize("title, body", [(None, "b"), ("t", b"bytes"), ("t", 3)])
def test_native_refuses_what_is_not_a_str_with_a_type_error(title, body):
    with pytest.raises(TypeError, match="must be a str"):
        NATIVE.featurize_normalized(title, body)


def test_native_murmurhash_matches_the_spec_test_vector_and_mmh3():
    import mmh3

    assert murmurhash3_32(b"hello") == 0x248BFA47
    for data in [b"", b"a", b"ab", b"abc", b"abcd", "t:caf\u00e9 \U0001f600".encode()]:
        assert murmurhash3_32(data) == mmh3.hash(data, 0, signed=False)


def test_native_is_the_default_where_it_is_built():
    previous = F._active
    try:
        assert F.use_featurizer(environ={}).name == "native"
        assert F.use_featurizer(environ={F.FEATURIZER_ENV: "reference"}).name == "reference"
        assert F.use_featurizer("native").name == "native"
    finally:
        F._active = previous


def test_an_unknown_featurizer_name_is_refused_with_the_choices():
    with pytest.raises(InvalidInputError, match="'native' or 'reference'; got 'fast'"):
        F.use_featurizer(environ={F.FEATURIZER_ENV: "fast"})


def test_without_the_extension_the_reference_is_used_with_a_one_line_warning(monkeypatch):
    previous = F._active
    monkeypatch.setitem(sys.modules, "mleditor.core.native_features", None)  # import fails as if not built
    try:
        with pytest.warns(RuntimeWarning, match="native featurizer is not built") as caught:
            assert F.use_featurizer(environ={}).name == "reference"
        assert "\n" not in str(caught[0].message)
        with pytest.raises(MLEditorError, match=r"not built.*C compiler"):
            F.use_featurizer("native")
    finally:
        F._active = previous


@pytest.mark.slow
def test_native_featurizer_survives_a_fuzz_run_in_a_subprocess():
    result = subprocess.run([sys.executable, "-m", "tests.core.native_fuzz", "--seconds", "20", "--check-reference"],
                            cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"exit {result.returncode}: {result.stderr[-2000:]}"
    assert "no crash" in result.stdout


@settings(max_examples=2_000, deadline=None)
@given(st.text(st.sampled_from(["a", " ", "é", "\u0301", "😀", "\x7f", "\x80"]), max_size=80), st.integers(1, 40))
@example("é" * 32, 32)
def test_the_compiled_non_ascii_run_test_finds_what_the_regex_finds(text, n):
    import re

    from mleditor.core._native_featurizer import has_non_ascii_run

    assert has_non_ascii_run(text, n) == (re.search(f"[^\\x00-\\x7f]{{{n}}}", text) is not None)
