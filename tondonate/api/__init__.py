"""The HTTP API the Mini App talks to, all under ``/api``: initData auth (:mod:`.auth`),
the boards and ``/api/me`` (:mod:`.routes`), paying and inviting (:mod:`.payments`),
parameters, the OpenAPI document and the standard error bodies (:mod:`.errors`)."""

from __future__ import annotations

from aiohttp import web

from ..config import Config
from .auth import InitDataValidator
from .context import API, ApiParts, ApiState
from .errors import json_errors
from .openapi import openapi_document
from .payments import routes as payment_routes
from .routes import routes as board_routes  # not "routes": that name is the submodule (tondonate.api.routes)


async def openapi(request: web.Request) -> web.Response:
    return web.json_response(openapi_document())


def setup_api(app: web.Application, config: Config) -> ApiState:
    """Add the API's routes to ``app``; they serve once :meth:`ApiState.attach` has run."""
    api = app[API] = ApiState(validator=InitDataValidator(config.bot.token), config=config)
    # Each handler gets the state with the request (handler(request, api)).
    for table in (board_routes, payment_routes):
        app.router.add_routes(web.RouteDef(r.method, r.path, json_errors(r.handler, api), {}) for r in table)
    app.router.add_get("/api/openapi.json", json_errors(openapi))
    return api


__all__ = ["API", "ApiParts", "ApiState", "setup_api"]
