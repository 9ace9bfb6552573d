"""Turn a post's HTML body into Markdown-flavoured text, counting its structure on the way.

The text keeps what a writer sees (paragraphs, fenced code, links, lists, quotes) in the
shapes the featurizer counts, and escapes plain text that would otherwise look like one of
those shapes (see `mleditor.core.markdown_text`). Output rules: blocks are separated by one
blank line; a paragraph's text is one line per `<br>`; `<pre>` becomes a backtick fence;
lists are one block, nested lists indented two spaces per level (quotes and indentation stop
deepening past `MAX_NESTING` levels, so the text stays linear in the HTML's length).

Conversion takes time linear in the length of the HTML (FEATURES.md §10): `_LinearParser` reads
the whole document in one pass, and the converter finds the open element it writes to without
walking its stack.
"""

from __future__ import annotations

import contextlib

from mleditor.core.html_frames import (
    OWNER_TYPES,
    Code,
    Container,
    Frame,
    Heading,
    Item,
    Link,
    ListFrame,
    Marker,
    Owner,
    Pre,
    Skip,
    Table,
)
from mleditor.core.html_parser import LinearParser
from mleditor.core.markdown_text import (
    SPACE_CHARS,
    clean_url,
    code_span,
    collapse_space,
    escape_line,
    fence,
    link_text,
    list_line,
)
from mleditor.core.records import HtmlSignals

MAX_NESTING = 16
"""Blockquotes nested deeper than this are written at this depth; lists indent no further."""

_HEADINGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})
_LISTS = frozenset({"ul", "ol"})
# Block-level tags with no Markdown form of their own: they only separate blocks.
_PLAIN_BLOCKS = frozenset({
    "div", "section", "article", "header", "footer", "main", "aside", "nav", "figure",
    "figcaption", "details", "summary", "dl", "dt", "dd", "center", "address", "form", "fieldset",
})
_VOID = frozenset({"br", "img", "hr", "wbr", "input", "meta", "link", "col", "area", "source", "embed"})


def html_to_markdown(html: str) -> tuple[str, HtmlSignals]:
    """Convert a post body to Markdown-flavoured text; count its code blocks, links, images, list items, paragraphs."""
    converter = _Converter()
    with contextlib.suppress(Exception):  # messy HTML must never stop an ingest; keep what was parsed
        converter.parse(html.replace("\r\n", "\n").replace("\r", "\n"))
    return converter.result()


