"""The ASGI app: `POST /predict/{model}`, the pages, and the operations endpoints, around a PredictionService.

    app = create_app(ServeSettings())                  # loads the model and opens the store
    app = create_app(settings, service=my_service)      # or wraps a service built elsewhere (tests, Ray)

Every error is JSON `{"error": "<what went wrong and what to do>", "request_id": ...}` with the
status that fits (a page, for a request that wants HTML); nothing a client sends can produce a 5xx
or a traceback. The operator endpoints (/metrics, /docs, /openapi.json) are open or need a key with
the `ops` scope, as `operator_access` says; /healthz and /readyz are always open (probes).
"""

from __future__ import annotations

import base64
import hashlib
import re
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any, Protocol

from fastapi import Depends, FastAPI, Path, Request, Security
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.security import APIKeyHeader, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException

from mleditor.core.records import MAX_QUESTION_ID
from mleditor.core.registry import MODEL_VERSIONS
from mleditor.core.requests import PredictRequest
from mleditor.core.stored import StoredPrediction
from mleditor.core.validation import MAX_BODY_CHARS, MAX_TITLE_CHARS, check_version
from mleditor.errors import AuthenticationError, InvalidInputError, MLEditorError
from mleditor.serve.advice_page import add_advice_routes
from mleditor.serve.editor import add_editor_routes
from mleditor.serve.http_errors import ErrorPages, describe_validation_errors, error_body, http_failure
from mleditor.serve.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from mleditor.serve.middleware import (
    CSP_HEADER,
    BodyGuardMiddleware,
    BodyRejected,
    RequestContextMiddleware,
    SecurityHeadersMiddleware,
    content_security_policy,
)
from mleditor.serve.pages import PageErrors, add_page_routes
from mleditor.serve.service import PredictionService
from mleditor.serve.settings import ServeSettings, load_settings
from mleditor.stores.keys import OPS_SCOPE


class QuestionIn(BaseModel):
    """A question to score. Limits apply after Unicode normalization; HTML bodies are converted to Markdown."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "examples": [{"title": "How do I stop my bottles from gushing?", "body": "I prime with 120 g of sugar..."}]
    })
    title: str = Field(description=f"The question's title (up to {MAX_TITLE_CHARS} characters).")
    body: str = Field(description=f"The question's body, Markdown or HTML (up to {MAX_BODY_CHARS:,} characters).")
    user_id: str | None = Field(None, max_length=128, description="Optional: whose profile to gather.")


class RecommendationOut(BaseModel):
    """One suggested edit."""

    feature: str
    message: str
    current: float
    typical: float
    gain: float | None = Field(description="Estimated score gain (v3); null for v1's rules.")


class PredictionOut(BaseModel):
    """The score, its meaning in words, the edits to make, and how the answer was made."""

    score: float = Field(ge=0, le=1, description="Calibrated probability that the question is well received.")
    label: str
    confidence: str = Field(description="The score and its caveats, in words.")
    out_of_distribution: list[str] = Field(default_factory=list, description=(
        "Dense features far outside the training questions' ranges (the score is then not reliable); "
        "empty when the question is like them, and for precomputed answers."))
    recommendations: list[RecommendationOut] = Field(description="Edits, best first (v1 and v3; v2 has none).")
    model_version: str
    model_id: str
    request_id: str
    timings_ms: dict[str, float] = Field(description="Milliseconds spent in each pipeline step.")
    cached: bool = Field(description="True when the result came from the cache of repeated questions.")
    source: str = Field("live", description='"live" (computed now) or "precomputed" (a stored prediction).')
    computed_at: str | None = Field(None, description="When a precomputed prediction was computed.")
    personalized: bool = Field(False, description=(
        "True when the score comes from the author's personal model part (the user's profile names an "
        "author the model has one for); false: the global model."))
    personalization: str | None = Field(None, description='The kind of personal part ("head"), or null.')


class ErrorOut(BaseModel):
    """Every error answer."""

    error: str = Field(description="What went wrong and what to do about it.")
    request_id: str | None = None


def _error_doc(text: str) -> dict[str, Any]:
    return {"model": ErrorOut, "description": text}


PREDICT_ERRORS: dict[int | str, dict[str, Any]] = {
    400: _error_doc("The request is malformed at the HTTP level (e.g. a bad Content-Length)."),
    401: _error_doc("No API key (anonymous access is off) or an unknown, revoked or mistyped key."),
    403: _error_doc("The API key may not call this model version."),
    404: _error_doc("Unknown model version; use v1, v2 or v3."),
    408: _error_doc("The body did not arrive in time."),
    413: _error_doc("The body is larger than max_request_bytes."),
    415: _error_doc("The body is not JSON."),
    422: _error_doc("Malformed JSON, wrong types, missing fields, empty or too long text."),
    429: _error_doc("Too many requests for this key or client; see the Retry-After header."),
    500: _error_doc("The model produced an invalid score (the incident is logged with the request id)."),
    503: _error_doc("The server is shutting down, or the key and profile store does not answer."),
}
OPERATOR_ERRORS: dict[int | str, dict[str, Any]] = {
    401: _error_doc("No API key (operator endpoints are closed) or an unknown, revoked or mistyped key."),
    403: _error_doc("The API key lacks the ops scope."),
}

bearer_auth = HTTPBearer(auto_error=False, description="`Authorization: Bearer mle_<key id>_<secret>`")
header_auth = APIKeyHeader(name="X-API-Key", auto_error=False, description="`X-API-Key: mle_<key id>_<secret>`")


def api_key_from_headers(request: Request) -> str | None:
    """The caller's key from X-API-Key or `Authorization: Bearer`; None when neither is sent."""
    key = request.headers.get("x-api-key")
    if key is not None:
        return key.strip()
    authorization = request.headers.get("authorization")
    if authorization is None:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthenticationError("send the key as 'Authorization: Bearer <key>' or 'X-API-Key: <key>'")
    return token.strip()


