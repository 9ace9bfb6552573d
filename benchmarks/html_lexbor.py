"""The HTML → Markdown converter (`html_text`) fed from selectolax's lexbor HTML5 tree, not `html.parser`.

The same converter writes the text: this module only walks the tree lexbor builds and replays it as
start tags, text and end tags. The text is not always `html_to_markdown`'s: an HTML5 tree is the
document after tree building (a stray "</p>" becomes an empty paragraph, text in a table moves
before it, a <pre>'s first newline is dropped before the converter drops one more), where
`html.parser` reports the tags as written, and markup left open at the end is dropped, not kept as
text). On the real dumps only the first occurs: 7 of 7,555 bodies count one paragraph more, their
text the same. benchmarks/bench_html.py measures both converters (BENCHMARKS.md lists the
differences). Not used by `html_to_markdown`: FEATURES.md pins its output, and this is no faster
to matter (the converter, not the tokenizer, is most of the cost).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mleditor.core.html_text import _Converter
from mleditor.core.records import HtmlSignals
from mleditor.errors import MissingExtraError

if TYPE_CHECKING:
    from selectolax.lexbor import LexborNode

_VOID = frozenset({
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr",
})


def html_to_markdown_lexbor(html: str) -> tuple[str, HtmlSignals]:
    """`html_to_markdown` over lexbor's HTML5 tree (needs selectolax); the text may differ on malformed HTML."""
    try:
        from selectolax.lexbor import LexborHTMLParser
    except ImportError:
        raise MissingExtraError("html_fast needs the 'selectolax' package: pip install 'selectolax>=1,<2'") from None

    converter = _Converter()
    body = LexborHTMLParser(html.replace("\r\n", "\n").replace("\r", "\n")).body
    if body is not None:
        _replay(body, converter)
    return converter.result()


def _replay(body: LexborNode, converter: _Converter) -> None:
    """Call the converter's handlers for `body`'s descendants in document order (no recursion: trees run deep)."""
    body_id = body.mem_id
    node = body.child
    while node is not None:
        tag = node.tag or ""
        if tag == "-text":
            converter.handle_data(node.text_content or "")
        elif node.is_element_node:
            converter.handle_starttag(tag, list(node.attributes.items()))
            if tag not in _VOID:
                if node.child is not None:
                    node = node.child
                    continue
                converter.handle_endtag(tag)
        # Nothing to descend into: move on, closing each parent whose last child this was.
        while node.next is None:
            node = node.parent
            if node is None or node.mem_id == body_id:
                return
            converter.handle_endtag(node.tag or "")
        node = node.next
