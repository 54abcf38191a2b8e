"""The API's route tables.

An API handler takes the API's state after the request (``handler(request, api)``),
which aiohttp's ``web.RouteTableDef`` does not take (its handlers get the request
alone).  :class:`ApiRoutes` records ``(method, path, handler)`` in declaration order;
:func:`tondonate.api.setup_api` binds the state to each handler when it registers
them, so nothing of this runs per request.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from typing import NamedTuple, TypeVar

from aiohttp import hdrs, web

from .context import ApiState

ApiHandler = Callable[[web.Request, ApiState], Awaitable[web.StreamResponse]]
_Handler = TypeVar("_Handler", bound=ApiHandler)


class ApiRoute(NamedTuple):
    method: str
    path: str
    handler: ApiHandler


class ApiRoutes:
    """``@routes.get(path)`` / ``@routes.post(path)`` for API handlers; iterates in declaration order."""

    def __init__(self) -> None:
        self._routes: list[ApiRoute] = []

    def __iter__(self) -> Iterator[ApiRoute]:
        return iter(self._routes)

    def route(self, method: str, path: str) -> Callable[[_Handler], _Handler]:
        def register(handler: _Handler) -> _Handler:
            self._routes.append(ApiRoute(method, path, handler))
            return handler

        return register

    def get(self, path: str) -> Callable[[_Handler], _Handler]:
        return self.route(hdrs.METH_GET, path)

    def post(self, path: str) -> Callable[[_Handler], _Handler]:
        return self.route(hdrs.METH_POST, path)
