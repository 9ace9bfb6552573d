"""The command line's answer to each error class: its exit code, in one table (README's exit-code table)."""

from __future__ import annotations

from mleditor.errors import (
    DataError,
    InvalidInputError,
    MissingExtraError,
    MLEditorError,
    ModelError,
    PermissionDeniedError,
    RateLimitedError,
    UnreachableError,
)

SOME_LINES_FAILED = 1  # `predict --jsonl`: some lines could not be scored, the others were
USAGE = 2  # a user's mistake: bad input, usage or a refused permission
INTERNAL = 70  # a bug: one line, MLEDITOR_DEBUG=1 shows the traceback

EXIT_CODES: tuple[tuple[type[MLEditorError], int], ...] = (
    (InvalidInputError, USAGE),
    (PermissionDeniedError, USAGE),
    (RateLimitedError, USAGE),
    (DataError, 3),
    (ModelError, 4),
    (MissingExtraError, 5),
    (UnreachableError, 6),
)


def exit_code_for(exc: MLEditorError) -> int:
    """The exit code of the first class in EXIT_CODES that `exc` is an instance of (INTERNAL for any other)."""
    return next((code for cls, code in EXIT_CODES if isinstance(exc, cls)), INTERNAL)
