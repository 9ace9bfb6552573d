"""Write plain text as Markdown that the featurizer reads as plain text.

The pieces the HTML converter (`mleditor.core.html_text`) builds its output from: an inline
buffer that collapses whitespace and keeps markup tokens verbatim, and the escaping and
formatting helpers that keep plain text from reading as a list item, fence, heading, break,
link or code span (FEATURES.md §3), matched after NFKC as the featurizer normalizes so.
"""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import quote

from mleditor.core.features import nfkc

SPACE_CHARS = " \t\n\r\f"
"""The characters HTML treats as white space."""

_HTML_SPACE = re.compile(r"[ \t\n\r\f]+")
_BACKTICK_RUN = re.compile(r"`+")
_URL_UNSAFE = re.compile(r"[\s)]")
# Line starts the featurizer (FEATURES.md §3) would read as structure: a list item, a code
# fence, a heading or a thematic break. Matched after NFKC, as the featurizer normalizes so.
_LINE_SIGNAL = re.compile(
    r"(?:[-*+]|[0-9]{1,9}[.)])(?:[ \t]|$)|`{3,}|~{3,}|#{1,6}(?:[ \t]|$)|([-*_])(?:[ \t]*\1){2,}[ \t]*$"
)
_ORDERED_MARKER = re.compile(r"[0-9]{1,9}[.)]")
_THEMATIC_BREAK = re.compile(r" {0,3}([-*_])(?:[ \t]*\1){2,}[ \t]*$")  # FEATURES.md §3.3
_OPEN_BRACKETS = "[\uFE47\uFF3B"  # every character NFKC turns into "[" …
_CLOSE_BRACKETS = "]\uFE48\uFF3D"  # … or into "]"
_CLOSE_BRACKET_BEFORE = re.compile(f"[{re.escape(_CLOSE_BRACKETS)}](?=.)", re.DOTALL)
_BRACKETS_TO_PARENTHESES = str.maketrans(dict.fromkeys(_OPEN_BRACKETS, "(") | dict.fromkeys(_CLOSE_BRACKETS, ")"))


class InlineBuffer:
    """Inline content being collected: whitespace collapsed, markup tokens kept verbatim."""

    def __init__(self, multiline: bool) -> None:
        self.multiline = multiline
        self.parts: list[tuple[str, bool]] = []  # (piece, is plain text that may need escaping)
        self.pending_space = False

    def add_text(self, data: str) -> None:
        """Add plain text, its runs of white space collapsed to one space."""
        if not data:
            return
        if data[0] in SPACE_CHARS:
            self.pending_space = True
        words = collapse_space(data)
        if words:
            self._put(words, True)
            self.pending_space = data[-1] in SPACE_CHARS

    def add_token(self, token: str) -> None:
        """Add a piece of Markdown markup, kept as it is."""
        self._put(token, False)

    def break_line(self) -> None:
        """A <br>: a new line where lines are kept, else a space."""
        if self.multiline:
            self.new_line()
        else:
            self.pending_space = True

    def new_line(self) -> None:
        """Start a new line, dropping a pending space."""
        self.parts.append(("\n", False))
        self.pending_space = False

    def ends_line(self) -> bool:
        """Whether nothing has been written on the current line yet."""
        return not self.parts or self.parts[-1][0] == "\n"

    def mark(self) -> int:
        """Where an element's content starts (a pending space stays outside it)."""
        if self.pending_space and self.parts:
            self.parts.append((" ", True))
        self.pending_space = False
        return len(self.parts)

    def take_from(self, start: int) -> str:
        """Remove and return, unescaped, what was written since `mark()` returned `start`."""
        taken = "".join(piece for piece, _ in self.parts[start:])
        del self.parts[start:]
        return taken

    def pop_lines(self) -> list[str]:
        """The collected content as stripped, non-empty lines; the buffer is emptied."""
        if len(self.parts) <= 1 and (not self.parts or self.parts[0][1]):  # nothing, or one piece of text
            text = _break_link_syntax(self.parts[0][0]).strip() if self.parts else ""
            self.parts = []
            self.pending_space = False
            return [text] if text else []
        out: list[str] = []
        code: list[bool] = []  # which pieces are code spans, which the featurizer drops first
        for piece, is_text in self.parts:
            previous = _nfkc_char(out[-1][-1:]) if out else ""
            if is_text:
                piece = _break_link_syntax(piece)
                if previous == "]" and _nfkc_char(piece[:1]).startswith("("):
                    piece = "\\" + piece
            elif piece.startswith(("[", "!")):
                _neutralize_open_bracket(out, code)
                if piece.startswith("[") and previous.endswith("!"):
                    piece = " " + piece  # "!" + "[text](url)" would read as an image
            out.append(piece)
            code.append(not is_text and piece.startswith("`"))
        self.parts = []
        self.pending_space = False
        lines = (line.strip() for line in "".join(out).split("\n"))
        return [line for line in lines if line]

    def pop_text(self) -> str:
        """The collected content as one line, its lines joined by spaces; the buffer is emptied."""
        return " ".join(self.pop_lines())

    def _put(self, piece: str, is_text: bool) -> None:
        if self.pending_space and self.parts and not self.parts[-1][0].endswith((" ", "\n")):
            self.parts.append((" ", True))
        self.pending_space = False
        self.parts.append((piece, is_text))


