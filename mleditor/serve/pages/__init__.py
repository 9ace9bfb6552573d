"""The web page: `/` explains the versions; `/v1`, `/v2`, `/v3` show a form and, after posting it, the result.

Server-rendered, so it works without JavaScript; the form posts to its own URL. The page asks the
same service as the API (`service.predict`, with every hook a composing door added), as an
anonymous caller, and every error is shown in the page (`#error`) with the status that fits, never
as a stack trace — including errors raised before a page route runs (a form too large or too
slow: `PageErrors`). No inline script or style: the pages' Content-Security-Policy
(`SecurityHeadersMiddleware`) allows this origin's files only; a page that needs another policy
passes `csp=` to `page`.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

from fastapi import FastAPI, Form, Request
from fastapi.responses import HTMLResponse, Response
from starlette.datastructures import Headers
from starlette.templating import Jinja2Templates
from starlette.types import Scope

from mleditor.core.registry import MODEL_VERSIONS
from mleditor.core.requests import PredictRequest
from mleditor.core.validation import MAX_BODY_CHARS, MAX_TITLE_CHARS
from mleditor.serve.http_errors import HttpFailure, http_failure, is_expected
from mleditor.serve.middleware import CSP_HEADER, request_id_of
from mleditor.serve.service import PredictionService

PAGES_DIR = Path(__file__).parent
log = logging.getLogger("mleditor.serve.pages")

VERSIONS: dict[str, dict[str, str]] = {
    "v1": {"name": "Rules", "summary": "Fixed rules on readability, sentence length, repetition and the title's "
           "form. The score is how often training questions failing as many rules were well received; one "
           "recommendation per failed rule."},
    "v2": {"name": "Learned score", "summary": "A model trained on Stack Exchange questions (word pairs and 24 "
           "measured features) gives a calibrated probability. A score only, no advice."},
    "v3": {"name": "Score and advice", "summary": "v2's score, plus advice from the model itself: each feature is "
           "moved to what well-received questions typically have, and the edits that raise the score are ranked."},
}


PAGE_PATHS = frozenset({"/", *(f"/{version}" for version in MODEL_VERSIONS)})
STATIC_FILES = {"style.css": "text/css", "page.js": "text/javascript", "icon.svg": "image/svg+xml"}
_COMMON = {"versions": VERSIONS, "max_title": MAX_TITLE_CHARS, "max_body": MAX_BODY_CHARS}


@functools.cache
def _templates() -> Jinja2Templates:
    return Jinja2Templates(directory=str(PAGES_DIR))


def page(request: Request, name: str, status: int = 200, *, csp: str | None = None, **context: Any) -> HTMLResponse:
    """Render the template `name` of this folder; `csp` replaces the default Content-Security-Policy for this page
    (`content_security_policy(worker_src="'self'")`, see `mleditor.serve.middleware`)."""
    response = _templates().TemplateResponse(request, name, {**_COMMON, **context}, status_code=status)
    if csp is not None:
        response.headers[CSP_HEADER] = csp
    return response


class PageErrors:
    """Errors as pages (the `ErrorPages` the body guard and the app's error handlers use).

    A version page's own URL gets its form back, empty, with the message in `#error`; any other
    request that wants HTML gets a short error page in the same style.
    """

    def wants_html(self, scope: Scope) -> bool:
        return scope.get("path") in PAGE_PATHS or "text/html" in Headers(scope=scope).get("accept", "")

    def response(self, scope: Scope, status: int, message: str, headers: Mapping[str, str] | None = None) -> Response:
        request = Request(scope)
        version = scope.get("path", "").lstrip("/")
        if version in VERSIONS:
            answer = page(request, "version.html", status, version=version, title="", body="", error=message,
                          request_id=request_id_of(scope))
        else:
            answer = page(request, "error.html", status, error=message, code=status, request_id=request_id_of(scope))
        answer.headers.update(headers or {})
        return answer


def add_page_routes(app: FastAPI, service: PredictionService) -> None:
    """Mount the index, the three version pages, the stylesheet and the script on `app` (not in the OpenAPI schema)."""

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def index(request: Request) -> HTMLResponse:
        return page(request, "index.html")

    for name, media_type in STATIC_FILES.items():
        _add_static_route(app, name, media_type)

    for version in MODEL_VERSIONS:
        _add_version_routes(app, service, version)


def _add_static_route(app: FastAPI, name: str, media_type: str) -> None:
    content = (PAGES_DIR / name).read_bytes()

    async def static_file() -> Response:
        return Response(content, media_type=media_type, headers={"Cache-Control": "public, max-age=3600"})

    app.add_api_route(f"/static/{name}", static_file, methods=["GET"], include_in_schema=False, name=name)


def _add_version_routes(app: FastAPI, service: PredictionService, version: str) -> None:
    async def show_form(request: Request) -> HTMLResponse:
        return page(request, "version.html", version=version, title="", body="")

    async def score_form(request: Request, title: Annotated[str, Form()] = "",
                         body: Annotated[str, Form()] = "") -> HTMLResponse:
        request_id = request.state.request_id
        context: dict[str, Any] = {"version": version, "title": title, "body": body, "request_id": request_id}
        client = request.client.host if request.client else "-"
        try:
            result = await service.predict(PredictRequest(title, body, version=version, request_id=request_id,
                                                          client=client))
        except Exception as exc:  # noqa: BLE001 - every failure becomes a readable page
            failure, message = _describe_failure(exc, request_id)
            service.metrics.errors.labels(failure.kind).inc()
            response = page(request, "version.html", failure.status, error=message, **context)
            response.headers.update(failure.headers)
            return response
        return page(request, "version.html", result=result.to_dict(), **context)

    app.add_api_route(f"/{version}", show_form, methods=["GET"], response_class=HTMLResponse, include_in_schema=False)
    app.add_api_route(f"/{version}", score_form, methods=["POST"], response_class=HTMLResponse,
                      include_in_schema=False)


def _describe_failure(exc: Exception, request_id: str) -> tuple[HttpFailure, str]:
    """The answer for whatever the service raised, and the sentence shown in #error."""
    failure = http_failure(exc)
    if not is_expected(exc):
        log.exception("unexpected error on the page")
        return failure, f"Something went wrong on our side (request {request_id}); it has been logged."
    if failure.kind == "forbidden" or failure.kind == "unauthorized":
        return HttpFailure(403, failure.kind), ("This page needs anonymous access, which this server has switched "
                                                f"off for this version; use the JSON API with an API key ({exc}).")
    if failure.kind == "model_output":
        return failure, f"The model gave an invalid score, so no score is shown: {exc}."
    return failure, str(exc)
