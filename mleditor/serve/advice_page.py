"""`/advice`: the last report `mleditor advise --report` wrote, as it is on disk, read on each request.

The server only reads the file (it imports nothing of `mleditor.advise`): the report is one
self-contained HTML page with inline styles and SVG and no script, so it goes out under a policy
that allows exactly that (`ADVICE_CSP`) and is never cached (the next run replaces it). Where the
file is: `$MLEDITOR_ADVICE_REPORT`, else `last.html` beside the advisor's `last.json`:
`$MLEDITOR_HOME/advice/last.html`, else `~/.cache/mleditor/advice/last.html` (the folder of
`mleditor.advise.advice.last_advice_path`); `advice_report_path` resolves it once, when the app is made.
Like `/metrics`, the report (it names the machine and the scenario's prices) follows
`operator_access`: open while anonymous access is on, else for keys with the `ops` scope. Without
a report the answer is 404 with the command that writes one.
"""

from __future__ import annotations

import asyncio
import html
import os
from collections.abc import Callable, Mapping
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from mleditor.serve.middleware import CSP_HEADER, content_security_policy
from mleditor.serve.service import PredictionService
from mleditor.serve.settings import ServeSettings
from mleditor.stores.keys import OPS_SCOPE

REPORT_ENV = "MLEDITOR_ADVICE_REPORT"
HOME_ENV = "MLEDITOR_HOME"  # as the advisor's (mleditor.advise.advice.HOME_ENV): the report sits beside last.json
ADVICE_CSP = content_security_policy(default_src="'none'", script_src="'none'", style_src="'unsafe-inline'",
                                     img_src="data:", form_action="'none'")


def advice_report_path(environ: Mapping[str, str] | None = None) -> Path:
    """$MLEDITOR_ADVICE_REPORT, else $MLEDITOR_HOME/advice/last.html, else ~/.cache/mleditor/advice/last.html."""
    env = os.environ if environ is None else environ
    if env.get(REPORT_ENV):
        return Path(env[REPORT_ENV]).expanduser()
    home = Path(env[HOME_ENV]).expanduser() if env.get(HOME_ENV) else Path.home() / ".cache" / "mleditor"
    return home / "advice" / "last.html"


def no_report_message() -> str:
    return "no advice report yet: run `mleditor advise --report` on this machine, then reload"


def add_advice_routes(app: FastAPI, service: PredictionService, settings: ServeSettings,
                      key_of: Callable[[Request], str | None], report: Path | None = None) -> None:
    """Mount `GET /advice`: the file at `report` (default `advice_report_path()`), behind `operator_access`.

    `key_of` reads the caller's API key from a request (the app's `api_key_from_headers`).
    """
    path = report if report is not None else advice_report_path()
    is_open = settings.operator_endpoints_open

    @app.api_route("/advice", methods=["GET", "HEAD"], include_in_schema=False)
    async def advice(request: Request) -> Response:
        if not is_open:  # AuthenticationError (401) without a key, PermissionDeniedError (403) without the scope
            service.authorizer.authorize(key_of(request), OPS_SCOPE)
        try:
            page = await asyncio.to_thread(path.read_bytes)
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            return _not_found(request)
        return HTMLResponse(page, headers={CSP_HEADER: ADVICE_CSP, "Cache-Control": "no-store"})


def _not_found(request: Request) -> Response:
    message, headers = no_report_message(), {"Cache-Control": "no-store"}
    if "text/html" in request.headers.get("accept", ""):
        page = (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>No advice report</title></head>'
                f"<body><h1>No advice report yet</h1><p>{html.escape(message)}</p></body></html>")
        return HTMLResponse(page, status_code=404, headers=headers)
    return JSONResponse({"error": {"kind": "not_found", "message": message}}, status_code=404, headers=headers)
