"""Pure ASGI middleware: request ids, access logs and metrics; body limits; a JSON 500 instead of a traceback.

Both classes wrap `receive`/`send` without buffering anything, so a 10 MB upload is refused after
the first chunk past the limit (or at once, from its Content-Length), never read whole.
"""

from __future__ import annotations

import asyncio
import email.message
import logging
import time

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mleditor.serve.http_errors import error_body
from mleditor.serve.logs import log_access, request_id_from_header, reset_request_id, set_request_id
from mleditor.serve.metrics import ServeMetrics

log = logging.getLogger("mleditor.serve")


class BodyRejected(HTTPException):
    """Raised from `receive` when a streamed body breaks a limit; FastAPI re-raises HTTPExceptions as they are."""

    def __init__(self, status_code: int, kind: str, message: str) -> None:
        super().__init__(status_code, message)
        self.kind = kind


def request_id_of(scope: Scope) -> str:
    """The id RequestContextMiddleware gave this request ("-" outside it)."""
    request_id: str = scope.get("state", {}).get("request_id", "-")
    return request_id


class RequestContextMiddleware:
    """Gives each request an id (echoed in X-Request-ID), counts and times it, and logs one access line.

    An exception nothing else handled becomes `500 {"error": "internal error", "request_id": ...}`;
    the traceback goes to the log, never to the client.
    """

    def __init__(self, app: ASGIApp, metrics: ServeMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_from_header(Headers(scope=scope).get("x-request-id"))
        scope.setdefault("state", {})["request_id"] = request_id
        token = set_request_id(request_id)
        started_at = time.perf_counter()
        status = 500
        response_started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started, status = True, message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            log.exception("unexpected error while answering %s %s", scope["method"], scope["path"])
            self.metrics.errors.labels("internal").inc()
            if response_started:
                raise
            response = JSONResponse(error_body("internal error", request_id), status_code=500)
            await response(scope, receive, send_with_id)
        finally:
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            seconds = time.perf_counter() - started_at
            self.metrics.requests.labels(route, str(status)).inc()
            self.metrics.request_seconds.labels(route).observe(seconds)
            client = scope.get("client")
            log_access(route, scope["method"], status, seconds * 1000, client[0] if client else "-")
            reset_request_id(token)


class BodyGuardMiddleware:
    """Refuses request bodies that are too big (413), too slow (408), or not JSON where JSON is expected (415)."""

    def __init__(self, app: ASGIApp, metrics: ServeMetrics, max_bytes: int, timeout_s: float,
                 json_prefixes: tuple[str, ...] = ("/predict/",)) -> None:
        self.app = app
        self.metrics = metrics
        self.max_bytes = max_bytes
        self.timeout_s = timeout_s
        self.json_prefixes = json_prefixes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        problem = self._check_headers(scope["path"], headers)
        if problem is not None:
            await self._reject(problem, scope, receive, send)
            return
        received = 0
        body_done = False

        async def guarded_receive() -> Message:
            nonlocal received, body_done
            if body_done:  # after the body, receive() only waits for a disconnect: no limit applies
                return await receive()
            try:
                message = await asyncio.wait_for(receive(), self.timeout_s)
            except TimeoutError:
                raise BodyRejected(408, "body_timeout", f"the request body did not arrive within "
                                   f"{self.timeout_s:g} s; send it without pausing") from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                body_done = not message.get("more_body", False)
                if received > self.max_bytes:
                    raise self._too_large()
            return message

        response_started = False

        async def tracking_send(message: Message) -> None:
            nonlocal response_started
            response_started = response_started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, guarded_receive, tracking_send)
        except BodyRejected as exc:  # raised where no handler turned it into a response
            if response_started:
                raise
            await self._reject(exc, scope, receive, send)

    def _check_headers(self, path: str, headers: Headers) -> BodyRejected | None:
        length = headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_bytes):
            if length.isdigit():
                return self._too_large(int(length))
            return BodyRejected(400, "bad_request", f"Content-Length {length[:40]!r} is not a number of bytes")
        if path.startswith(self.json_prefixes):
            content_type = headers.get("content-type", "")
            parsed = email.message.Message()
            parsed["content-type"] = content_type
            subtype = parsed.get_content_subtype()
            if parsed.get_content_maintype() != "application" or not (subtype == "json" or subtype.endswith("+json")):
                shown = content_type[:60] or "none"
                return BodyRejected(415, "unsupported_media_type",
                                    f"the body must be JSON (Content-Type: application/json); got {shown}")
        return None

    def _too_large(self, length: int | None = None) -> BodyRejected:
        size = f"{length:,} bytes" if length is not None else "more than that"
        return BodyRejected(413, "payload_too_large",
                            f"the request body is {size}; the limit is {self.max_bytes:,} bytes (max_request_bytes)")

    async def _reject(self, exc: BodyRejected, scope: Scope, receive: Receive, send: Send) -> None:
        self.metrics.errors.labels(exc.kind).inc()
        # Connection: close, because the rest of the body was never read.
        response = JSONResponse(error_body(exc.detail, request_id_of(scope)), status_code=exc.status_code,
                                headers={"Connection": "close"})
        await response(scope, receive, send)
