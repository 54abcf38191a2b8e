"""The HTTP API the Mini App talks to, all under ``/api``."""

from __future__ import annotations

from aiohttp import web

from .. import appkeys
from ..errors import json_errors
from ..readmodel import ReadModel
from .auth import InitDataValidator
from .context import API, ApiState
from .openapi import openapi_document
from .routes import routes


async def read_model_ctx(app: web.Application):
    store = app[appkeys.SETTINGS]
    model = ReadModel(app[appkeys.DB], lambda: store.current.timezone)
    await model.start()
    app[API].model, app[API].store = model, store
    yield
    await model.stop()


async def openapi(request: web.Request) -> web.Response:
    return web.json_response(openapi_document())


def setup_api(app: web.Application) -> None:
    app[API] = ApiState(validator=InitDataValidator(app[appkeys.CONFIG].bot.token), page_cache={}, app=app)
    app.cleanup_ctx.append(read_model_ctx)
    app.router.add_routes(web.RouteDef(r.method, r.path, json_errors(r.handler), r.kwargs) for r in routes)
    app.router.add_get("/api/openapi.json", json_errors(openapi))
