"""The client's address, behind a reverse proxy too: ``X-Forwarded-For`` is believed only
when the connection comes from one of ``http.trusted_proxies`` (anyone else could write
any address there).

The header is read from the right: each hop appends the address it got the request
from, so the rightmost address that is not a trusted proxy is the client; an entry that
is not an IP address stops the walk (what lies to its left cannot be trusted).
"""

from __future__ import annotations

import ipaddress

from aiohttp import web

from ..config import parse_networks

Networks = tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]
TRUSTED_PROXIES = web.AppKey("trusted_proxies", tuple)


def trust_proxies(app: web.Application, trusted_proxies: str) -> None:
    """Make :func:`client_address` believe ``X-Forwarded-For`` from these proxies (the
    ``http.trusted_proxies`` setting)."""
    app[TRUSTED_PROXIES] = parse_networks(trusted_proxies)


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        address = ipaddress.ip_address(text.strip().strip("[]"))
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped  # ::ffff:127.0.0.1 from a dual-stack socket
    return address


def _trusted(address: ipaddress.IPv4Address | ipaddress.IPv6Address | None, networks: Networks) -> bool:
    return address is not None and any(address in network for network in networks)


def client_address(request: web.Request) -> str:
    """The address to log for ``request`` ("-" when the transport has none)."""
    peer = request.remote or "-"
    networks: Networks = request.app.get(TRUSTED_PROXIES, ())
    if not networks or not _trusted(_ip(peer), networks):
        return peer
    hops = [hop for value in request.headers.getall("X-Forwarded-For", ()) for hop in value.split(",")]
    client = peer
    for hop in reversed(hops):
        address = _ip(hop)
        if address is None:
            break
        client = str(address)
        if not _trusted(address, networks):
            break
    return client
