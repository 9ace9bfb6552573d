"""Pure ASGI middleware: request ids, access logs and metrics; body limits; a JSON 500 instead of a traceback;
security headers on every HTML page.

Each class wraps `receive`/`send` without buffering anything, so a 10 MB upload is refused after
the first chunk past the limit (or at once, from its Content-Length), never read whole.
"""

from __future__ import annotations

import asyncio
import email.message
import functools
import logging
import time
from collections.abc import Sequence

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mleditor.serve.http_errors import ErrorPages, error_body
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


def route_label(scope: Scope, routes: Sequence[BaseRoute]) -> str:
    """The route template a request was sent to, for metrics and logs; "unmatched" when no route fits its path.

    The router records the route it ran; a request refused before routing (by the body guard) is
    matched here, so a 413 on `POST /predict/v2` is counted under `/predict/{model}`.
    """
    route = scope.get("route")
    if route is None:
        partial = None
        for candidate in routes:
            match, _ = candidate.matches(scope)
            if match is Match.FULL:
                route = candidate
                break
            if match is Match.PARTIAL and partial is None:
                partial = candidate
        route = route or partial
    path: str | None = getattr(route, "path", None)
    return path or "unmatched"


class RequestContextMiddleware:
    """Gives each request an id (echoed in X-Request-ID), counts and times it, and logs one access line.

    An exception nothing else handled becomes `500 {"error": "internal error", "request_id": ...}`;
    the traceback goes to the log, never to the client.
    """

    def __init__(self, app: ASGIApp, metrics: ServeMetrics, routes: Sequence[BaseRoute] = ()) -> None:
        self.app = app
        self.metrics = metrics
        self.routes = routes  # the app's (live) route list, to label requests refused before routing

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
            route = route_label(scope, self.routes)
            seconds = time.perf_counter() - started_at
            self.metrics.requests.labels(route, str(status)).inc()
            self.metrics.request_seconds.labels(route).observe(seconds)
            client = scope.get("client")
            log_access(route, scope["method"], status, seconds * 1000, client[0] if client else "-")
            reset_request_id(token)


@functools.lru_cache(maxsize=64)  # clients send a handful of spellings; parsing one costs ~10 µs
def _is_json_media_type(content_type: str) -> bool:
    """Whether a Content-Type header names JSON (application/json or application/*+json, any parameters)."""
    parsed = email.message.Message()
    parsed["content-type"] = content_type
    subtype = parsed.get_content_subtype()
    return parsed.get_content_maintype() == "application" and (subtype == "json" or subtype.endswith("+json"))


