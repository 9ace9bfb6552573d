"""Structured logs: one JSON object per line, each carrying the id of the request it belongs to.

The request id comes from the client's `X-Request-ID` when it is a safe token, else a fresh uuid4;
it lives in a context variable, so every log line written while serving the request (including
the core's incident log and lines from worker threads) carries it without being passed around.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
import uuid
from datetime import UTC, datetime
from typing import Any, TextIO

REQUEST_ID_HEADER = "X-Request-ID"
_SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
_current_request_id: contextvars.ContextVar[str] = contextvars.ContextVar("mleditor_request_id", default="-")
# Attributes every LogRecord has; anything else was passed with `extra=` and goes into the JSON.
_STANDARD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}

access_log = logging.getLogger("mleditor.access")


def request_id_from_header(value: str | None) -> str:
    """The client's request id when it is ≤ 64 characters of [A-Za-z0-9._-], else a new uuid4 hex."""
    if value and _SAFE_REQUEST_ID.fullmatch(value):
        return value
    return uuid.uuid4().hex


def set_request_id(request_id: str) -> contextvars.Token[str]:
    """Make `request_id` the id every log line carries until reset."""
    return _current_request_id.set(request_id)


def reset_request_id(token: contextvars.Token[str]) -> None:
    """Undo set_request_id."""
    _current_request_id.reset(token)


def current_request_id() -> str:
    """The id of the request being served ("-" outside a request)."""
    return _current_request_id.get()


class JsonFormatter(logging.Formatter):
    """time, level, logger, message, request_id, any `extra=` fields, and the traceback when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None) or current_request_id(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRS and key not in entry and not key.startswith("color_"):
                entry[key] = value
        if record.exc_info:
            entry["traceback"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def configure_logging(level: str = "info", stream: TextIO | None = None) -> None:
    """Send every log record (ours, uvicorn's) to `stream` (stderr) as JSON lines, at `level` and above."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h.formatter, JsonFormatter)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    logging.getLogger("uvicorn.access").disabled = True  # our access line replaces uvicorn's


def log_access(route: str, method: str, status: int, duration_ms: float, client: str) -> None:
    """The one access line per request."""
    access_log.info("%s %s %d", method, route, status,
                    extra={"route": route, "method": method, "status": status,
                           "duration_ms": round(duration_ms, 3), "client": client})
