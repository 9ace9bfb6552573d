"""Body structure per FEATURES.md §3–§4: code blocks, lists, paragraphs, links and the prose left for reading.

The body is Markdown-flavoured text (what a user types, or what ingestion makes of a dump's HTML).
Everything here is a line scan plus a few regular expressions that a JavaScript port can copy verbatim.
Every step is linear in the body's length (FEATURES.md §10): no pattern is retried at every
position of a span it has already scanned.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

ASCII_WHITESPACE = " \t\n\r\f\v"

_FENCE_OPEN = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_INDENTED = re.compile(r"^(?: {4}|\t)")
_BLANK = re.compile(r"^[ \t\f\v]*$")
_THEMATIC_BREAK = re.compile(r"^ {0,3}([-*_])(?:[ \t]*\1){2,}[ \t]*$")
_LIST_ITEM = re.compile(r"^[ \t]*(?:[-*+]|[0-9]{1,9}[.)])[ \t]+[^ \t]")
_HEADING = re.compile(r"^ {0,3}#{1,6}(?:[ \t]|$)")
_BLOCK_MARKERS = re.compile(r"^[ \t]*(?:>[ \t]?)*[ \t]*(?:(?:[-*+]|[0-9]{1,9}[.)])[ \t]+|#{1,6}[ \t]+)?")
# First characters a line needs to open a code block (§3.1, §3.2), or to be blank or carry a block
# marker (§3.3-§3.5): a line starting with anything else skips those patterns.
_MAY_OPEN_CODE = frozenset(" \t`~")
_MAY_MARK_BLOCK = frozenset(" \t\f\v>-*_+#0123456789")

INLINE_CODE = re.compile(r"`[^`\n]+`")
IMAGE = re.compile(r"!\[[^\]\n]*\]\([^)\n]*\)")
LINK = re.compile(r"\[([^\]\n]*)\]\([^)\n]*\)")
# IMAGE and LINK, searched as §10 says: from an opening bracket, each of these always matches and
# consumes what it scanned, so a failed image or link is not rescanned from every "[" inside it
# (LINK.findall takes quadratic time on a line of "["). A match is an IMAGE or LINK match exactly
# when its group "close" took part; any other match spans text where none of them can start.
_IMAGE_SCAN = re.compile(r"!\[[^\]\n]*(?:\](?:\([^)\n]*(?P<close>\))?)?)?")
_LINK_SCAN = re.compile(r"\[(?P<text>[^\]\n]*)(?:\](?:\([^)\n]*(?P<close>\))?)?)?")
BARE_URL = re.compile(r"https?://[^ \t\n<>\"'()\[\]]+")


@dataclass(frozen=True)
class BodyStructure:
    """What the line scan finds in a body."""

    prose: str
    code_blocks: int
    code_chars: int
    inline_code: int
    links: int
    images: int
    list_items: int
    paragraphs: int


def _closes_fence(line: str, fence: str) -> bool:
    stripped = line[: len(line) - len(line.lstrip(" "))]
    if len(stripped) > 3:
        return False
    rest = line[len(stripped):]
    run = len(rest) - len(rest.lstrip(fence[0]))
    return run >= len(fence) and rest[run:].strip(ASCII_WHITESPACE) == ""


def _split_code(lines: list[str]) -> tuple[list[bool], int]:
    """Mark each line as code or not; count fenced and indented code blocks (§3.1, §3.2)."""
    is_code = [False] * len(lines)
    blocks = 0
    i = 0
    while i < len(lines):
        line = lines[i]
        if line[:1] not in _MAY_OPEN_CODE:  # most lines: no regular expression to try
            i += 1
            continue
        opening = _FENCE_OPEN.match(line)
        if opening:
            fence = opening.group(1)
            blocks += 1
            is_code[i] = True
            i += 1
            while i < len(lines):
                is_code[i] = True
                i += 1
                if _closes_fence(lines[i - 1], fence):
                    break
            continue
        starts_indented_block = (
            _INDENTED.match(line) is not None
            and not _BLANK.match(line)
            and (i == 0 or _BLANK.match(lines[i - 1]) is not None)
        )
        if starts_indented_block:
            blocks += 1
            last_code = i
            j = i
            while j < len(lines) and (_INDENTED.match(lines[j]) or _BLANK.match(lines[j])):
                if not _BLANK.match(lines[j]):
                    last_code = j
                j += 1
            for k in range(i, last_code + 1):
                is_code[k] = True
            i = last_code + 1
            continue
        i += 1
    return is_code, blocks


def _scan_text(lines: list[str], is_code: list[bool]) -> tuple[int, int, list[str]]:
    """Count list items and paragraphs (§3.3, §3.4); the text lines without their block markers (§3.5 step 1)."""
    list_items = 0
    paragraphs = 0
    in_run = False
    text_lines: list[str] = []
    for line, code in zip(lines, is_code):
        if code:
            in_run = False
            continue
        if line[:1] not in _MAY_MARK_BLOCK and line:  # plain text: not blank, no marker (most lines)
            paragraphs += not in_run
            in_run = True
            text_lines.append(line)
            continue
        is_break = _THEMATIC_BREAK.match(line) is not None
        text_lines.append("" if is_break else _BLOCK_MARKERS.sub("", line, count=1))
        if _BLANK.match(line):
            in_run = False
            continue
        is_item = not is_break and _LIST_ITEM.match(line) is not None
        list_items += is_item
        if not in_run:
            in_run = True
            if not (is_item or is_break or _HEADING.match(line)):
                paragraphs += 1
    return list_items, paragraphs, text_lines


def _replace_images(text: str) -> tuple[str, int]:
    """§3.5 step 3: each IMAGE match replaced by a space, and their count."""
    if "![" not in text:
        return text, 0
    count = 0

    def replace(match: re.Match[str]) -> str:
        nonlocal count
        if match.group("close") is None:
            return match.group()
        count += 1
        return " "

    return _IMAGE_SCAN.sub(replace, text), count


def _replace_links(text: str) -> tuple[str, str, int]:
    """§3.5 steps 4-5: the text with each LINK match replaced by a space, then by its link text; their count."""
    if "[" not in text:
        return text, text, 0
    without: list[str] = []
    with_texts: list[str] = []
    count = 0
    end = 0
    for match in _LINK_SCAN.finditer(text):
        if match.group("close") is None:
            continue
        count += 1
        without.extend((text[end : match.start()], " "))
        with_texts.extend((text[end : match.start()], match.group("text")))
        end = match.end()
    without.append(text[end:])
    with_texts.append(text[end:])
    return "".join(without), "".join(with_texts), count


def parse_body(body: str) -> BodyStructure:
    """Scan a normalized body (FEATURES.md §2) into its structure and prose."""
    lines = body.split("\n")
    is_code, code_blocks = _split_code(lines)
    code_chars = sum(len(line) for line, code in zip(lines, is_code) if code) if code_blocks else 0
    list_items, paragraphs, text_lines = _scan_text(lines, is_code)
    text, inline_code = INLINE_CODE.subn(" ", "\n".join(text_lines))
    text, images = _replace_images(text)
    without_links, with_link_texts, markdown_links = _replace_links(text)
    bare_urls = len(BARE_URL.findall(without_links))
    prose = BARE_URL.sub(" ", with_link_texts)
    return BodyStructure(
        prose=prose,
        code_blocks=code_blocks,
        code_chars=code_chars,
        inline_code=inline_code,
        links=markdown_links + bare_urls,
        images=images,
        list_items=list_items,
        paragraphs=paragraphs,
    )
