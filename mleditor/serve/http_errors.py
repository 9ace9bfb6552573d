"""How errors look over HTTP: one status, metric kind and header set per error, shared by the API and the page."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from starlette.responses import Response
from starlette.types import Scope

from mleditor.errors import (
    AuthenticationError,
    DataError,
    InvalidInputError,
    MLEditorError,
    ModelOutputError,
    PermissionDeniedError,
    RateLimitedError,
    ShuttingDownError,
)


@dataclass(frozen=True)
class HttpFailure:
    """The answer to an error: HTTP status, the `kind` label of mleditor_errors_total, and extra headers."""

    status: int
    kind: str
    headers: dict[str, str] = field(default_factory=dict)


# The one table: the first class `exc` is an instance of decides its answer (order matters: subclasses first).
HTTP_FAILURES: tuple[tuple[type[MLEditorError], HttpFailure], ...] = (
    (InvalidInputError, HttpFailure(422, "invalid_input")),
    (AuthenticationError, HttpFailure(401, "unauthorized", {"WWW-Authenticate": "Bearer"})),
    (PermissionDeniedError, HttpFailure(403, "forbidden")),
    (RateLimitedError, HttpFailure(429, "rate_limited")),
    (ModelOutputError, HttpFailure(500, "model_output")),
    (ShuttingDownError, HttpFailure(503, "shutting_down", {"Retry-After": "1"})),
    (DataError, HttpFailure(503, "store_unavailable", {"Retry-After": "5"})),
)
INTERNAL = HttpFailure(500, "internal")


def http_failure(exc: Exception) -> HttpFailure:
    """Map what the service raises to its answer; anything unexpected is a plain 500."""
    for cls, failure in HTTP_FAILURES:
        if isinstance(exc, cls):
            if isinstance(exc, RateLimitedError):
                return HttpFailure(failure.status, failure.kind, {"Retry-After": str(exc.retry_after_s)})
            return failure
    return INTERNAL


def error_body(message: str, request_id: str, **extra: Any) -> dict[str, Any]:
    """The JSON every error answer carries."""
    return {"error": message, "request_id": request_id, **extra}


def is_expected(exc: Exception) -> bool:
    """True for errors the service raises on purpose (their message is for the client); False for bugs."""
    return isinstance(exc, MLEditorError)


def describe_validation_errors(errors: list[dict[str, Any]] | Any) -> str:
    """One line naming each problem in the request ("title: Field required; body: Input should be a valid string")."""
    parts = []
    for error in list(errors)[:5]:
        if error.get("type") == "json_invalid":
            detail = error.get("ctx", {}).get("error", "")
            return f"the body is not valid JSON ({detail}); send {{\"title\": \"...\", \"body\": \"...\"}}"
        where = ".".join(str(part) for part in error.get("loc", ()) if part != "body") or "body"
        parts.append(f"{where}: {error.get('msg', 'invalid')}")
    return "; ".join(parts) + ' (expected {"title": string, "body": string, "user_id": optional string})'


class ErrorPages(Protocol):
    """The HTML answer to an error, for requests that want a page (a page's form, a browser's `Accept: text/html`).

    The pages implement it (`mleditor.serve.pages.PageErrors`); the body guard and the app's error
    handlers ask it first, so a too-large form gets the form back with the message, not JSON.
    """

    def wants_html(self, scope: Scope) -> bool:
        """True for a page route or a request whose Accept names text/html."""
        ...

    def response(self, scope: Scope, status: int, message: str, headers: Mapping[str, str] | None = None) -> Response:
        """The error as a page, with `status` and `headers`."""
        ...
