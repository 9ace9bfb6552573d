"""The web page: `/` explains the versions; `/v1`, `/v2`, `/v3` show a form and, after posting it, the result.

Server-rendered, so it works without JavaScript; the form posts to its own URL. The page asks the
same service as the API (`service.predict`, with every hook a composing door added), as an
anonymous caller, and every error is shown in the page (`#error`) with the status that fits, never
as a stack trace.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated, Any, Protocol

from fastapi import FastAPI, Form, Request
from fastapi.responses import HTMLResponse, Response
from starlette.templating import Jinja2Templates

from mleditor.core.registry import MODEL_VERSIONS
from mleditor.core.requests import PredictRequest
from mleditor.core.validation import MAX_BODY_CHARS, MAX_TITLE_CHARS
from mleditor.serve.http_errors import HttpFailure, http_failure, is_expected
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


def add_page_routes(app: FastAPI, service: PredictionService) -> None:
    """Mount the index, the three version pages and the stylesheet on `app` (not in the OpenAPI schema)."""
    templates = Jinja2Templates(directory=str(PAGES_DIR))
    stylesheet = (PAGES_DIR / "style.css").read_bytes()
    common = {"versions": VERSIONS, "max_title": MAX_TITLE_CHARS, "max_body": MAX_BODY_CHARS}

    def page(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
        return templates.TemplateResponse(request, name, {**common, **context}, status_code=status)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def index(request: Request) -> HTMLResponse:
        return page(request, "index.html")

    @app.get("/static/style.css", include_in_schema=False)
    async def style() -> Response:
        return Response(stylesheet, media_type="text/css", headers={"Cache-Control": "public, max-age=3600"})

    for version in MODEL_VERSIONS:
        _add_version_routes(app, service, version, page)


class _RenderPage(Protocol):
    """Render a template of this folder as the answer."""

    def __call__(self, request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse: ...


def _add_version_routes(app: FastAPI, service: PredictionService, version: str, page: _RenderPage) -> None:
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
