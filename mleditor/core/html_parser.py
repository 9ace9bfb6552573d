"""`HTMLParser` in linear time: the events of `feed(html); close()` for a whole document, without `close()`'s
rescan of unclosed markup (quadratic on "<a<a<a…"). The HTML converter (`html_text`) is built on it."""

from __future__ import annotations

import re
from html import unescape
from html.parser import HTMLParser

_GT = re.compile(">")
_START_TAG = re.compile(r"<[a-zA-Z]")
_TAG_NAME_END = re.compile(r"[\t\n\r\f />\x00]")  # HTMLParser's tag names run up to one of these
_COMMENT_CLOSE = re.compile(r"--\s*>")
_SECTION_CLOSE = re.compile(r"]\s*]\s*>")
_MS_SECTION_CLOSE = re.compile(r"]\s*>")
_SECTION_NAME = re.compile(r"[a-zA-Z][-_.a-zA-Z0-9]*\s*")
_SECTION_NAMES = frozenset({"temp", "cdata", "ignore", "include", "rcdata", "if", "else", "endif"})
# Text up to where HTMLParser may see markup ("<" then a letter, "/", "!" or "?"; any other "<" is
# text), then a start tag with no attributes or an end tag if one is there: most tags are these, and
# are read here in one match, not by HTMLParser's general (slower) methods.
_TEXT_THEN_TAG = re.compile(r"([^<]*(?:<(?![a-zA-Z/!?])[^<]*)*)(?:<(/?)([a-zA-Z][a-zA-Z0-9]*)>)?")
_CDATA_TAGS = frozenset({"script", "style"})  # they switch HTMLParser to raw text: its own method handles them


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


class LinearParser(HTMLParser):
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
                i = self._markup(match.start())
                continue
            run = _TEXT_THEN_TAG.match(html, i)
            assert run is not None  # every part of it may match nothing
            text_end = run.end(1)
            if i < text_end:
                self.handle_data(unescape(html[i:text_end]))
            if text_end == len(html):
                break
            tag = run.group(3)
            if tag is None or (not run.group(2) and tag.lower() in _CDATA_TAGS):
                i = self._markup(text_end)
            elif run.group(2):
                self.handle_endtag(tag.lower())
                i = run.end()
            else:
                self.lasttag = tag = tag.lower()
                self.handle_starttag(tag, [])
                i = run.end()

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
