"""``GET /metrics``: the server in Prometheus's text format, through prometheus-client.

Almost everything is read when Prometheus scrapes, not counted as it happens: the
ledger's plain counters (:class:`~tondonate.ledger.counters.LedgerCounters`), the rate
provider's current rate and failed fetches, the bot's update counts, the read model's
last poll and size, and the HTTP requests counted in aiohttp's access-log hook
(:mod:`.httpstats`).  One collector turns them into metric families at scrape time, so
the money path and the request path never call prometheus-client.

Each app has its own :class:`CollectorRegistry` (several apps in one process, as in
the tests, would otherwise register the same names twice); it holds that collector and
the process collector (CPU, memory, open files).

Who may scrape: loopback clients, unless ``metrics.token`` is set; then anyone who
sends ``Authorization: Bearer <token>`` and no one else.  Behind a reverse proxy on the
same host every client looks local: a request that carries a forwarding header
(``X-Forwarded-For``, ``Forwarded``, ``X-Real-IP``, which the sites in deploy/ set) came
through the proxy and is refused without the token; the sites also answer /metrics
with 404 themselves.
"""

from __future__ import annotations

import hmac
import ipaddress
import time
from collections.abc import Iterable

from aiohttp import web
from prometheus_client import CollectorRegistry, ProcessCollector
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from ..api.errors import ApiError, json_errors
from . import appkeys
from .httpstats import BUCKETS, HttpStats

REGISTRY = web.AppKey("metrics_registry", CollectorRegistry)
PREFIX = "tondonate_"


FORWARDING_HEADERS = ("Forwarded", "X-Forwarded-For", "X-Real-IP")


def metrics_allowed(remote: str | None, authorization: str | None, token: str, *, proxied: bool = False) -> bool:
    """Whether a scrape from ``remote`` with this Authorization header is answered.
    ``proxied``: the request names a client behind a proxy (a forwarding header), so a
    loopback peer is the proxy on this host, not a local scraper."""
    if token:
        # compare_digest on bytes: the time taken does not tell how much of the token matched
        return hmac.compare_digest((authorization or "").encode(), f"Bearer {token}".encode())
    if not remote or proxied:
        return False
    try:
        address = ipaddress.ip_address(remote)
    except ValueError:  # a Unix socket's peer, or nothing an address parses from
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # ::ffff:127.0.0.1 from a dual-stack socket
    return address.is_loopback


async def metrics(request: web.Request) -> web.Response:
    app = request.app
    token = app[appkeys.CONFIG].metrics.token
    proxied = any(name in request.headers for name in FORWARDING_HEADERS)
    if not metrics_allowed(request.remote, request.headers.get("Authorization"), token, proxied=proxied):
        why = "a valid Authorization: Bearer token" if token else "a loopback client (or metrics.token)"
        raise ApiError(403, "forbidden", f"/metrics needs {why}")
    # The format the scraper asks for (Accept): Prometheus's text format, or OpenMetrics.
    encode, content_type = choose_encoder(request.headers.get("Accept", ""))
    return web.Response(body=encode(app[REGISTRY]), headers={"Content-Type": content_type})


class AppCollector(Collector):
    """The app's state as metric families, read at each scrape.  A part not started yet
    (the ledger before the database is open, the bot while it starts) is left out."""

    def __init__(self, app: web.Application):
        self.app = app

    def collect(self) -> Iterable[Metric]:
        app = self.app
        now = time.time()
        yield from self._ledger(app)
        yield from self._bot(app, now)
        yield from self._http(app[appkeys.HTTP_STATS])
        model = app.get(appkeys.MODEL)
        if model is not None:
            yield GaugeMetricFamily(PREFIX + "users", "Users known to the read model", value=len(model.users))
            if model.polled_at is not None:
                yield GaugeMetricFamily(
                    PREFIX + "readmodel_lag_seconds",
                    "Seconds since the read model last applied the database's changes (polls every 0.5 s)",
                    value=max(0.0, model.clock() - model.polled_at),
                )

    def _ledger(self, app: web.Application) -> Iterable[Metric]:
        ledger = app.get(appkeys.LEDGER)
        if ledger is None:
            return
        c = ledger.counters
        for name, value, doc in (
            ("payments_credited", c.credited, "Payments credited by this process"),
            ("payments_duplicate", c.duplicates, "Deliveries of a payment already credited (nothing done)"),
            ("refunds", c.refunds, "Refunds applied (not their repeated deliveries)"),
            ("reconcile_fixed", c.reconcile_fixed, "Payments credited and refunds applied by reconcile"),
            ("invoices_created", c.invoices_created, "Invoices issued"),
            ("stars_credited", c.stars_credited, "Stars of the payments credited"),
        ):
            yield CounterMetricFamily(PREFIX + name, doc, value=value)
        rate = ledger.rates.current()
        if rate is not None:
            yield GaugeMetricFamily(
                PREFIX + "rate_tons_per_star", "The current rate (tons per Star)", value=float(rate.tons_per_star)
            )
            if rate.fetched_at:
                yield GaugeMetricFamily(
                    PREFIX + "rate_age_seconds",
                    "Seconds since the current rate was fetched (0 for the static rate)",
                    value=0.0 if rate.source == "static" else max(0.0, time.time() - rate.fetched_at),
                )
        failures = CounterMetricFamily(
            PREFIX + "rate_fetch_failures", "Failed fetches of the rate, by source URL (redacted)", labels=["source"]
        )
        for source, count in sorted(ledger.rates.fetch_failures.items()):
            failures.add_metric([source], count)
        yield failures

    def _bot(self, app: web.Application, now: float) -> Iterable[Metric]:
        counts = app[appkeys.BOT].updates
        updates = CounterMetricFamily(
            PREFIX + "bot_updates", "Telegram updates handed to the dispatcher, by type", labels=["type"]
        )
        for kind, count in sorted(counts.by_type.items()):
            updates.add_metric([kind], count)
        yield updates
        if counts.last_at is not None:
            yield GaugeMetricFamily(
                PREFIX + "bot_last_update_age_seconds",
                "Seconds since the bot last received an update",
                value=max(0.0, now - counts.last_at),
            )

    def _http(self, stats: HttpStats) -> Iterable[Metric]:
        requests = CounterMetricFamily(
            PREFIX + "http_requests", "HTTP requests answered, by route pattern and status", labels=["route", "status"]
        )
        durations = HistogramMetricFamily(
            PREFIX + "http_request_duration_seconds", "Time to answer an HTTP request, by route", labels=["route"]
        )
        for route, s in sorted(stats.routes().items()):
            for status, count in sorted(s.statuses.items()):
                requests.add_metric([route, str(status)], count)
            cumulative, buckets = 0, []
            for bound, count in zip((*map(str, BUCKETS), "+Inf"), s.buckets, strict=True):
                cumulative += count
                buckets.append((bound, cumulative))
            durations.add_metric([route], buckets, s.seconds)
        yield requests
        yield durations


def setup_metrics(app: web.Application) -> None:
    """``GET /metrics`` and what it reads; before the static catch-all route."""
    registry = CollectorRegistry(auto_describe=False)
    ProcessCollector(registry=registry)
    registry.register(AppCollector(app))
    app[REGISTRY] = registry
    app[appkeys.HTTP_STATS] = HttpStats()
    app.router.add_get("/metrics", json_errors(metrics))
