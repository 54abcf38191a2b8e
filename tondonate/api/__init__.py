"""The HTTP API the Mini App talks to, all under ``/api``."""

from __future__ import annotations

from aiohttp import web

from .. import appkeys
from ..errors import json_errors
from ..readmodel import ReadModel
from .auth import InitDataValidator
from .context import API, ApiState
from .openapi import openapi_document
from .routes import routes as route_table  # not "routes": that name is the submodule (tondonate.api.routes)


async def read_model_ctx(app: web.Application):
    store = app[appkeys.SETTINGS]
    model = ReadModel(app[appkeys.DB], lambda: store.current.timezone)
    await model.start()
    api = app[API]
    api.model, api.store = model, store
    api.use_settings(store.current)
    store.on_change(lambda _old, new: api.use_settings(new))
    yield
    await model.stop()


async def openapi(request: web.Request) -> web.Response:
    return web.json_response(openapi_document())


def setup_api(app: web.Application) -> None:
    config = app[appkeys.CONFIG]
    api = app[API] = ApiState(validator=InitDataValidator(config.bot.token), page_cache={}, app=app, config=config,
                              services=app[appkeys.SERVICES])
    app.cleanup_ctx.append(read_model_ctx)
    # Each handler gets the state with the request (handler(request, api)).
    app.router.add_routes(web.RouteDef(r.method, r.path, json_errors(r.handler, api), r.kwargs) for r in route_table)
    app.router.add_get("/api/openapi.json", json_errors(openapi))