class _Converter(LinearParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Container("#document")
        self.stack: list[Frame] = [self.root]
        # The innermost owner, container and link, with their places on the stack, and how many
        # open frames could close on each end tag: looked up, not searched for, on each event.
        self._owners: list[tuple[int, Owner]] = [(0, self.root)]
        self._containers: list[Container] = [self.root]
        self._links: list[tuple[int, Link]] = []
        self._open_tags: dict[str, int] = {}
        self._open_headings = 0
        self._open_lists = 0
        self._text: list[str] = []  # data not handled yet: consecutive pieces are handled as one
        self.counts = {"code_blocks": 0, "links": 0, "images": 0, "list_items": 0, "paragraphs": 0}

    def result(self) -> tuple[str, HtmlSignals]:
        if self._text:
            self._handle_text()
        while len(self.stack) > 1:
            self._pop()
        self._flush_paragraph(self.root)
        return "\n\n".join(self.root.blocks), HtmlSignals(**self.counts)

    # -- parser callbacks ---------------------------------------------------------------
    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self._text:
            self._handle_text()
        top = self.stack[-1]
        if isinstance(top, (Pre, Code, Skip)):
            if tag == "br" and not isinstance(top, Skip):
                top.parts.append("\n" if isinstance(top, Pre) else " ")
            return
        if tag == "p":
            self._block_boundary()
            self.counts["paragraphs"] += 1
            self._push(Marker("p"))
        elif tag == "br":
            self._owner().line.break_line()
        elif tag in _PLAIN_BLOCKS:
            self._block_boundary()
        elif tag == "pre":
            self._push(Pre("pre", owner=self._block_boundary()))
        elif tag == "code":
            self._push(Code("code", line=self._owner().line))
        elif tag == "a":
            self._start_link(_attribute(attrs, "href"))
        elif tag == "img":
            self._image(_attribute(attrs, "src"), _attribute(attrs, "alt"))
        elif tag in _LISTS:
            self._start_list(tag, _attribute(attrs, "start"))
        elif tag == "li":
            self._start_item()
        elif tag == "blockquote" or tag in _HEADINGS or tag == "table":
            self._start_block(tag)
        elif tag == "hr":
            owner = self._block_boundary()
            if isinstance(owner, Container):
                owner.blocks.append("* * *")
        elif tag in ("tr", "td", "th"):
            self._start_table_part(tag)
        elif tag in ("script", "style"):
            self._push(Skip(tag))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in _VOID:
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if self._text:
            self._handle_text()
        top = self.stack[-1]
        if isinstance(top, (Pre, Skip)) and tag != top.tag:
            return  # their content is verbatim (or dropped) up to their own end tag
        if tag in _PLAIN_BLOCKS:
            self._block_boundary()
        elif tag == "br":
            self.handle_starttag("br", [])
        elif self._may_close(tag):
            for index in range(len(self.stack) - 1, 0, -1):
                if _closes(tag, self.stack[index]):
                    self._pop_to(self.stack[index])
                    return

    def handle_data(self, data: str) -> None:
        self._text.append(data)

    def _handle_text(self) -> None:
        data = self._text[0] if len(self._text) == 1 else "".join(self._text)
        self._text.clear()
        top = self.stack[-1]
        if isinstance(top, (Pre, Code)):
            top.parts.append(data)
            return
        if isinstance(top, Skip):
            return
        owner = self._owner()
        if isinstance(owner, ListFrame) and owner.implicit and data.strip(SPACE_CHARS):
            self._pop_to(owner)  # text after a stray <li> ends its made-up list
            owner = self._owner()
        owner.line.add_text(data)

    # -- opening elements ---------------------------------------------------------------
    def _block_boundary(self) -> Owner:
        """Close what a block-level start or end closes implicitly; return where the next block goes."""
        while isinstance(self.stack[-1], (Link, Code)):
            self._pop()
        top = self.stack[-1]
        if (isinstance(top, Marker) and top.tag == "p") or (isinstance(top, ListFrame) and top.implicit):
            self._pop()
        owner = self._owner()
        if isinstance(owner, Container):
            self._flush_paragraph(owner)
        else:
            owner.line.pending_space = True
        return owner

    def _start_block(self, tag: str) -> None:
        owner = self._block_boundary()
        if not isinstance(owner, Container):
            self._push(Marker(tag))  # inside a list item or a cell: its text runs inline
        elif tag == "blockquote":
            deep = len(self._containers) > MAX_NESTING  # past it, a quote only separates blocks
            self._push(Marker(tag) if deep else Container(tag))
        elif tag == "table":
            self._push(Table(tag, container=owner))
        else:
            self._push(Heading(tag, container=owner))

    def _start_list(self, tag: str, start: str) -> None:
        owner = self._block_boundary()
        first = int(start) if start.isdigit() else 1
        if isinstance(owner, Container):
            self._push(ListFrame(tag, container=owner, ordered=tag == "ol", next_number=first))
            return
        if isinstance(owner, Item):
            self._flush_item(owner)
            parent = owner.list
        elif isinstance(owner, ListFrame):
            self._flush_list_text(owner)
            parent = owner
        else:
            self._push(Marker(tag))
            return
        nested = ListFrame(tag, container=parent.container, ordered=tag == "ol", depth=parent.depth + 1,
                           next_number=first, parent=parent)
        self._push(nested)

    def _start_item(self) -> None:
        self._close_inline()
        owner = self._owner()
        if isinstance(owner, Item):
            self._pop_to(owner)
            owner = self._owner()
        if isinstance(owner, Container):
            self._flush_paragraph(owner)
            owner = ListFrame("ul", container=owner, implicit=True)
            self._push(owner)
        if isinstance(owner, ListFrame):
            self._flush_list_text(owner)
            self._push(Item("li", list=owner))
        else:
            owner.line.pending_space = True
            self._push(Marker("li"))

    def _start_table_part(self, tag: str) -> None:
        """A row starts a new line of its table; a cell after another on that line adds " | "."""
        self._close_inline()
        owner = self._owner()
        if not isinstance(owner, Table):
            owner.line.pending_space = True
        elif tag == "tr":
            owner.line.new_line()
        elif not owner.line.ends_line():
            owner.line.pending_space = True
            owner.line.add_token("|")
            owner.line.pending_space = True

    def _start_link(self, href: str) -> None:
        open_link = self._open_link()
        if open_link is not None:
            self._pop_to(open_link)  # links do not nest; a new one closes the old, as browsers do
        url = clean_url(href)
        if url:
            line = self._owner().line
            self._push(Link("a", url=url, line=line, start=line.mark()))

    def _image(self, src: str, alt: str) -> None:
        url = clean_url(src)
        alt = link_text(alt)
        if not url:
            self._owner().line.add_text(alt)
            return
        token = f"![{alt}]({url})"
        self.counts["images"] += 1
        link = self._open_link()
        if link is not None:
            link.images.append((alt, token))
        else:
            self._owner().line.add_token(token)

    # -- the stack ----------------------------------------------------------------------
    def _push(self, frame: Frame) -> None:
        index = len(self.stack)
        self.stack.append(frame)
        if isinstance(frame, OWNER_TYPES):
            self._owners.append((index, frame))
        if isinstance(frame, Container):
            self._containers.append(frame)
        elif isinstance(frame, Link):
            self._links.append((index, frame))
        self._count_open(frame, 1)

    def _count_open(self, frame: Frame, change: int) -> None:
        self._open_tags[frame.tag] = self._open_tags.get(frame.tag, 0) + change
        if isinstance(frame, Heading):
            self._open_headings += change
        elif isinstance(frame, ListFrame):
            self._open_lists += change

    def _may_close(self, tag: str) -> bool:
        """Whether an end tag closes an open frame (`_closes`), without walking the stack."""
        if self._open_tags.get(tag):
            return True
        return bool(self._open_headings if tag in _HEADINGS else self._open_lists if tag in _LISTS else 0)

    def _pop_to(self, frame: Frame) -> None:
        while self.stack[-1] is not frame:
            self._pop()
        self._pop()

    def _pop(self) -> None:
        frame = self.stack.pop()
        index = len(self.stack)
        if self._owners[-1][0] == index:
            self._owners.pop()
        if self._containers[-1] is frame:
            self._containers.pop()
        if self._links and self._links[-1][0] == index:
            self._links.pop()
        self._count_open(frame, -1)
        if isinstance(frame, Marker):
            owner = self._owner()
            if isinstance(owner, Container):
                self._flush_paragraph(owner)
            else:
                owner.line.pending_space = True
        elif isinstance(frame, Link):
            self._finish_link(frame)
        elif isinstance(frame, Code):
            code = collapse_space("".join(frame.parts))
            if code:
                frame.line.add_token(code_span(code))
        elif isinstance(frame, Pre):
            self._finish_pre(frame)
        elif isinstance(frame, Container):
            self._flush_paragraph(frame)
            # Each inner block stays a block of its own, so its paragraphs still count as paragraphs.
            self._container().blocks.extend(
                "\n".join(f"> {line}" if line else ">" for line in block.split("\n")) for block in frame.blocks
            )
        elif isinstance(frame, Heading):
            text = frame.line.pop_text()
            if text:
                frame.container.blocks.append(f"{'#' * int(frame.tag[1])} {text}")
        elif isinstance(frame, ListFrame):
            self._flush_list_text(frame)
            if frame.parent is None:
                self._flush_list_block(frame)
        elif isinstance(frame, Item):
            self._flush_item(frame)
        elif isinstance(frame, Table):
            rows = frame.line.pop_lines()
            if rows:
                frame.container.blocks.append("\n".join(escape_line(row) for row in rows))

    def _finish_link(self, link: Link) -> None:
        text = link_text(link.line.take_from(link.start))
        if not text:
            first_alt = link.images[0][0] if link.images else ""
            text = first_alt or link_text(link.url)
        trailing_space = link.line.pending_space
        link.line.pending_space = False
        images = [token for _, token in link.images]
        link.line.add_token(" ".join([*images, f"[{text}]({link.url})"]))
        link.line.pending_space = trailing_space
        self.counts["links"] += 1

    def _finish_pre(self, pre: Pre) -> None:
        code = "".join(pre.parts)
        code = (code[1:] if code.startswith("\n") else code).rstrip("\n")
        owner = pre.owner
        if isinstance(owner, (Item, ListFrame)):
            # A fence cannot sit inside a one-line list item: end the list block here,
            # put the fence after it, and let the list go on in a new block.
            if isinstance(owner, Item):
                self._flush_item(owner)
                owner = owner.list
            else:
                self._flush_list_text(owner)
            self._flush_list_block(owner.root)
            owner = owner.container
        if isinstance(owner, Container):
            owner.blocks.append(fence(code))
            self.counts["code_blocks"] += 1
        else:
            inline = collapse_space(code)
            if inline:
                owner.line.add_token(code_span(inline))

    # -- writing lines ------------------------------------------------------------------
    def _flush_paragraph(self, container: Container) -> None:
        lines = container.line.pop_lines()
        if lines:
            container.blocks.append("\n".join(escape_line(line) for line in lines))

    def _flush_item(self, item: Item) -> None:
        text = item.line.pop_text()
        if not text:
            return
        indent = "  " * min(item.list.depth, MAX_NESTING)
        if item.marker is None:
            item.marker = f"{item.list.next_number}. " if item.list.ordered else "- "
            if item.list.ordered:
                item.list.next_number += 1
            item.list.root.lines.append(list_line(indent + item.marker, text))
            self.counts["list_items"] += 1
        else:  # text after a nested list or a code block: a continuation line
            item.list.root.lines.append(f"{indent}{' ' * len(item.marker)}{escape_line(text)}")

    def _flush_list_text(self, lst: ListFrame) -> None:
        text = lst.line.pop_text()
        if text:
            lst.root.lines.append(f"{'  ' * min(lst.depth, MAX_NESTING)}{escape_line(text)}")

    def _flush_list_block(self, root: ListFrame) -> None:
        if root.lines:
            # A block whose first line is indented four spaces would read as indented code.
            root.lines[0] = root.lines[0].lstrip(" ")
            root.container.blocks.append("\n".join(root.lines))
            root.lines = []

    # -- looking around -----------------------------------------------------------------
    def _owner(self) -> Owner:
        return self._owners[-1][1]

    def _container(self) -> Container:
        return self._containers[-1]

    def _open_link(self) -> Link | None:
        """The innermost open link, unless an owner opened after it (a link does not reach into a list item)."""
        if self._links and self._links[-1][0] > self._owners[-1][0]:
            return self._links[-1][1]
        return None

    def _close_inline(self) -> None:
        while isinstance(self.stack[-1], (Link, Code)):
            self._pop()


def _attribute(attrs: list[tuple[str, str | None]], name: str) -> str:
    """An attribute's value ("" if absent or valueless); the last one wins when it repeats, as in a dict of them."""
    value = next((value for key, value in reversed(attrs) if key == name), None)
    return value or ""


def _closes(tag: str, frame: Frame) -> bool:
    if frame.tag == tag:
        return True
    if tag in _HEADINGS:
        return isinstance(frame, Heading)
    return tag in _LISTS and isinstance(frame, ListFrame)

