"""Requests counted by route and status, with their durations: plain numbers that
``metrics.py`` turns into Prometheus families when it is scraped.

Counted in aiohttp's access-log hook (:class:`RequestLog`, given to the runner by
``http.py``; aiohttp calls it once a response is written, with its time), not in a
middleware: a middleware costs a board request about 10% (api/errors.py).  The hook
runs on every request, so it is kept to a few dict and list operations (callgrind:
bench/bench_instructions.py): stats are keyed by the route object, and its pattern,
the label, is read only at scrape time.
"""

from __future__ import annotations

import logging
from bisect import bisect_left
from typing import Any

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

# Upper bounds (seconds) of the duration histogram: a board answers in ~2 ms under load,
# so the low end is fine-grained.
BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
UNMATCHED = "unmatched"  # requests that reached no route (aiohttp could not parse them)


class RouteStats:
    __slots__ = ("statuses", "buckets", "seconds")

    def __init__(self) -> None:
        self.statuses: dict[int, int] = {}
        self.buckets = [0] * (len(BUCKETS) + 1)  # not cumulative; the last one is +Inf only
        self.seconds = 0.0


class HttpStats:
    def __init__(self) -> None:
        self.by_route: dict[Any, RouteStats] = {}  # aiohttp's route object (None: unmatched) -> stats

    def routes(self) -> dict[str, RouteStats]:
        """The stats by route pattern (``/api/me``; ``/{tail}`` for the static catch-all),
        never the raw path: the label's values stay as few as the routes.  Two routes with
        one pattern (GET and any other method) are added up."""
        merged: dict[str, RouteStats] = {}
        for route, stats in list(self.by_route.items()):
            into = merged.setdefault(route_label(route), RouteStats())
            for status, count in stats.statuses.items():
                into.statuses[status] = into.statuses.get(status, 0) + count
            into.buckets = [a + b for a, b in zip(into.buckets, stats.buckets, strict=True)]
            into.seconds += stats.seconds
        return merged


def request_log_class(stats: HttpStats | None) -> type[AbstractAccessLogger]:
    """aiohttp's access-log hook, called once per answered request with its time: the
    request counted in ``stats`` (the metrics), and one DEBUG line (``tondonate -v``)."""
    by_route = stats.by_route if stats is not None else {}

    class RequestLog(AbstractAccessLogger):
        __slots__ = ("_debug",)

        def __init__(self, logger: logging.Logger, log_format: str) -> None:
            super().__init__(logger, log_format)
            self._debug = logger.isEnabledFor(logging.DEBUG)  # once per connection, not per request

        def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
            try:
                route = request.match_info.route  # type: ignore[attr-defined]
            except AttributeError:  # a request aiohttp could not parse is not routed
                route = None
            route_stats = by_route.get(route)
            if route_stats is None:
                route_stats = by_route[route] = RouteStats()
            status = response.status
            statuses = route_stats.statuses
            statuses[status] = statuses.get(status, 0) + 1
            route_stats.buckets[bisect_left(BUCKETS, time)] += 1
            route_stats.seconds += time
            if self._debug:  # the path only: a query is the client's data
                self.logger.debug(
                    "http request method=%s route=%s path=%s status=%s seconds=%.6f",
                    *(request.method, route_label(route), request.path, status, time),
                )

    return RequestLog


def route_label(route: Any) -> str:
    resource = route.resource if route is not None else None
    return resource.canonical if resource is not None else UNMATCHED
