"""The featurizer follows FEATURES.md: hand-checked facts first, then the golden vectors."""

from __future__ import annotations

import json
import math
import re
import unicodedata
from pathlib import Path

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from mleditor.core import features as F
from mleditor.core import text_structure as S
from mleditor.core.features import DENSE_FEATURES, SPEC_VERSION, featurize
from mleditor.core.native_features import NativeFeaturizer
from tests.golden.regenerate import expand

GOLDEN_DIR = Path(__file__).parents[1] / "golden"


def dense(title: str, body: str) -> dict[str, float]:
    return featurize(title, body).dense_dict()


def test_murmurhash_bucket_matches_the_spec_test_vector():
    assert F.bucket("hello") == 0x248BFA47 % 65536 + 1 == 64072


def test_ngram_ids_are_sorted_unique_and_in_range():
    ids = featurize("How to brew beer", "Brew the beer. Brew it again and brew it well.").ngram_ids
    assert ids.dtype == np.int64
    assert list(ids) == sorted(set(ids.tolist()))
    assert ids.min() >= 1 and ids.max() <= F.N_BUCKETS


def test_title_and_body_ngrams_live_in_separate_namespaces():
    title_only = set(featurize("hops", "").ngram_ids.tolist())
    body_only = set(featurize("", "hops").ngram_ids.tolist())
    assert title_only == {F.bucket("t:hops")}
    assert body_only == {F.bucket("b:hops")}


def test_bigrams_join_adjacent_tokens_with_one_space():
    ids = set(featurize("", "Citra hops").ngram_ids.tolist())
    assert ids == {F.bucket("b:citra"), F.bucket("b:hops"), F.bucket("b:citra hops")}


def test_ngram_ids_are_capped():
    body = " ".join(f"w{i}" for i in range(10_000))
    assert len(featurize("", body).ngram_ids) == F.MAX_NGRAMS


def test_flesch_reading_ease_matches_hand_computation():
    # "The cat sat." : 3 words, 1 sentence, 3 syllables → 206.835 - 1.015*3 - 84.6*1
    values = dense("", "The cat sat.")
    assert values["flesch_reading_ease"] == pytest.approx(206.835 - 1.015 * 3 - 84.6)
    assert values["words_per_sentence"] == 3


@pytest.mark.parametrize(
    ("token", "expected"),
    [("the", 1), ("make", 1), ("table", 2), ("recipe", 2), ("queue", 1), ("42", 1), ("été", 2), ("水", 1)],
)
def test_syllable_heuristic(token, expected):
    assert F.syllables(token) == expected


def test_empty_question_gives_all_zero_features():
    result = featurize("", "   \n\t ")
    assert result.ngram_ids.size == 0
    assert not result.dense.any()


def test_code_is_counted_but_not_read_as_prose():
    values = dense("", "Look:\n\n```\nthis is not prose at all\n```\n\n    nor is this\n\nok `inline` end")
    assert values["code_blocks"] == 2
    assert values["inline_code"] == 1
    assert values["body_words"] == 3  # look, ok, end


def test_links_count_markdown_links_and_bare_urls_once_each():
    values = dense("", "[https://a.org](https://a.org) and [docs](http://b.org) and http://c.org")
    assert values["links"] == 3
    assert values["body_words"] == 3  # and, docs, and


def test_list_items_exclude_thematic_breaks():
    values = dense("", "- a\n- b\n\n* * *\n\n1. c")
    assert values["list_items"] == 3
    assert values["paragraphs"] == 0


def test_title_question_mark_and_question_word():
    values = dense("How do I brew?", "")
    assert values["title_has_question_mark"] == 1
    assert values["title_starts_with_question_word"] == 1
    assert dense("Brewing tips", "")["title_starts_with_question_word"] == 0


def test_fullwidth_question_mark_counts_after_nfkc():
    assert dense("什么？", "")["title_has_question_mark"] == 1


def test_uppercase_ratio_counts_letters_only():
    assert dense("ABC def 123!", "")["title_uppercase_ratio"] == pytest.approx(0.5)


def test_repetition_ratio_over_long_tokens():
    # long tokens: beer x4, wine x2 → 1 - 2/6
    assert dense("", "beer beer beer beer wine wine ale")["repetition_ratio"] == pytest.approx(1 - 2 / 6)


def test_crlf_and_lf_bodies_featurize_identically():
    a = featurize("t", "one.\r\ntwo.\r\n\r\n- three")
    b = featurize("t", "one.\ntwo.\n\n- three")
    assert np.array_equal(a.ngram_ids, b.ngram_ids) and np.array_equal(a.dense, b.dense)


