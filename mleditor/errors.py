"""Every error ML Editor shows a user: one line that says what is wrong and what to do, never a traceback.

The hierarchy (each door maps it to its answer in one table: HTTP statuses in
`mleditor/serve/http_errors.py`, exit codes in `mleditor/cli/main.py`):

    MLEditorError                 base class; anything else escaping is a bug
    ├── InvalidInputError         the question, an argument or a setting is not acceptable
    ├── PermissionDeniedError     the caller may not use this model version
    │   └── AuthenticationError   no credentials where they are required, or unknown ones
    ├── RateLimitedError          the caller asked too often; `retry_after_s` says when to retry
    ├── ShuttingDownError         the service is stopping and takes no new work; retry elsewhere
    ├── DataError                 a dump, dataset or store cannot be read or written
    ├── ModelError                a model directory is missing, incomplete or incompatible
    │   └── ModelOutputError      the model produced something that is not a probability
    └── MissingExtraError         an optional dependency is missing; the message names the extra

Core errors carry no transport detail (no HTTP status, no exit code): a door decides how each
class is answered.
"""

from __future__ import annotations


class MLEditorError(Exception):
    """Base class for errors shown to users as one line, never as a traceback."""


class InvalidInputError(MLEditorError):
    """The question or the command's arguments are not acceptable (empty, too long, not UTF-8...)."""


class PermissionDeniedError(MLEditorError):
    """The caller is known but may not call this model version."""


class AuthenticationError(PermissionDeniedError):
    """No credentials where they are required, or credentials that are unknown, revoked or mistyped."""


class RateLimitedError(MLEditorError):
    """The caller's request budget is spent; `retry_after_s` says when the next request will be accepted."""

    def __init__(self, retry_after_s: int, per_minute: int) -> None:
        super().__init__(f"too many requests: the limit is {per_minute} per minute; retry in {retry_after_s} s")
        self.retry_after_s = retry_after_s
        self.per_minute = per_minute


class ShuttingDownError(MLEditorError):
    """The service is shutting down and takes no new work; the client should retry on another instance."""


class DataError(MLEditorError):
    """A data dump, dataset file or store cannot be read or written (missing, malformed, truncated, down)."""


class ModelError(MLEditorError):
    """A model directory is missing, incomplete or incompatible with this featurizer."""


class ModelOutputError(ModelError):
    """The model produced something that is not a probability; the request fails and the incident is logged."""


class UnreachableError(MLEditorError):
    """A service the command needs (a Flower SuperLink, a cluster) could not be started or reached."""


class MissingExtraError(MLEditorError):
    """An optional dependency is not installed; the message names the extra to install."""


def require_extra(module: str, extra: str) -> None:
    """Raise MissingExtraError unless `module` can be imported."""
    import importlib.util

    if importlib.util.find_spec(module) is None:
        raise MissingExtraError(
            f"this command needs the '{module}' package: pip install 'mleditor[{extra}]'"
        )
