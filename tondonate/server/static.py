"""Serves the prebuilt Mini App bundle shipped inside the package (``tondonate/static``).

Hashed assets are cached for a year; ``index.html`` is never cached, so a new
release is picked up at once; unknown non-API paths fall back to index.html so
the single-page app can own its routes.  Any other method on a path no route
takes gets a JSON 405 (or 404 under ``/api``), as every error does.
"""

from __future__ import annotations

import mimetypes
import posixpath
from importlib import resources
from pathlib import Path, PurePosixPath

from aiohttp import web

from ..api.errors import ApiError, json_errors, not_found

IMMUTABLE = "public, max-age=31536000, immutable"
NO_CACHE = "no-cache"
_MISSING_BUNDLE = (
    "<!doctype html><meta charset=utf-8><title>tondonate</title>"
    "<p>The Mini App bundle is not built. Run <code>npm ci && npm run build</code> in <code>web/</code>.</p>"
)


def bundle_dir() -> Path:
    return Path(str(resources.files("tondonate") / "static"))


def setup_static(app: web.Application, root: Path | None = None) -> None:
    root = (root or bundle_dir()).resolve()

    async def serve(request: web.Request) -> web.StreamResponse:
        tail = request.match_info.get("tail", "")
        if _under_api(request.path):
            return await unrouted(request)  # a JSON 405 for a POST-only route, else 404
        if tail:
            candidate = _file_in(root, tail)
            if candidate is not None:
                cache = IMMUTABLE if candidate.parent.name == "assets" else NO_CACHE
                content_type = mimetypes.guess_type(candidate.name)[0] or "application/octet-stream"
                return web.FileResponse(candidate, headers={"Cache-Control": cache, "Content-Type": content_type})
            asked = PurePosixPath(posixpath.normpath(tail))
            if asked.suffix and asked.parent.name == "assets":
                raise not_found(f"No such asset: /{tail[:200]}")
        index = root / "index.html"
        if not index.is_file():
            return web.Response(text=_MISSING_BUNDLE, content_type="text/html", headers={"Cache-Control": NO_CACHE})
        return web.FileResponse(index, headers={"Cache-Control": NO_CACHE, "Content-Type": "text/html; charset=utf-8"})

    app.router.add_get("/{tail:.*}", json_errors(serve), name="spa")
    app.router.add_route("*", "/{tail:.*}", json_errors(unrouted), name="unrouted")


def _file_in(root: Path, tail: str) -> Path | None:
    """The bundle's file at ``tail``, or None: outside the bundle, missing, or a name no
    file can have (a NUL byte, a name or path too long for the file system)."""
    try:
        candidate = (root / tail).resolve()
        return candidate if candidate.is_relative_to(root) and candidate.is_file() else None
    except (ValueError, OSError):
        return None


def _under_api(path: str) -> bool:
    return path == "/api" or path.startswith("/api/")


async def unrouted(request: web.Request) -> web.StreamResponse:
    """Reached by a method that no route of this path takes (a GET ends at the bundle).
    The router found that already but cannot say so without a middleware, so ask each
    resource again; this only ever runs for a client's mistake."""
    api = _under_api(request.path)
    allowed: set[str] = set()
    for resource in request.app.router.resources():
        if resource.name == "unrouted" or (api and resource.name == "spa"):
            continue
        match, methods = await resource.resolve(request)
        allowed |= methods
    if allowed:
        allow = ", ".join(sorted(allowed))
        raise ApiError(
            405,
            "method_not_allowed",
            f"{request.method} is not allowed on {request.path}; use {allow}",
            {"Allow": allow},
        )
    raise not_found(f"No API route {request.method} {request.path}")
