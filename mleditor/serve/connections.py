"""Connection limits uvicorn lacks: a deadline for each request's headers, one for its body, a cap per client IP.

uvicorn closes a kept-alive connection that stays idle (`timeout_keep_alive`), but nothing bounds
a request that arrives slowly: a client sending one byte every 5 s holds its socket forever, in the
headers (the app never sees it) or in a body the app never reads (a 404 answered at once). So
`mleditor serve` runs uvicorn with `GuardedHttpProtocol`, its httptools protocol plus one timer and
one counter:

* the request line and headers must arrive within `header_deadline_s` of the connection opening (or
  of the request's first byte on a kept-alive connection), else the connection is closed, with a
  408 when part of a request came;
* the body must arrive within `body_deadline_s` of the headers: the body guard middleware answers
  408 to an app that is reading it; when the app has already answered (and the body is still
  coming), the connection is closed; when it is still working, it closes after its answer;
* a client IP holding more than `max_connections_per_client` open connections in this process gets
  429 (`Connection: close`) for the request on the one too many.

These hold per process (with --workers N, a client may hold N times the cap). They need uvicorn's
httptools protocol, which `uvicorn[standard]` installs:

    uvicorn.run(app, http=guarded_protocol(ConnectionLimits(header_deadline_s=10)), ws="none")
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import weakref
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starlette.types import Receive, Scope, Send
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol
from uvicorn.server import ServerState

from mleditor.serve.settings import ServeSettings

log = logging.getLogger("mleditor.serve")

# Open connections per client IP, one counter per uvicorn server (per process, in practice).
_open_connections: weakref.WeakKeyDictionary[ServerState, Counter[str]] = weakref.WeakKeyDictionary()


@dataclass(frozen=True)
class ConnectionLimits:
    """What `GuardedHttpProtocol` enforces; the fields mean what ServeSettings' fields of the same names say."""

    header_deadline_s: float = 10.0
    body_deadline_s: float = 60.0
    max_connections_per_client: int = 100  # 0 is off

    @classmethod
    def from_settings(cls, settings: ServeSettings) -> ConnectionLimits:
        """The limits `settings` asks for."""
        return cls(settings.header_deadline_s, settings.body_deadline_s, settings.max_connections_per_client)


def guarded_protocol(limits: ConnectionLimits) -> Callable[..., asyncio.Protocol]:
    """uvicorn's `http=` option for `limits` (a picklable factory, so `--workers N` gets it too)."""
    return functools.partial(GuardedHttpProtocol, limits=limits)


def _error_response(status: int, message: str, default_headers: list[tuple[bytes, bytes]]) -> bytes:
    """A complete `Connection: close` answer with the JSON every error carries, written outside any ASGI cycle."""
    body = json.dumps({"error": message, "request_id": "-"}).encode()
    head = [STATUS_LINE[status], *(name + b": " + value + b"\r\n" for name, value in default_headers),
            b"content-type: application/json\r\n", b"content-length: %d\r\n" % len(body), b"connection: close\r\n",
            b"\r\n"]
    return b"".join(head) + body


class _TooManyConnections:
    """The ASGI app a connection past the per-client cap runs instead of ours: 429, then the connection closes."""

    def __init__(self, open_now: int, limit: int) -> None:
        self.message = (f"this client has {open_now} connections open to this server; the limit is {limit} "
                        "(max_connections_per_client): reuse one, or close some")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = json.dumps({"error": self.message, "request_id": "-"}).encode()
        await send({"type": "http.response.start", "status": 429,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body)),
                                (b"retry-after", b"1"), (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})


class GuardedHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with `ConnectionLimits` (see the module docstring): one timer per connection,
    armed for the headers, then for the body, disarmed when the request is complete."""

    def __init__(self, config: Config, server_state: ServerState, app_state: dict[str, Any],
                 _loop: asyncio.AbstractEventLoop | None = None, *, limits: ConnectionLimits) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.limits = limits
        self._timer: asyncio.TimerHandle | None = None
        self._counted_as: str | None = None  # the client IP this connection is counted under
        self._in_headers = False  # part of a request came; its headers are not complete yet

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm(self.limits.header_deadline_s, self._headers_late)
        limit = self.limits.max_connections_per_client
        if limit and self.client:
            counts = _open_connections.setdefault(self.server_state, Counter())
            self._counted_as = self.client[0]
            counts[self._counted_as] += 1
            if counts[self._counted_as] > limit:
                self.app = _TooManyConnections(counts[self._counted_as], limit)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        if self._counted_as is not None:
            counts = _open_connections.get(self.server_state, Counter())
            counts[self._counted_as] -= 1
            if counts[self._counted_as] <= 0:
                del counts[self._counted_as]
            self._counted_as = None
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_headers = True
        if self._timer is None:  # a kept-alive connection's next request; the first one's clock started at connect
            self._arm(self.limits.header_deadline_s, self._headers_late)

    def on_headers_complete(self) -> None:
        self._in_headers = False
        self._arm(self.limits.body_deadline_s, self._body_late)
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._disarm()
        super().on_message_complete()

    def _arm(self, seconds: float, callback: Callable[[], None]) -> None:
        self._disarm()
        self._timer = self.loop.call_later(seconds, callback)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _headers_late(self) -> None:
        self._timer = None
        if self.transport.is_closing():
            return
        if self._in_headers:  # a client that sent nothing gets no answer, as after an idle keep-alive
            message = (f"the request headers did not arrive within {self.limits.header_deadline_s:g} s "
                       "(header_deadline_s); send them at once")
            self.transport.write(_error_response(408, message, self.server_state.default_headers))
            log.info("closed a connection from %s: headers too slow", self.client[0] if self.client else "-")
        self.transport.close()

    def _body_late(self) -> None:
        self._timer = None
        cycle = self.cycle
        if cycle is None or cycle.response_complete:  # answered already: nobody waits for the rest of the body
            if not self.transport.is_closing():
                log.info("closed a connection from %s: body too slow", self.client[0] if self.client else "-")
                self.transport.close()
        else:  # the app is still answering (the body guard answers 408 if it is reading): close after that
            cycle.keep_alive = False
