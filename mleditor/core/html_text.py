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
import re
from html import unescape
from html.parser import HTMLParser

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


_MARKUP = re.compile(r"<[a-zA-Z/!?]")  # where HTMLParser may see markup; any other "<" is text
_GT = re.compile(">")
_START_TAG = re.compile(r"<[a-zA-Z]")
_TAG_NAME_END = re.compile(r"[\t\n\r\f />\x00]")  # HTMLParser's tag names run up to one of these
_COMMENT_CLOSE = re.compile(r"--\s*>")
_SECTION_CLOSE = re.compile(r"]\s*]\s*>")
_MS_SECTION_CLOSE = re.compile(r"]\s*>")
_SECTION_NAME = re.compile(r"[a-zA-Z][-_.a-zA-Z0-9]*\s*")
_SECTION_NAMES = frozenset({"temp", "cdata", "ignore", "include", "rcdata", "if", "else", "endif"})


class _Finder:
    """The leftmost match of a pattern in a text from a position, for positions that never decrease.

    A search is repeated only past the match it found, so all searches together scan the text once.
    """

    def __init__(self, pattern: re.Pattern[str], text: str) -> None:
        self.pattern = pattern
        self.text = text
        self.searched_from = len(text) + 1
        self.match: re.Match[str] | None = None

    def __call__(self, pos: int) -> re.Match[str] | None:
        if not (self.searched_from <= pos and (self.match is None or pos <= self.match.start())):
            self.searched_from = pos
            self.match = self.pattern.search(self.text, pos)
        return self.match


class _LinearParser(HTMLParser):
    """`HTMLParser` (Python 3.11, `convert_charrefs=True`) fed a whole document and closed, in linear time.

    `parse(html)` gives the events `feed(html); close()` gives (text may come in other pieces), but
    `close()` rescans markup left open from each "<" after it to the end: quadratic on "<a<a<a…",
    "<p <p <p…" or "<!--x>" repeated. Here HTMLParser's own methods parse each construct that is
    complete; one that cannot be is known from where the last ">" (or "-->", "]]>") is, and becomes
    text as `close()` makes it, up to the next ">", else to the next "<". Past the last ">", with no
    NUL or "<![" left, all the rest is text. tests/core/test_html_text.py checks the events match.
    """

    def parse(self, html: str) -> None:
        """Parse all of `html`, calling the handlers as `feed(html)` then `close()` would."""
        self.rawdata = html
        self._last_gt = html.rfind(">")
        # Past this, nothing can close: no ">", and no NUL or "<![" (which parse without one).
        self._text_after = max(self._last_gt, html.rfind("\x00"), html.rfind("<!["))
        self._finders: dict[re.Pattern[str], _Finder] = {}
        i = 0
        while i < len(html):
            if self.cdata_elem:
                match = self.interesting.search(html, i)
                if match is None:
                    break  # close() drops an unclosed <script>'s or <style>'s text
                if i < match.start():
                    self.handle_data(html[i : match.start()])
            else:
                match = _MARKUP.search(html, i)
                if match is None:
                    self.handle_data(unescape(html[i:]))
                    break
                if i < match.start():
                    self.handle_data(unescape(html[i : match.start()]))
            i = self._markup(match.start())

    def _markup(self, i: int) -> int:
        html = self.rawdata
        if i > self._text_after and not self.cdata_elem:
            self.handle_data(unescape(html[i:]))  # nothing can close any more: all text
            return len(html)
        if _START_TAG.match(html, i):
            end = self.parse_starttag(i)
        elif html.startswith("</", i):
            end = self.parse_endtag(i)
        elif html.startswith("<!--", i):
            end = self.parse_comment(i)
        elif html.startswith("<?", i):
            end = self.parse_pi(i)
        else:
            end = self.parse_html_declaration(i)
        return end if end >= 0 else self._unclosed(i)

    def _unclosed(self, i: int) -> int:
        """Markup that never closes, as text: up to the next ">", else to the next "<" (as close() does)."""
        html = self.rawdata
        gt = self._find(_GT, i + 1)
        end = gt.end() if gt is not None else html.find("<", i + 1)
        end = end if end >= 0 else i + 1
        self.handle_data(html[i:end] if self.cdata_elem else unescape(html[i:end]))
        return end

    def _find(self, pattern: re.Pattern[str], pos: int) -> re.Match[str] | None:
        finder = self._finders.get(pattern)
        if finder is None:
            finder = self._finders[pattern] = _Finder(pattern, self.rawdata)
        return finder(pos)

    # -- the tokenizer's methods, answering "cannot close" without scanning to the end ---------
    def parse_starttag(self, i: int) -> int:
        if i > self._last_gt:
            # No ">" left: the tag is text, unless its name ends at a NUL (HTMLParser then emits
            # the "<name" as it is), found by HTMLParser's own scan, which stops there.
            name_end = self._find(_TAG_NAME_END, i + 2)
            at = name_end.start() if name_end is not None else len(self.rawdata)
            if at == len(self.rawdata) or self.rawdata[at] != "\x00" or self.rawdata[at - 1] in "'\"":
                return -1
        return super().parse_starttag(i)

    def parse_endtag(self, i: int) -> int:
        return -1 if i + 1 > self._last_gt else super().parse_endtag(i)

    def parse_pi(self, i: int) -> int:
        return -1 if i + 2 > self._last_gt else super().parse_pi(i)

    def parse_html_declaration(self, i: int) -> int:
        if self.rawdata.startswith(("<!--", "<!["), i) or i + 2 <= self._last_gt:
            return super().parse_html_declaration(i)
        return -1  # a <!doctype …> or a bogus comment with no ">" left

    def parse_comment(self, i: int, report: bool = True) -> int:
        return -1 if self._find(_COMMENT_CLOSE, i + 4) is None else super().parse_comment(i, report)

    def parse_marked_section(self, i: int, report: bool = True) -> int:
        """`_markupbase`'s, its search for the close made linear: "<![name …]]>", or "]>" after if/else/endif."""
        html = self.rawdata
        name = _SECTION_NAME.match(html, i + 3)
        if (i + 3 if name is None else name.end()) == len(html):
            return -1
        if name is None or name.group().strip().lower() not in _SECTION_NAMES:
            raise AssertionError(f"unknown marked section at {html[i : i + 20]!r}")  # as _markupbase raises
        close = _MS_SECTION_CLOSE if name.group().strip().lower() in ("if", "else", "endif") else _SECTION_CLOSE
        match = self._find(close, i + 3)
        if match is None:
            return -1
        if report:
            self.unknown_decl(html[i + 3 : match.start()])
        return match.end()


class _Converter(_LinearParser):
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

