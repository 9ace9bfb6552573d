"""Checks at the boundary: a question must have text, stay within the limits, and reach the featurizer as Markdown."""

from __future__ import annotations

import re
from dataclasses import dataclass

from mleditor.core.features import normalize, normalize_title
from mleditor.core.records import Question
from mleditor.errors import InvalidInputError

MAX_TITLE_CHARS = 300
MAX_BODY_CHARS = 50_000

_HTML_TAG = re.compile(
    r"<(?:p|pre|code|a|img|ul|ol|li|br|hr|h[1-6]|blockquote|div|span|strong|em|b|i|table)\b[^<>]*>", re.IGNORECASE
)


@dataclass(frozen=True)
class InputLimits:
    """How long a title and a body may be, in characters after normalization (FEATURES.md §9)."""

    max_title_chars: int = MAX_TITLE_CHARS
    max_body_chars: int = MAX_BODY_CHARS


def looks_like_html(body: str) -> bool:
    """True when the body contains HTML block or inline tags (as pasted from a page or a dump)."""
    return _HTML_TAG.search(body) is not None


def prepare_question(title: str, body: str, limits: InputLimits = InputLimits()) -> Question:
    """Validate a question and convert an HTML body to Markdown-flavoured text; raise InvalidInputError."""
    if not isinstance(title, str) or not isinstance(body, str):
        raise InvalidInputError("title and body must be text")
    if len(body) > 4 * limits.max_body_chars:  # refuse huge input before normalizing it
        raise InvalidInputError(
            f"body is {len(body):,} characters; the limit is {limits.max_body_chars:,}"
        )
    if looks_like_html(body):
        from mleditor.core.html_text import html_to_markdown

        body, _ = html_to_markdown(body)
    clean_title, clean_body = normalize_title(title), normalize(body)
    if not clean_title and not clean_body:
        raise InvalidInputError("nothing to score: the title and the body are both empty")
    if len(clean_title) > limits.max_title_chars:
        raise InvalidInputError(
            f"title is {len(clean_title):,} characters; the limit is {limits.max_title_chars:,}"
        )
    if len(clean_body) > limits.max_body_chars:
        raise InvalidInputError(
            f"body is {len(clean_body):,} characters; the limit is {limits.max_body_chars:,}"
        )
    return Question(title=title, body=body)
