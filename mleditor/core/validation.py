"""The one boundary check: what every door calls before anything else touches a question.

`prepare_question` is our `check_array`: it checks the type and the encoding of the text, refuses
oversize input before converting it, turns an HTML body into the Markdown-flavoured text the
featurizer expects, normalizes both fields once (FEATURES.md §2) and applies the limits. What it
returns is trusted by every later step: nothing checks or normalizes again.

    >>> prepare_question("  Flat beer?\\r\\n", "<p>It tastes <b>flat</b>.</p>").title
    'Flat beer?'
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Literal

from mleditor.core.features import normalize, normalize_title
from mleditor.core.records import Question
from mleditor.core.registry import MODEL_VERSIONS
from mleditor.errors import InvalidInputError

MAX_TITLE_CHARS = 300
MAX_BODY_CHARS = 50_000

BodyFormat = Literal["auto", "markdown"]
_INVISIBLE = frozenset({"Zs", "Zl", "Zp", "Cc", "Cf"})  # space, separators, controls, format (zero-width) characters
BODY_FORMATS: tuple[BodyFormat, ...] = ("auto", "markdown")

_HTML_TAG = re.compile(
    r"<(?:p|pre|code|a|img|ul|ol|li|br|hr|h[1-6]|blockquote|div|span|strong|em|b|i|table)\b[^<>]*>", re.IGNORECASE
)


@dataclass(frozen=True)
class InputLimits:
    """How long a title and a body may be, in characters after normalization (FEATURES.md §9)."""

    max_title_chars: int = MAX_TITLE_CHARS
    max_body_chars: int = MAX_BODY_CHARS


def check_version(version: object, what: str = "model version") -> str:
    """Refuse a model version that does not exist, naming the ones that do (the one message for it, every door)."""
    if version not in MODEL_VERSIONS:
        shown = repr(version)[:40]
        raise InvalidInputError(f"unknown {what} {shown}; choose one of {', '.join(MODEL_VERSIONS)}")
    return str(version)


def check_text(name: str, value: object) -> str:
    """`value` as text that UTF-8 can carry; InvalidInputError naming the field otherwise."""
    if not isinstance(value, str):
        raise InvalidInputError(f"{name} must be text, got {type(value).__name__}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidInputError(
            f"{name} is not valid Unicode (a lone surrogate at character {exc.start}), so not valid UTF-8; "
            "send UTF-8 text"
        ) from None
    return value


def looks_like_html(body: str) -> bool:
    """True when the body contains HTML block or inline tags (as pasted from a page or a dump)."""
    return _HTML_TAG.search(body) is not None


def prepare_question(title: object, body: object, limits: InputLimits = InputLimits(),
                     body_format: BodyFormat = "auto") -> Question:
    """The checked question: normalized title and Markdown-flavoured, normalized body; InvalidInputError if not.

    `body_format="markdown"` says the body is already Markdown-flavoured text (a dump converted by
    ingestion), so it is not searched for HTML: converting it again could mangle code that shows tags.
    """
    title, body = check_text("title", title), check_text("body", body)
    if body_format not in BODY_FORMATS:
        raise InvalidInputError(f"body format {body_format!r} is not valid; expected one of {', '.join(BODY_FORMATS)}")
    if len(body) > 4 * limits.max_body_chars:  # refuse huge input before converting or normalizing it
        raise _too_long("body", len(body), limits.max_body_chars)
    if body_format == "auto" and looks_like_html(body):
        from mleditor.core.html_text import html_to_markdown

        body, _ = html_to_markdown(body)
    clean_title, clean_body = normalize_title(title), normalize(body)
    if not _has_visible_text(clean_title) and not _has_visible_text(clean_body):
        raise InvalidInputError("nothing to score: the title and the body are both empty (or only invisible "
                                "characters: spaces, zero-width or format characters)")
    if len(clean_title) > limits.max_title_chars:
        raise _too_long("title", len(clean_title), limits.max_title_chars)
    if len(clean_body) > limits.max_body_chars:
        raise _too_long("body", len(clean_body), limits.max_body_chars)
    return Question(title=clean_title, body=clean_body)


def _has_visible_text(text: str) -> bool:
    """Whether any character is more than white space, a control, a format or zero-width character (Z*, Cc, Cf)."""
    return any(unicodedata.category(char) not in _INVISIBLE for char in text)  # stops at the first visible one


def _too_long(name: str, length: int, limit: int) -> InvalidInputError:
    return InvalidInputError(f"{name} is {length:,} characters; the limit is {limit:,}")
