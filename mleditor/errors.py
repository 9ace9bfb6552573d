"""Errors that reach a user: each carries a one-line message that says what to do, and an exit code."""

from __future__ import annotations


class MLEditorError(Exception):
    """Base class for errors shown to users as one line, never as a traceback."""

    exit_code = 1


class InvalidInputError(MLEditorError):
    """The question or the command's arguments are not acceptable (empty, too long, not UTF-8...)."""

    exit_code = 2


class DataError(MLEditorError):
    """A data dump or dataset file cannot be read (missing, malformed, truncated)."""

    exit_code = 3


class ModelError(MLEditorError):
    """A model directory is missing, incomplete or incompatible with this featurizer."""

    exit_code = 4


class MissingExtraError(MLEditorError):
    """An optional dependency is not installed; the message names the extra to install."""

    exit_code = 5


def require_extra(module: str, extra: str) -> None:
    """Raise MissingExtraError unless `module` can be imported."""
    import importlib.util

    if importlib.util.find_spec(module) is None:
        raise MissingExtraError(
            f"this command needs the '{module}' package: pip install 'mleditor[{extra}]'"
        )
