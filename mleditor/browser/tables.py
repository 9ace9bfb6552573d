"""Write `static/unicode14.js`: the Unicode facts featurizer.js needs, as CPython 3.11 (Unicode 14.0) has them.

    python -m mleditor.browser.tables          # rewrite the file
    python -m mleditor.browser.tables --check  # exit 1 if the file is not what this Python writes

A browser's ICU knows a newer Unicode than the reference does, so the port must not ask it what a
letter is, how a character lowercases, or how a character unassigned in 14.0 normalizes
(FEATURES.md §11). Every table here is read from this interpreter, never typed in: the letters and
numbers of `re`'s `[^\\W_]` (`str.isalnum`), categories L* and Lu, `str.lower()` per code point, the
case-ignorable and cased code points of its final-sigma rule, the canonical combining classes, the
code points that decompose to marks only, and the code points unassigned in Unicode 14.0.

Sets are written as ranges, each as two base-36 numbers: the gap from the end of the previous
range and the range's length minus one. The file is deterministic: the same Python writes the
same bytes.
"""

from __future__ import annotations

import re
import sys
import unicodedata
from collections.abc import Callable, Iterable
from pathlib import Path

from mleditor.core.features import code_point_ranges

UNICODE_VERSION = "14.0.0"
TARGET = Path(__file__).parent / "static" / "unicode14.js"
MAX_CODE = 0x110000
_SURROGATES = range(0xD800, 0xE000)
_WORD = re.compile(r"[^\W_]")


def _codes(keep: Callable[[str], bool]) -> list[int]:
    return [code for code in range(MAX_CODE) if code not in _SURROGATES and keep(chr(code))]


def _ranges(codes: Iterable[int]) -> list[tuple[int, int]]:
    return code_point_ranges(codes)


