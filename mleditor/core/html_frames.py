"""The open elements of the HTML → Markdown converter (`mleditor.core.html_text`).

Each frame on the converter's stack is one open HTML element. An *owner* (the document, a
blockquote, a list, a list item, a heading, a table) holds the Markdown being written for it;
the others (<pre>, <code>, <a>, separators, <script>/<style>) collect or drop their content
until their end tag.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mleditor.core.markdown_text import InlineBuffer


@dataclass(eq=False)
class Frame:
    """An open element, named by its tag."""

    tag: str


@dataclass(eq=False)
class Container(Frame):
    """The document or a blockquote: a sequence of blocks plus the paragraph being written."""

    blocks: list[str] = field(default_factory=list)
    line: InlineBuffer = field(default_factory=lambda: InlineBuffer(multiline=True))


@dataclass(eq=False)
class ListFrame(Frame):
    """A <ul>/<ol>: its items' lines go to the outermost list's block."""

    container: Container
    ordered: bool = False
    depth: int = 0
    next_number: int = 1
    implicit: bool = False  # opened by an <li> with no <ul>/<ol> around it
    parent: ListFrame | None = None
    lines: list[str] = field(default_factory=list)  # used on the outermost list only
    line: InlineBuffer = field(default_factory=lambda: InlineBuffer(multiline=False))
    root: ListFrame = field(init=False, repr=False)
    """The outermost list, whose block this list's lines go to (kept, not searched for: lists nest deep)."""

    def __post_init__(self) -> None:
        self.root = self if self.parent is None else self.parent.root


@dataclass(eq=False)
class Item(Frame):
    """An <li>: its text, written as one list line."""

    list: ListFrame
    marker: str | None = None
    line: InlineBuffer = field(default_factory=lambda: InlineBuffer(multiline=False))


@dataclass(eq=False)
class Heading(Frame):
    """An <h1>-<h6>: its text, written as one heading line."""

    container: Container
    line: InlineBuffer = field(default_factory=lambda: InlineBuffer(multiline=False))


@dataclass(eq=False)
class Table(Frame):
    """Rows are the lines of its (one-line-per-row) buffer."""

    container: Container
    line: InlineBuffer = field(default_factory=lambda: InlineBuffer(multiline=False))


Owner = Container | ListFrame | Item | Heading | Table
OWNER_TYPES = (Container, ListFrame, Item, Heading, Table)


@dataclass(eq=False)
class Pre(Frame):
    """A <pre>: its text, kept verbatim for a fence."""

    owner: Owner
    parts: list[str] = field(default_factory=list)


@dataclass(eq=False)
class Code(Frame):
    """An inline <code>: its text, for a code span on `line`."""

    line: InlineBuffer
    parts: list[str] = field(default_factory=list)


@dataclass(eq=False)
class Link(Frame):
    """An <a>: its text runs from `start` in `line`; images inside it go before the link."""

    url: str
    line: InlineBuffer
    start: int
    images: list[tuple[str, str]] = field(default_factory=list)  # (alt, Markdown image)


@dataclass(eq=False)
class Marker(Frame):
    """A block element that only separates text: <p>, or a block nested where it cannot be a block."""


@dataclass(eq=False)
class Skip(Frame):
    """<script>/<style>: content dropped."""
