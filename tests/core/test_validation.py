"""Input checks: empty, oversize and HTML input get a clear error or a defined conversion."""

from __future__ import annotations

import pytest

from mleditor.core.validation import InputLimits, looks_like_html, prepare_question
from mleditor.errors import InvalidInputError


def test_empty_title_and_body_are_refused():
    with pytest.raises(InvalidInputError, match="both empty"):
        prepare_question("", "")


def test_whitespace_only_is_refused_like_empty():
    with pytest.raises(InvalidInputError, match="both empty"):
        prepare_question("  \t", "\n\n \r\n")


def test_five_megabyte_body_is_refused_with_the_limit_in_the_message():
    with pytest.raises(InvalidInputError, match=r"body is 5,242,880 characters; the limit is 50,000"):
        prepare_question("t", "x" * 5 * 1024 * 1024)


def test_title_over_the_limit_is_refused():
    with pytest.raises(InvalidInputError, match="title is 301 characters; the limit is 300"):
        prepare_question("x" * 301, "")


def test_limits_are_configurable():
    with pytest.raises(InvalidInputError, match="limit is 10"):
        prepare_question("t", "x" * 11, InputLimits(max_body_chars=10))


def test_html_body_is_converted_to_markdown():
    question = prepare_question("Title", "<p>Hello <a href='https://x.org'>docs</a></p><pre><code>x = 1</code></pre>")
    assert "[docs](https://x.org)" in question.body
    assert "```" in question.body
    assert "<p>" not in question.body


def test_markdown_with_angle_brackets_is_not_mistaken_for_html():
    assert not looks_like_html("if a < b and c > d, use `x<y>` generics")
    assert looks_like_html("<p>text</p>")


def test_emoji_and_other_scripts_are_accepted():
    question = prepare_question("Beer 🍺?", "Пиво и 啤酒 — ¿qué es?")
    assert question.title == "Beer 🍺?"


@pytest.mark.parametrize("invisible", ["\u200b", "\u200d\u200c", "\ufeff", "\u2060 \u00ad", "\t\u3000"])
def test_a_question_of_only_zero_width_or_format_characters_is_refused_as_empty(invisible):
    with pytest.raises(InvalidInputError, match="both empty"):
        prepare_question(invisible, invisible * 3)


def test_one_visible_character_is_enough_even_among_invisible_ones():
    assert prepare_question("\u200bWhy?", "\u200b").title == "\u200bWhy?"
