"""How errors look over HTTP: one status, metric kind and header set per error, shared by the API and the page."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mleditor.core.pipeline import ModelOutputError, PermissionDeniedError
from mleditor.errors import DataError, InvalidInputError, MLEditorError
from mleditor.serve.batching import BatcherClosedError
from mleditor.serve.ratelimit import RateLimitedError


@dataclass(frozen=True)
class HttpFailure:
    """The answer to an error: HTTP status, the `kind` label of mleditor_errors_total, and extra headers."""

    status: int
    kind: str
    headers: dict[str, str] = field(default_factory=dict)


def http_failure(exc: Exception) -> HttpFailure:
    """Map what the service raises to its answer; anything unexpected is a plain 500."""
    if isinstance(exc, InvalidInputError):
        return HttpFailure(422, "invalid_input")
    if isinstance(exc, PermissionDeniedError):
        if exc.status == 401:
            return HttpFailure(401, "unauthorized", {"WWW-Authenticate": "Bearer"})
        return HttpFailure(exc.status, "forbidden")
    if isinstance(exc, RateLimitedError):
        return HttpFailure(429, "rate_limited", {"Retry-After": str(exc.retry_after_s)})
    if isinstance(exc, ModelOutputError):
        return HttpFailure(500, "model_output")
    if isinstance(exc, BatcherClosedError):
        return HttpFailure(503, "shutting_down", {"Retry-After": "1"})
    if isinstance(exc, DataError):
        return HttpFailure(503, "store_unavailable", {"Retry-After": "5"})
    return HttpFailure(500, "internal")


def error_body(message: str, request_id: str, **extra: Any) -> dict[str, Any]:
    """The JSON every error answer carries."""
    return {"error": message, "request_id": request_id, **extra}


def is_expected(exc: Exception) -> bool:
    """True for errors the service raises on purpose (their message is for the client); False for bugs."""
    return isinstance(exc, (MLEditorError, BatcherClosedError))


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
