"""Body structure per FEATURES.md §3–§4: code blocks, lists, paragraphs, links and the prose left for reading.

The body is Markdown-flavoured text (what a user types, or what ingestion makes of a dump's HTML).
Everything here is a line scan plus a few regular expressions that a JavaScript port can copy verbatim.
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

INLINE_CODE = re.compile(r"`[^`\n]+`")
IMAGE = re.compile(r"!\[[^\]\n]*\]\([^)\n]*\)")
LINK = re.compile(r"\[([^\]\n]*)\]\([^)\n]*\)")
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


def _count_blocks(lines: list[str], is_code: list[bool]) -> tuple[int, int]:
    """Count list items and paragraphs among the text lines (§3.3, §3.4)."""
    list_items = 0
    paragraphs = 0
    in_run = False
    for line, code in zip(lines, is_code):
        if code or _BLANK.match(line):
            in_run = False
            continue
        is_break = _THEMATIC_BREAK.match(line) is not None
        is_item = not is_break and _LIST_ITEM.match(line) is not None
        if is_item:
            list_items += 1
        if not in_run:
            in_run = True
            if not (is_item or is_break or _HEADING.match(line)):
                paragraphs += 1
    return list_items, paragraphs


def parse_body(body: str) -> BodyStructure:
    """Scan a normalized body (FEATURES.md §2) into its structure and prose."""
    lines = body.split("\n")
    is_code, code_blocks = _split_code(lines)
    code_chars = sum(len(line) for line, code in zip(lines, is_code) if code)
    list_items, paragraphs = _count_blocks(lines, is_code)

    text_lines = [
        "" if _THEMATIC_BREAK.match(line) else _BLOCK_MARKERS.sub("", line, count=1)
        for line, code in zip(lines, is_code)
        if not code
    ]
    text = "\n".join(text_lines)
    inline_code = len(INLINE_CODE.findall(text))
    text = INLINE_CODE.sub(" ", text)
    images = len(IMAGE.findall(text))
    text = IMAGE.sub(" ", text)
    markdown_links = len(LINK.findall(text))
    bare_urls = len(BARE_URL.findall(LINK.sub(" ", text)))
    prose = BARE_URL.sub(" ", LINK.sub(r"\1", text))
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
