"""Standard error bodies, and the guard that gives every handler them.

Every error the HTTP server answers is ``{"error": {"code": "<snake_case>",
"message": "<human text>"}}``.  Client mistakes are 4xx; a 5xx only ever means
a bug (500, logged with its traceback) or a database that refuses the request
(503 ``database_unavailable`` with Retry-After: unreachable, disk full).

There is no error middleware: aiohttp answers a raised ``web.HTTPException``
as it is, so :class:`ApiError` *is* the JSON response, and :func:`json_errors`
wraps each handler to turn anything else into one.  (A middleware, with the
wrapper aiohttp adds around every handler once any middleware exists, cost
about 10% of a board request's throughput; a wrapped handler costs nothing
measurable.)

Requests aiohttp cannot even parse (a header over its 8190-byte limit, a broken
request line) never reach a handler; :class:`JsonErrorsAppRunner` gives those
the standard shape too, instead of aiohttp's plain text.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable, Mapping
from http import HTTPStatus
from typing import Any

import orjson
from aiohttp import web

from ..bot.errors import BotUnavailable
from ..db import DatabaseError
from .clientaddr import client_address

log = logging.getLogger(__name__)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class ApiError(web.HTTPException):
    """Raise from a handler to answer ``status`` with a standard error body."""

    def __init__(self, status: int, code: str, message: str, headers: Mapping[str, str] | None = None):
        # Not HTTPException.__init__: it takes its status from the class and warns about body=.
        web.Response.__init__(
            self,
            status=status,
            headers=headers,
            content_type="application/json",
            body=error_body(code, message),
        )
        Exception.__init__(self, message)
        self.code = code
        self.message = message


def error_body(code: str, message: str) -> bytes:
    return orjson.dumps({"error": {"code": code, "message": message}})


def bad_request(message: str, code: str = "bad_request") -> ApiError:
    return ApiError(400, code, message)


def unauthorized(message: str, code: str = "unauthorized") -> ApiError:
    return ApiError(401, code, message)


def not_found(message: str = "Not found", code: str = "not_found") -> ApiError:
    return ApiError(404, code, message)


def too_many_requests(message: str, retry_after: int) -> ApiError:
    return ApiError(429, "rate_limited", message, {"Retry-After": str(max(1, retry_after))})


def database_unavailable() -> ApiError:
    """503 when the database refuses a request's read or write: the client tries again later."""
    return ApiError(
        503, "database_unavailable", "The database cannot answer right now; try again shortly", {"Retry-After": "5"}
    )


def bot_unavailable(exc: BotUnavailable) -> ApiError:
    """503 while the bot starts (or failed to): the client tries again after Retry-After."""
    return ApiError(503, exc.code, exc.message, {"Retry-After": str(exc.retry_after)})


def json_response(data, status: int = 200, headers: Mapping[str, str] | None = None) -> web.Response:
    return web.Response(body=orjson.dumps(data), status=status, content_type="application/json", headers=headers)


# aiohttp's own HTTP exceptions (413 from reading a body, 404/405 from the router...)
# get snake_case codes.
_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    408: "request_timeout",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
}
_KEPT_HEADERS = ("allow", "retry-after")


def as_api_error(exc: web.HTTPException) -> ApiError:
    """One of aiohttp's plain-text HTTP errors, in the standard JSON shape."""
    code = _HTTP_CODES.get(exc.status, "http_error" if exc.status < 500 else "server_error")
    headers = {k: v for k, v in exc.headers.items() if k.lower() in _KEPT_HEADERS}
    return ApiError(exc.status, code, exc.reason or code.replace("_", " "), headers)


def json_errors(handler: Callable[..., Awaitable[web.StreamResponse]], *bound: Any) -> Handler:
    """``handler``, answering every error in the standard shape: an unexpected
    exception is logged and becomes a JSON 500, aiohttp's own 4xx become JSON.
    ``bound`` arguments are passed after the request (the API's state: cheaper
    than looking it up in the app on every request)."""

    @functools.wraps(handler)
    async def guarded(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request, *bound)
        except ApiError:
            raise
        except web.HTTPException as exc:
            if exc.status < 400:
                raise  # redirects and the like pass through
            raise as_api_error(exc) from None
        except DatabaseError as exc:  # unreachable, full disk, locked past busy_timeout: not a bug
            log.error("database error on %s %s from %s: %s", request.method, request.path, client_address(request), exc)
            raise database_unavailable() from None
        except Exception:
            log.exception("unhandled error on %s %s from %s", request.method, request.path, client_address(request))
            raise ApiError(500, "internal_error", "Internal server error; it has been logged") from None

    return guarded


class JsonErrorsProtocol(web.RequestHandler):
    """aiohttp's per-connection protocol, answering what it cannot parse in the standard shape."""

    __slots__ = ()

    def handle_error(
        self, request, status: int = 500, exc: BaseException | None = None, message: str | None = None
    ) -> web.StreamResponse:
        super().handle_error(request, status, exc, message)  # logs; raises when a response is already out
        if status >= 500:
            body = error_body("internal_error", "Internal server error; it has been logged")
        else:
            detail = (message or "").strip() or HTTPStatus(status).phrase
            if len(detail) > 200:  # aiohttp quotes the offending bytes: not all of them
                detail = detail[:200] + "..."
            body = error_body(_HTTP_CODES.get(status, "http_error"), f"The HTTP request could not be read: {detail}")
        response = web.Response(status=status, body=body, content_type="application/json")
        response.force_close()  # as aiohttp does: the rest of the stream cannot be trusted
        return response


class JsonErrorsServer(web.Server):
    protocol: type[web.RequestHandler] = JsonErrorsProtocol

    def __call__(self) -> web.RequestHandler:
        # As web.Server does, with our class (and the handler arguments the runner was given).
        return self.protocol(self, loop=self._loop, **self._kwargs)


class JsonErrorsAppRunner(web.AppRunner):
    """``web.AppRunner`` whose connections answer unparseable requests in the standard
    JSON shape.  aiohttp builds those answers in ``RequestHandler.handle_error``, below
    the application (no handler, middleware or signal sees them), and offers no hook to
    pick the protocol class, so the server it makes gets ours (tests/test_app.py and
    tests/test_serve.py fail if an aiohttp release changes this).  A subclass names
    another server class (tondonate/server/http.py: timeouts too)."""

    server_class: type[JsonErrorsServer] = JsonErrorsServer

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        server.__class__ = self.server_class
        return server
