"""Standard error bodies and the one error middleware.

Every error the HTTP server answers is ``{"error": {"code": "<snake_case>",
"message": "<human text>"}}``.  Client mistakes are 4xx; a 5xx only ever means
a bug or an unreachable database, and is logged with its traceback.
"""

from __future__ import annotations

import logging
from typing import Mapping

import orjson
from aiohttp import web

log = logging.getLogger(__name__)


class ApiError(Exception):
    """Raise from a handler to answer ``status`` with a standard error body."""

    def __init__(self, status: int, code: str, message: str, headers: Mapping[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})


def bad_request(message: str, code: str = "bad_request") -> ApiError:
    return ApiError(400, code, message)


def unauthorized(message: str, code: str = "unauthorized") -> ApiError:
    return ApiError(401, code, message)


def forbidden(message: str, code: str = "forbidden") -> ApiError:
    return ApiError(403, code, message)


def not_found(message: str = "Not found", code: str = "not_found") -> ApiError:
    return ApiError(404, code, message)


def too_many_requests(message: str, retry_after: int) -> ApiError:
    return ApiError(429, "rate_limited", message, {"Retry-After": str(max(1, retry_after))})


def json_response(data, status: int = 200, headers: Mapping[str, str] | None = None) -> web.Response:
    return web.Response(
        body=orjson.dumps(data), status=status, content_type="application/json", headers=headers
    )


def error_response(status: int, code: str, message: str, headers: Mapping[str, str] | None = None) -> web.Response:
    return json_response({"error": {"code": code, "message": message}}, status, headers)


# aiohttp's own HTTP exceptions (404 from the router, 405, 413...) get snake_case codes.
_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
}


@web.middleware
async def error_middleware(request: web.Request, handler):
    try:
        return await handler(request)
    except ApiError as exc:
        return error_response(exc.status, exc.code, exc.message, exc.headers)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise  # redirects and the like pass through
        code = _HTTP_CODES.get(exc.status, "http_error" if exc.status < 500 else "server_error")
        headers = {k: v for k, v in exc.headers.items() if k.lower() in ("allow", "retry-after")}
        return error_response(exc.status, code, exc.reason or code.replace("_", " "), headers)
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(500, "internal_error", "Internal server error; it has been logged")