class BodyGuardMiddleware:
    """Refuses request bodies that are too big (413), too slow (408), or not JSON where JSON is expected (415).

    Too slow is either a stall longer than `timeout_s` between two chunks, or the whole body not in
    `deadline_s` after the headers (a client trickling a byte every few seconds never stalls). A
    request that wants HTML (`error_pages.wants_html`: a page's form) gets the refusal as a page.
    """

    def __init__(self, app: ASGIApp, metrics: ServeMetrics, max_bytes: int, timeout_s: float,
                 json_prefixes: tuple[str, ...] = ("/predict/",), deadline_s: float = 60.0,
                 error_pages: ErrorPages | None = None) -> None:
        self.app = app
        self.metrics = metrics
        self.max_bytes = max_bytes
        self.timeout_s = timeout_s
        self.json_prefixes = json_prefixes
        self.deadline_s = deadline_s
        self.error_pages = error_pages

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
        deadline = time.monotonic() + self.deadline_s

        async def guarded_receive() -> Message:
            nonlocal received, body_done
            if body_done:  # after the body, receive() only waits for a disconnect: no limit applies
                return await receive()
            left = deadline - time.monotonic()
            try:  # asyncio.timeout, not wait_for: no task per receive (~10 µs a request saved)
                async with asyncio.timeout(max(0.0, min(self.timeout_s, left))):
                    message = await receive()
            except TimeoutError:
                raise self._too_slow(whole=left < self.timeout_s) from None
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
            if not _is_json_media_type(content_type):
                shown = content_type[:60] or "none"
                return BodyRejected(415, "unsupported_media_type",
                                    f"the body must be JSON (Content-Type: application/json); got {shown}")
        return None

    def _too_slow(self, whole: bool) -> BodyRejected:
        if whole:
            return BodyRejected(408, "body_deadline", f"the request body did not arrive within {self.deadline_s:g} s "
                                "of its headers (body_deadline_s); send it at once")
        return BodyRejected(408, "body_timeout", f"the request body did not arrive within {self.timeout_s:g} s; "
                            "send it without pausing")

    def _too_large(self, length: int | None = None) -> BodyRejected:
        size = f"{length:,} bytes" if length is not None else "more than that"
        return BodyRejected(413, "payload_too_large",
                            f"the request body is {size}; the limit is {self.max_bytes:,} bytes (max_request_bytes)")

    async def _reject(self, exc: BodyRejected, scope: Scope, receive: Receive, send: Send) -> None:
        self.metrics.errors.labels(exc.kind).inc()
        headers = {"Connection": "close"}  # because the rest of the body was never read
        response: Response
        if self.error_pages is not None and self.error_pages.wants_html(scope):
            response = self.error_pages.response(scope, exc.status_code, exc.detail, headers)
        else:
            response = JSONResponse(error_body(exc.detail, request_id_of(scope)), status_code=exc.status_code,
                                    headers=headers)
        await response(scope, receive, send)


CSP_HEADER = "Content-Security-Policy"
# Everything from this origin only; no plugins, no <base>, no framing; forms post back here.
DEFAULT_CSP_DIRECTIVES: dict[str, str] = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data:",
    "object-src": "'none'",
    "base-uri": "'none'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}
# Sent with every HTML answer; X-Frame-Options and frame-ancestors say the same for old and new browsers.
HTML_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
)


def content_security_policy(**directives: str) -> str:
    """The default policy with some directives replaced or added (`script_src=` for `script-src`).

    A page that needs more than the default sends its own header; for the editor's wasm and worker:

        >>> policy = content_security_policy(script_src="'self' 'wasm-unsafe-eval'", worker_src="'self'")
        >>> policy.split("; ")[1:2], policy.split("; ")[-1]
        (["script-src 'self' 'wasm-unsafe-eval'"], "worker-src 'self'")
    """
    merged = {**DEFAULT_CSP_DIRECTIVES, **{name.replace("_", "-"): value for name, value in directives.items()}}
    return "; ".join(f"{name} {value}" for name, value in merged.items())


class SecurityHeadersMiddleware:
    """Adds `X-Content-Type-Options: nosniff` to every answer, and to every HTML answer a Content-Security-Policy,
    `X-Frame-Options: DENY` and `Referrer-Policy: no-referrer`.

    The policy is `csp` (by default `content_security_policy()`) unless the answer already carries a
    Content-Security-Policy header: that is how one route gets its own. A page needing WebAssembly
    and a worker (the editor) answers with
    `HTMLResponse(html, headers={"Content-Security-Policy": content_security_policy(
    script_src="'self' 'wasm-unsafe-eval'", worker_src="'self'")})` (the pages' `page(..., csp=...)`
    does this), and this middleware adds the other headers around it. Headers a route set itself are
    never replaced.
    """

    def __init__(self, app: ASGIApp, csp: str | None = None) -> None:
        self.app = app
        self.csp = (csp or content_security_policy()).encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = self._with_headers(list(message.get("headers", [])))
            await send(message)

        await self.app(scope, receive, send_with_headers)

    def _with_headers(self, headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
        present = {name.lower() for name, _ in headers}
        added = [(b"x-content-type-options", b"nosniff")]
        if any(name.lower() == b"content-type" and value.lower().startswith(b"text/html") for name, value in headers):
            added += [(b"content-security-policy", self.csp), *HTML_HEADERS]
        return headers + [(name, value) for name, value in added if name not in present]
