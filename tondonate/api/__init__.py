"""The HTTP API the Mini App talks to, all under ``/api``."""

from __future__ import annotations

from aiohttp import web


def setup_api(app: web.Application) -> None:
    """Register the API routes (added feature by feature)."""