def test_leading_indented_code_keeps_its_indentation():
    assert dense("", "\n    code line\n\ntext")["code_blocks"] == 1


def test_dense_vector_has_the_documented_width_and_order():
    assert len(DENSE_FEATURES) == 24
    spec = (Path(__file__).parents[2] / "FEATURES.md").read_text(encoding="utf-8")
    for index, name in enumerate(DENSE_FEATURES):
        assert f"| {index} | `{name}` |" in spec


def _golden_vectors() -> list[dict]:
    payload = json.loads((GOLDEN_DIR / f"features_v{SPEC_VERSION}.json").read_text(encoding="utf-8"))
    assert payload["spec_version"] == SPEC_VERSION
    return payload["vectors"]


def test_golden_vectors_cover_the_cases_file():
    cases = json.loads((GOLDEN_DIR / "cases.json").read_text(encoding="utf-8"))
    assert [c["name"] for c in cases] == [v["name"] for v in _golden_vectors()]
    assert len(cases) >= 40


@pytest.mark.parametrize("implementation", ["native", "reference"])
@pytest.mark.parametrize("vector", _golden_vectors(), ids=lambda v: v["name"])
def test_golden_vector(vector, implementation):
    case = expand(vector)
    featurizer = NativeFeaturizer() if implementation == "native" else F.ReferenceFeaturizer()
    result = featurizer.featurize_normalized(F.normalize_title(case["title"]), F.normalize(case["body"]))
    assert result.ngram_ids.tolist() == vector["ngram_ids"]
    for name, expected in vector["dense"].items():
        got = result.dense[F.DENSE_INDEX[name]]
        assert math.isclose(got, expected, rel_tol=1e-9, abs_tol=1e-12), name


# -- §10: the linear-time formulations find what the spec's patterns, searched naively, find ---------

SPEC_SENTENCE_BREAK = re.compile(r"[.!?]+(?=[ \t\n]|\Z)|\u3002+|\n")  # §5 as written
_BRACKETS = st.text(alphabet="[]()!a \n", max_size=40)
_MARKS = ["\u0301", "\u0316", "\u0327", "\u0345", "\u05b0", "\u0f71", "\u0f72", "\u0f73", "\u0f74", "\u0f80",
          "\u3099", "\uff9e", "\U0001d165", "\U0001d167"]
_TEXT_WITH_MARKS = st.lists(st.sampled_from(["a", "e", "o", " ", "\u1100", "\u1161", "\u11a8", "\u0b47", "\u0b3e",
                                            "\u304b", "\uff76", "é", "\u0344", *_MARKS]), max_size=40).map("".join)


@settings(max_examples=500, deadline=None)
@given(_BRACKETS)
@example("[[[a](b)")
@example("![[![a](b)](c)")
def test_images_are_found_and_replaced_as_the_spec_pattern_finds_them(text):
    assert S._replace_images(text) == (S.IMAGE.sub(" ", text), len(S.IMAGE.findall(text)))


@settings(max_examples=500, deadline=None)
@given(_BRACKETS)
@example("[a](b[c](d)")
@example("[a)[b](c)")
def test_links_are_found_and_replaced_as_the_spec_pattern_finds_them(text):
    assert S._replace_links(text) == (S.LINK.sub(" ", text), S.LINK.sub(r"\1", text), len(S.LINK.findall(text)))


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet="a .!?\n\t\u3002", max_size=40))
@example("...x. y!")
def test_sentences_split_where_the_spec_pattern_splits(text):
    assert F.SENTENCE_BREAK.split(text) == SPEC_SENTENCE_BREAK.split(text)


@settings(max_examples=500, deadline=None)
@given(_TEXT_WITH_MARKS)
def test_nfkc_in_steps_is_unicode_nfkc(text):
    assert F._nfkc_in_steps(text) == unicodedata.normalize("NFKC", text)


@pytest.mark.parametrize("run", ["\u0301" * 40 + "\u0316" * 40, "\u0f73" * 60, "\U0001d167\U0001d165" * 30])
def test_a_long_run_of_marks_is_normalized_in_steps_to_the_same_nfkc(run):
    text = f"a{run}b"
    assert F._has_long_mark_run(text)
    assert F.nfkc(text) == unicodedata.normalize("NFKC", text)


def test_ordinary_non_ascii_text_is_left_to_unicodedata():
    text = "Le café est très bon à Paris. 北京的咖啡很好喝，真的很好喝，我们明天再去一次吧！🍺🍺🍺" * 3
    assert not F._has_long_mark_run(text)
    assert F.nfkc(text) == unicodedata.normalize("NFKC", text)
