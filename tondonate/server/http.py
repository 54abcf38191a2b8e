"""The server's HTTP connections: every one answers what aiohttp cannot parse in the
standard JSON shape (:class:`~tondonate.api.errors.JsonErrorsAppRunner`), and is bounded
in time while it has no request to serve.

aiohttp bounds an idle kept-alive connection (``keepalive_timeout``) but not the reading
of a request's line and headers: a client sending a header line every few seconds, or
thousands of half-sent requests, would hold their connections for as long as the
keep-alive bound.  Here a request's head must be complete within
``http.header_timeout_seconds``, counted from the connection's start for its first
request and from the first byte of each later one; then the client gets a 408 (when it
had begun a request) and the connection is closed.  A request head that arrived
pipelined behind a previous request, while that one was served, is bounded by the
keep-alive time only.  Request bodies are not timed here (they are small: 64 KiB at most).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiohttp import web

from ..api.errors import JsonErrorsAppRunner, JsonErrorsProtocol, JsonErrorsServer, error_body
from ..config import HttpConfig
from . import appkeys
from .httpstats import request_log_class

request_log = logging.getLogger("tondonate.http")

_BODY = error_body("request_timeout", "The request's headers did not arrive in time")
REQUEST_TIMEOUT = (
    b"HTTP/1.1 408 Request Timeout\r\nContent-Type: application/json\r\nConnection: close\r\n"
    b"Content-Length: %d\r\n\r\n%s" % (len(_BODY), _BODY)
)


class HeaderTimeoutProtocol(JsonErrorsProtocol):
    __slots__ = ("_header_timeout", "_header_handle", "_head_begun")

    def __init__(self, manager: Any, *, header_timeout: float, **kwargs: Any):
        super().__init__(manager, **kwargs)
        self._header_timeout = header_timeout
        self._header_handle: asyncio.TimerHandle | None = None
        self._head_begun = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self._arm()  # the first request's head is due within the bound of connecting

    def data_received(self, data: bytes) -> None:
        if data:
            if self._header_handle is None and self._waiter is not None and not self._waiter.done():
                self._arm()  # idle between requests until now: these bytes begin a request's head
            self._head_begun = True
        count = self._request_count
        super().data_received(data)
        if self._request_count != count:  # a head (or an unreadable request) is complete
            self._disarm()

    def connection_lost(self, exc: BaseException | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._head_begun = False
        self._header_handle = self._loop.call_later(self._header_timeout, self._too_slow)

    def _disarm(self) -> None:
        if self._header_handle is not None:
            self._header_handle.cancel()
            self._header_handle = None

    def _too_slow(self) -> None:
        self._header_handle = None
        if self.transport is not None and self._head_begun:
            self.transport.write(REQUEST_TIMEOUT)  # no request is being answered: the stream is ours
        self.force_close()  # closes once the 408 is written


class _HttpServer(JsonErrorsServer):
    protocol = HeaderTimeoutProtocol


class HttpRunner(JsonErrorsAppRunner):
    """The app runner of ``serve`` and ``demo``: JSON errors, the ``[http]`` time bounds,
    and each request counted for the metrics (and logged at DEBUG)."""

    server_class = _HttpServer

    def __init__(self, app: web.Application, http: HttpConfig, **kwargs: Any):
        super().__init__(
            app,
            header_timeout=http.header_timeout_seconds,
            keepalive_timeout=http.keepalive_seconds,
            access_log=request_log,
            access_log_class=request_log_class(app.get(appkeys.HTTP_STATS)),
            **kwargs,
        )