def _b36(number: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    sign, number = ("-", -number) if number < 0 else ("", number)
    out = ""
    while True:
        number, digit = divmod(number, 36)
        out = digits[digit] + out
        if number == 0:
            return sign + out


def encode_ranges(codes: Iterable[int]) -> str:
    """Ranges as "gap,length-1,…" in base 36, each gap counted from the end of the previous range."""
    numbers: list[int] = []
    end = 0
    for low, high in _ranges(codes):
        numbers += [low - end, high - low]
        end = high + 1
    return ",".join(map(_b36, numbers))


def combining_classes() -> str:
    """Runs of code points of one canonical combining class ≠ 0, as "gap,length-1,class,…"."""
    numbers: list[int] = []
    end = 0
    runs: list[list[int]] = []
    for code in _codes(lambda char: unicodedata.combining(char) != 0):
        ccc = unicodedata.combining(chr(code))
        if runs and runs[-1][1] == code - 1 and runs[-1][2] == ccc:
            runs[-1][1] = code
        else:
            runs.append([code, code, ccc])
    for low, high, ccc in runs:
        numbers += [low - end, high - low, ccc]
        end = high + 1
    return ",".join(map(_b36, numbers))


def lowercase_runs() -> tuple[str, dict[int, str]]:
    """`str.lower()` of each code point it changes: arithmetic runs "start gap,count,step,delta,…" of
    one-to-one mappings (from the previous run's start), and the one-to-many mappings apart."""
    runs: list[list[int]] = []  # start, count, step, delta
    special: dict[int, str] = {}
    for code in _codes(lambda char: char.lower() != char):
        lower = chr(code).lower()
        if len(lower) != 1:
            special[code] = lower
            continue
        delta = ord(lower) - code
        if runs and runs[-1][3] == delta:
            start, count, step, _ = runs[-1]
            if (count == 1 and code - start in (1, 2)) or (count > 1 and code == start + count * step):
                runs[-1][1:3] = [count + 1, code - start if count == 1 else step]
                continue
        runs.append([code, 1, 1, delta])
    numbers: list[int] = []
    previous = 0
    for start, count, step, delta in runs:
        numbers += [start - previous, count, step, delta]
        previous = start
    return ",".join(map(_b36, numbers)), special


def _lower_sigma_last(text: str) -> bool:
    return text.lower()[-1] == "\u03c2"


def case_ignorable_and_cased() -> tuple[list[int], list[int]]:
    """The two classes `str.lower()`'s final-sigma rule reads (CPython's `handle_capital_sigma`), probed.

    "a" + c + "Σ" ends in "ς" when c is case-ignorable (skipped, then "a" is cased) or cased;
    c + "Σ" ends in "ς" exactly when c is not case-ignorable and is cased. A case-ignorable
    code point is never tested for being cased, so these two classes are all the rule uses.
    """
    ignorable: list[int] = []
    cased: list[int] = []
    for code in _codes(lambda char: True):
        char = chr(code)
        cased_alone = _lower_sigma_last(char + "\u03a3")
        if cased_alone:
            cased.append(code)
        elif _lower_sigma_last("a" + char + "\u03a3"):
            ignorable.append(code)
    return ignorable, cased


def mark_like_extra() -> list[int]:
    """Code points of combining class 0 whose NFKD is marks only (U+0344, U+0F73, U+FF9E…)."""
    def decomposes_to_marks(char: str) -> bool:
        if unicodedata.combining(char) or not unicodedata.decomposition(char):
            return False
        return all(map(unicodedata.combining, unicodedata.normalize("NFKD", char)))

    return _codes(decomposes_to_marks)


def _check_word_class() -> None:
    """`[^\\W_]` (what the reference tokenizes with) is `str.isalnum()`, code point by code point."""
    for code in range(MAX_CODE):
        char = chr(code)
        if (_WORD.match(char) is not None) != char.isalnum():
            raise AssertionError(f"[^\\W_] and str.isalnum() differ at U+{code:04X}")


def _js_string(text: str) -> str:
    return '"' + "".join(f"\\u{{{ord(char):x}}}" if ord(char) > 0x7E or char in '"\\' else char for char in text) + '"'


def render() -> str:
    """The text of unicode14.js."""
    if unicodedata.unidata_version != UNICODE_VERSION:
        raise SystemExit(f"the tables must be read from Unicode {UNICODE_VERSION} (Python 3.11); this Python has "
                         f"{unicodedata.unidata_version}")
    _check_word_class()
    lower, lower_special = lowercase_runs()
    ignorable, cased = case_ignorable_and_cased()
    special = ", ".join(f"0x{code:x}: {_js_string(text)}" for code, text in sorted(lower_special.items()))
    tables = {
        "ALNUM": encode_ranges(_codes(str.isalnum)),
        "LETTER": encode_ranges(_codes(lambda char: unicodedata.category(char)[0] == "L")),
        "UPPERCASE_LETTER": encode_ranges(_codes(lambda char: unicodedata.category(char) == "Lu")),
        "UNASSIGNED": encode_ranges(_codes(lambda char: unicodedata.category(char) == "Cn")),
        "COMBINING_CLASS": combining_classes(),
        "MARK_LIKE_EXTRA": encode_ranges(mark_like_extra()),
        "LOWERCASE": lower,
        "CASE_IGNORABLE": encode_ranges(ignorable),
        "CASED": encode_ranges(cased),
    }
    python = f"{sys.version_info[0]}.{sys.version_info[1]}"
    header = (f"// Generated by `python -m mleditor.browser.tables` from Python {python}'s unicodedata "
              f"(Unicode {UNICODE_VERSION}): do not edit.")
    lines = [
        header,
        "// Sets are ranges, \"gap,length-1,...\" in base 36 (see mleditor/browser/tables.py); FEATURES.md §11.",
        f'export const UNICODE_VERSION = "{UNICODE_VERSION}";',
        *(f'export const {name} = "{value}";' for name, value in tables.items()),
        f"export const LOWERCASE_SPECIAL = {{ {special} }};",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    text = render()
    if "--check" in args:
        current = TARGET.read_text(encoding="utf-8") if TARGET.exists() else ""
        if current != text:
            print(f"{TARGET} is out of date: run python -m mleditor.browser.tables", file=sys.stderr)
            return 1
        return 0
    TARGET.parent.mkdir(parents=True, exist_ok=True)
    TARGET.write_text(text, encoding="utf-8")
    print(f"wrote {TARGET} ({len(text.encode())} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
