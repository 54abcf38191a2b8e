"""Requests counted by route and status, with their durations: plain numbers that
``metrics.py`` turns into Prometheus families when it is scraped.

Counted in aiohttp's access-log hook (``http.py``: called once a response is written,
with its time), not in a middleware: a middleware costs a board request about 10%
(api/errors.py).  One request costs a dict lookup, a C bisect and three additions.
"""

from __future__ import annotations

import bisect

from aiohttp import web

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
        self.routes: dict[str, RouteStats] = {}

    def observe(self, request: web.BaseRequest, status: int, seconds: float) -> None:
        route = route_of(request)
        stats = self.routes.get(route)
        if stats is None:
            stats = self.routes[route] = RouteStats()
        stats.statuses[status] = stats.statuses.get(status, 0) + 1
        stats.buckets[bisect.bisect_left(BUCKETS, seconds)] += 1
        stats.seconds += seconds


def route_of(request: web.BaseRequest) -> str:
    """The route's pattern (``/api/leaderboard/{board}``-like, ``/{tail}`` for the static
    catch-all), never the raw path: the label's values stay as few as the routes."""
    info = getattr(request, "match_info", None)
    resource = info.route.resource if info is not None else None
    return resource.canonical if resource is not None else UNMATCHED