def collapse_space(text: str) -> str:
    """Collapse each run of HTML white space to one space and strip spaces at both ends."""
    if "  " in text or "\n" in text or "\t" in text or "\r" in text or "\f" in text:
        text = _HTML_SPACE.sub(" ", text)
    return text.strip(" ")  # with no run longer than one space, there is nothing to collapse


def escape_line(line: str) -> str:
    """Backslash-escape a plain-text line start that would read as a list item, fence, heading or break."""
    if _LINE_SIGNAL.match(nfkc(line)) is None:
        return line
    ordered = _ORDERED_MARKER.match(line)
    if ordered is not None:  # "1. x" -> "1\. x", the usual Markdown escape
        end = ordered.end() - 1
        return f"{line[:end]}\\{line[end:]}"
    return "\\" + line


def list_line(marker: str, text: str) -> str:
    """A list item's line: its indentation and marker, then its text, escaped if the line would read as a break."""
    line = marker + text
    if _THEMATIC_BREAK.match(nfkc(line)) is None:  # "- " + "--" is "- --", a thematic break
        return line
    return f"{marker}\\{text}"


def clean_url(url: str) -> str:
    """Percent-encode what would end a Markdown link target early (whitespace and ")")."""
    return _URL_UNSAFE.sub(lambda match: quote(match.group(0), safe=""), url.strip())


def link_text(text: str) -> str:
    """Text fit for a link's or image's brackets: white space collapsed, brackets (any width) made parentheses."""
    return collapse_space(text).translate(_BRACKETS_TO_PARENTHESES)


def code_span(code: str) -> str:
    """An inline code span, delimited by one backtick more than the longest run inside it."""
    code = _break_link_syntax(code)  # the featurizer drops code spans, but a stray backtick could shift them
    longest = max((len(run) for run in _BACKTICK_RUN.findall(code)), default=0)
    if longest == 0:
        return f"`{code}`"
    ticks = "`" * (longest + 1)
    return f"{ticks} {code} {ticks}"


def fence(code: str) -> str:
    """A fenced code block, its fence at least three backticks and longer than any run in the code."""
    longest = max((len(run) for run in _BACKTICK_RUN.findall(code)), default=0)
    ticks = "`" * max(3, longest + 1)
    return f"{ticks}\n{code}\n{ticks}" if code else f"{ticks}\n{ticks}"


def _nfkc_char(char: str) -> str:
    """NFKC of one character (or none): nothing for it to put in order, so no need for `nfkc`'s care."""
    return char if char.isascii() else unicodedata.normalize("NFKC", char)


def _break_link_syntax(text: str) -> str:
    """Put a backslash inside every "](" (in any width that NFKC folds to it): plain text is no link."""
    if text.isascii():
        return text.replace("](", "]\\(")
    return _CLOSE_BRACKET_BEFORE.sub(_escape_parenthesis_after, text)


def _escape_parenthesis_after(bracket: re.Match[str]) -> str:
    following = bracket.string[bracket.end() : bracket.end() + 1]
    return bracket.group() + "\\" if _nfkc_char(following).startswith("(") else bracket.group()


def _neutralize_open_bracket(pieces: list[str], code: list[bool]) -> None:
    """Turn a "[" left open on the current line into "\\(" so it cannot pair with the next link's "](".

    Code spans are passed over: the featurizer drops them before it looks for links (FEATURES.md §3.5).
    """
    for index in range(len(pieces) - 1, -1, -1):
        if code[index]:
            continue
        piece = pieces[index]
        cut = max(piece.rfind("\n"), *(piece.rfind(bracket) for bracket in _CLOSE_BRACKETS))
        tail = piece[cut + 1 :]
        for bracket in _OPEN_BRACKETS:
            tail = tail.replace(bracket, "\\(")  # renders as "(" and cannot form "](" either
        pieces[index] = piece[: cut + 1] + tail
        if cut >= 0:
            return