def client_address(request: Request) -> str:
    """The client's IP (the rate-limit key for anonymous callers)."""
    return request.client.host if request.client else "-"


class StoredPredictions(Protocol):
    """A composing door's stored predictions by question id (the hybrid door): `GET /predictions/{site}/{id}`."""

    async def stored(self, site: str, question_id: int, version: str) -> StoredPrediction | None: ...

    async def check(self) -> str:
        """"ok", or what fails (reported by /readyz, which stays ready: answers are then live)."""
        ...

    async def close(self) -> None: ...


def create_app(settings: ServeSettings, service: PredictionService | None = None,
               stored: StoredPredictions | None = None) -> FastAPI:
    """The FastAPI app; builds a PredictionService from `settings` unless one is given (and closes it on shutdown).

    The API and the pages both answer through `service.predict`, so hooks a composing door added to
    the service (`service.use`) apply to both. `stored`, when given, also serves
    `GET /predictions/{site}/{question_id}` and is closed on shutdown after the service.
    """
    if service is None:
        service = PredictionService.from_settings(settings)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        service.start()
        yield
        # uvicorn runs this after in-flight requests finished (or graceful_timeout_s passed).
        await service.close()
        if stored is not None:
            await stored.close()

    app = FastAPI(
        title="ML Editor",
        summary="How likely is a question to be well received, and what edits would help?",
        description="`POST /predict/{model}` scores a question with model version v1 (rules), v2 (learned score) "
                    "or v3 (score + model advice). Send an API key as `Authorization: Bearer <key>` or "
                    "`X-API-Key` unless anonymous access is on. The page at `/` does the same in a browser.",
        version="1",
        lifespan=lifespan,
        openapi_url=None, docs_url=None, redoc_url=None,  # served by _add_operator_routes, behind operator_access
    )
    app.state.service = service
    app.state.stored = stored
    app.state.settings = settings
    error_pages = PageErrors()
    app.add_middleware(BodyGuardMiddleware, metrics=service.metrics, max_bytes=settings.max_request_bytes,
                       timeout_s=settings.body_timeout_s, deadline_s=settings.body_deadline_s,
                       error_pages=error_pages)
    app.add_middleware(RequestContextMiddleware, metrics=service.metrics, routes=app.routes)
    app.add_middleware(SecurityHeadersMiddleware)  # added last = outermost: every answer gets its headers
    _add_error_handlers(app, service, error_pages)
    _add_api_routes(app, service, settings, stored)
    _add_operator_routes(app, service, settings)
    if stored is not None:
        _add_stored_route(app, service, stored, optional_auth=settings.anonymous_enabled)
    add_page_routes(app, service)
    add_editor_routes(app)
    add_advice_routes(app, service, settings, api_key_from_headers)  # GET /advice: the last advice report
    return app


