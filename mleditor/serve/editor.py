"""`/editor/`: the in-browser editor (`mleditor.browser.site`), the same files `mleditor browser export` writes.

The site is assembled on the first request (on a thread, once) and kept in memory; each file goes
out in the smallest encoding the browser accepts (br, then gzip), with `Vary: Accept-Encoding`. The
page gets its own Content-Security-Policy: WebAssembly needs `'wasm-unsafe-eval'`, the service worker
`worker-src 'self'`, the model's download `connect-src 'self'`. No COOP/COEP: the editor runs one wasm
thread, which measured faster than several for this model (see BENCHMARKS.md), so it needs no
cross-origin isolation. Without npm's files every path answers 503 with the command that installs them.
"""

from __future__ import annotations

import asyncio

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from mleditor.browser.site import Site, build_site, runtime_missing
from mleditor.serve.middleware import CSP_HEADER, content_security_policy

EDITOR_CSP = content_security_policy(script_src="'self' 'wasm-unsafe-eval'", worker_src="'self'",
                                     connect_src="'self'", manifest_src="'self'", form_action="'none'")


class EditorSite:
    """The site, built once on first use; `None` with the reason when npm's files are missing."""

    def __init__(self) -> None:
        self._site: Site | None = None
        self._lock = asyncio.Lock()

    async def get(self) -> Site | str:
        if self._site is None:
            problem = runtime_missing()
            if problem:
                return problem
            async with self._lock:
                if self._site is None:
                    self._site = await asyncio.to_thread(build_site)
        return self._site


def pick_encoding(accept_encoding: str, available: set[str]) -> str | None:
    """br, then gzip, if the browser accepts it (q=0 refuses) and the file has it; None for identity."""
    accepted = set()
    for part in accept_encoding.lower().split(","):
        name, _, params = part.strip().partition(";")
        if params.strip().replace(" ", "") not in ("q=0", "q=0.0", "q=0.00", "q=0.000"):
            accepted.add(name.strip())
    return next((name for name in ("br", "gzip") if name in available and (name in accepted or "*" in accepted)),
                None)


def add_editor_routes(app: FastAPI) -> None:
    """Mount `/editor` (a redirect to `/editor/`, the service worker's scope) and every file under it."""
    site = EditorSite()

    @app.get("/editor", include_in_schema=False)
    async def editor_root() -> Response:
        return RedirectResponse("/editor/", status_code=308)

    @app.api_route("/editor/{path:path}", methods=["GET", "HEAD"], include_in_schema=False)
    async def editor_file(path: str, request: Request) -> Response:
        found = await site.get()
        if isinstance(found, str):
            return JSONResponse({"error": {"kind": "unavailable", "message": found}}, status_code=503)
        file = found.get(path)
        if file is None:
            return JSONResponse({"error": {"kind": "not_found", "message": f"no file /editor/{path}"}},
                                status_code=404)
        headers = {"Cache-Control": file.cache_control, "Vary": "Accept-Encoding"}
        if file.media_type.startswith("text/html"):
            headers[CSP_HEADER] = EDITOR_CSP
        encoding = pick_encoding(request.headers.get("accept-encoding", ""), set(file.encoded))
        if encoding is None:
            return Response(file.content, media_type=file.media_type, headers=headers)
        headers["Content-Encoding"] = encoding
        return Response(file.encoded[encoding], media_type=file.media_type, headers=headers)