def _add_api_routes(app: FastAPI, service: PredictionService, settings: ServeSettings,
                    stored: StoredPredictions | None) -> None:
    # With anonymous access on, a key is optional: the empty requirement says so in the OpenAPI document.
    optional_auth: dict[str, Any] | None = {"security": [{}]} if settings.anonymous_enabled else None

    @app.post("/predict/{model}", response_model=PredictionOut, responses=PREDICT_ERRORS, tags=["predict"],
              summary="Score a question and recommend edits",
              dependencies=[Security(bearer_auth), Security(header_auth)], openapi_extra=optional_auth)
    async def predict(
        question: QuestionIn, request: Request,
        model: Annotated[str, Path(description="Model version: v1, v2 or v3.",
                                   json_schema_extra={"enum": list(MODEL_VERSIONS)})],
    ) -> Response:
        """Run the six pipeline steps on the question; repeated questions are answered from a cache."""
        _known_version_or_404(model)
        result = await service.predict(PredictRequest(
            question.title, question.body, version=model, api_key=api_key_from_headers(request),
            user_id=question.user_id, request_id=request.state.request_id, client=client_address(request)))
        return JSONResponse(result.to_dict(), headers={"X-Cache": "hit" if result.cached else "miss"})

    @app.get("/healthz", tags=["operations"], summary="The process is alive")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["operations"], summary="The model is loaded and the store answers",
             responses={503: {"description": "Not ready; `reason` says why."}})
    async def readyz() -> JSONResponse:
        ready, reason = service.ready()
        body = {"status": "ready" if ready else "not ready", "reason": reason}
        if stored is not None:  # a failing prediction store degrades answers to live; it does not make us unready
            body["hybrid_store"] = await stored.check()
        return JSONResponse(body, status_code=200 if ready else 503)



def _add_operator_routes(app: FastAPI, service: PredictionService, settings: ServeSettings) -> None:
    """/metrics, /openapi.json and /docs: open, or for keys with the `ops` scope (`settings.operator_access`)."""
    is_open = settings.operator_endpoints_open

    async def operator_only(request: Request) -> None:
        if not is_open:  # AuthenticationError (401) without a key, PermissionDeniedError (403) without the scope
            service.authorizer.authorize(api_key_from_headers(request), OPS_SCOPE)

    guard = [Depends(operator_only), Security(bearer_auth), Security(header_auth)]

    @app.get("/metrics", tags=["operations"], summary="Prometheus metrics", response_class=Response,
             responses={200: {"content": {"text/plain": {}}}, **OPERATOR_ERRORS}, dependencies=guard,
             openapi_extra={"security": [{}]} if is_open else None)
    async def metrics() -> Response:
        return Response(service.metrics.render(), media_type=METRICS_CONTENT_TYPE)

    @app.get("/openapi.json", include_in_schema=False, dependencies=guard)
    async def openapi() -> JSONResponse:
        return JSONResponse(app.openapi())

    docs = get_swagger_ui_html(openapi_url="/openapi.json", title=f"{app.title} - Swagger UI")
    docs_csp = _swagger_ui_csp(bytes(docs.body).decode())

    @app.get("/docs", include_in_schema=False, dependencies=guard)
    async def swagger_ui() -> HTMLResponse:
        return HTMLResponse(docs.body, headers={CSP_HEADER: docs_csp})


def _swagger_ui_csp(html: str) -> str:
    """Swagger UI's own policy: its files from the CDN, its one inline script by hash, the inline styles it sets."""
    inline = re.findall(r"<script>(.*?)</script>", html, flags=re.DOTALL)
    hashes = " ".join(f"'sha256-{base64.b64encode(hashlib.sha256(s.encode()).digest()).decode()}'" for s in inline)
    return content_security_policy(script_src=f"https://cdn.jsdelivr.net {hashes}",
                                   style_src="https://cdn.jsdelivr.net 'unsafe-inline'",
                                   img_src="'self' data: https://fastapi.tiangolo.com", connect_src="'self'")


class StoredPredictionOut(BaseModel):
    """A prediction computed earlier (by a batch job or a live request) and stored."""

    score: float = Field(ge=0, le=1)
    model_version: str
    model_id: str
    recommendations: list[RecommendationOut]
    content_hash: str
    computed_at: str
    personalized: bool = False
    personalization: str | None = None


def _known_version_or_404(version: str) -> None:
    """A version in the URL path that does not exist is a missing resource (404), in the core's words."""
    try:
        check_version(version)
    except InvalidInputError as exc:
        raise HTTPException(404, str(exc)) from None


def _add_stored_route(app: FastAPI, service: PredictionService, stored: StoredPredictions,
                      optional_auth: bool) -> None:
    errors: dict[int | str, dict[str, Any]] = {code: PREDICT_ERRORS[code] for code in (401, 403, 404, 422, 429, 503)}

    @app.get("/predictions/{site}/{question_id}", response_model=StoredPredictionOut, tags=["predict"],
             summary="A stored prediction by question id", responses=errors,
             dependencies=[Security(bearer_auth), Security(header_auth)],
             openapi_extra={"security": [{}]} if optional_auth else None)
    async def stored_prediction(
        site: Annotated[str, Path(max_length=200)], request: Request,
        question_id: Annotated[int, Path(ge=0, le=MAX_QUESTION_ID, description="The question's id on its site.")],
        model: str = "v3",
    ) -> JSONResponse:
        """The prediction a batch job (or an earlier live request) stored; the same key, scope and rate limit apply."""
        _known_version_or_404(model)
        service.pipeline.admit(PredictRequest("", "", version=model, api_key=api_key_from_headers(request),
                                              request_id=request.state.request_id, client=client_address(request)))
        found = await stored.stored(site, question_id, model)
        if found is None:
            raise HTTPException(404, f"no stored {model} prediction for question {question_id} of site {site[:60]!r}; "
                                     "run `mleditor batch run` or POST /predict")
        return JSONResponse({**found.prediction.to_dict(), "content_hash": found.content_hash,
                             "computed_at": found.created.isoformat()})


def _add_error_handlers(app: FastAPI, service: PredictionService, error_pages: ErrorPages) -> None:
    errors = service.metrics.errors

    def answer(request: Request, status: int, kind: str, message: str,
               headers: dict[str, str] | None = None) -> Response:
        errors.labels(kind).inc()
        if error_pages.wants_html(request.scope):
            return error_pages.response(request.scope, status, message, headers)
        return JSONResponse(error_body(message, request.state.request_id), status_code=status, headers=headers)

    async def service_error(request: Request, exc: Exception) -> Response:
        failure = http_failure(exc)
        return answer(request, failure.status, failure.kind, str(exc), failure.headers)

    app.add_exception_handler(MLEditorError, service_error)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> Response:
        return answer(request, 422, "invalid_request", describe_validation_errors(exc.errors()))

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        kind = exc.kind if isinstance(exc, BodyRejected) else f"http_{exc.status_code}"
        message = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        if exc.status_code == 400 and message == "There was an error parsing the body":  # FastAPI's words
            return answer(request, 422, "invalid_request", _unparsable_body(exc.__cause__))
        if exc.status_code == 404 and message == "Not Found":
            message = (f"nothing at {request.url.path[:80]}; "
                       "the API is POST /predict/v1|v2|v3 (see /docs), the page is /")
        elif exc.status_code == 405:
            message = f"{request.method} is not allowed on {request.url.path[:80]}; see /docs"
        return answer(request, exc.status_code, kind, message, dict(exc.headers or {}))


def _unparsable_body(cause: BaseException | None) -> str:
    """Why FastAPI could not parse a JSON body, from the exception it chained (the JSON syntax has its own message)."""
    if isinstance(cause, ValueError) and "integer string conversion" in str(cause):
        # json.loads refuses integers longer than sys.get_int_max_str_digits() (4,300 by default): CVE-2020-10735.
        return (f"the body holds an integer with more digits than Python reads ({sys.get_int_max_str_digits():,}; "
                'its integer-digit limit); title and body are strings: send {"title": "...", "body": "..."}')
    return 'the body could not be read as JSON (is it UTF-8 text?); send {"title": "...", "body": "..."}'


def app_from_env() -> FastAPI:
    """The factory for `uvicorn --factory` and worker processes: settings from $MLEDITOR_SERVE_CONFIG and env."""
    from mleditor.serve.logs import configure_logging

    settings = load_settings()
    configure_logging(settings.log_level)
    return create_app(settings)
