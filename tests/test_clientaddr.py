"""``http.trusted_proxies``: X-Forwarded-For is believed only from a trusted peer, and the
error logs name the client found that way."""

from __future__ import annotations

import logging

import pytest
from aiohttp import web

from tondonate.api.clientaddr import client_address, trust_proxies
from tondonate.api.errors import json_errors
from tondonate.config import ConfigError, load_config


async def app_client(aiohttp_client, trusted: str):
    """A server with our error wrapper, the trust setting, a route echoing the client
    address and one that fails; the test client connects from 127.0.0.1."""

    async def whoami(request: web.Request) -> web.Response:
        return web.Response(text=client_address(request))

    async def broken(request: web.Request) -> web.Response:
        raise RuntimeError("boom")

    app = web.Application()
    trust_proxies(app, trusted)
    app.router.add_get("/whoami", json_errors(whoami))
    app.router.add_get("/broken", json_errors(broken))
    return await aiohttp_client(app)


async def who(client, *forwarded: str) -> str:
    headers = [("X-Forwarded-For", value) for value in forwarded]
    response = await client.get("/whoami", headers=headers)
    return await response.text()


@pytest.mark.parametrize(
    "trusted, forwarded, expected",
    [
        ("", ("203.0.113.7",), "127.0.0.1"),  # nobody trusted: the header is ignored
        ("10.0.0.0/8", ("203.0.113.7",), "127.0.0.1"),  # the peer is not a trusted proxy
        ("127.0.0.1", (), "127.0.0.1"),  # trusted, but nothing forwarded
        ("127.0.0.1", ("203.0.113.7",), "203.0.113.7"),
        ("127.0.0.0/8, ::1", ("203.0.113.7",), "203.0.113.7"),
        # the client wrote its own header: the proxy appended the real address; the rightmost untrusted wins
        ("127.0.0.1", ("198.51.100.1, 203.0.113.7",), "203.0.113.7"),
        ("127.0.0.1", ("198.51.100.1", "203.0.113.7"), "203.0.113.7"),  # two header lines read as one list
        # a chain of trusted proxies is walked through
        ("127.0.0.1 10.0.0.0/8", ("203.0.113.7, 10.1.2.3",), "203.0.113.7"),
        ("127.0.0.1 10.0.0.0/8", ("10.9.9.9, 10.1.2.3",), "10.9.9.9"),  # all trusted: the leftmost
        # garbage stops the walk at the last address that could be believed
        ("127.0.0.1 10.0.0.0/8", ("203.0.113.7, nonsense, 10.1.2.3",), "10.1.2.3"),
        ("127.0.0.1", ("[2001:db8::5]",), "2001:db8::5"),
    ],
)
async def test_forwarded_for_is_believed_only_from_trusted_proxies(aiohttp_client, trusted, forwarded, expected):
    client = await app_client(aiohttp_client, trusted)
    assert await who(client, *forwarded) == expected


async def test_error_log_names_the_forwarded_client(aiohttp_client, caplog):
    trusting = await app_client(aiohttp_client, "127.0.0.1")
    with caplog.at_level(logging.ERROR, logger="tondonate"):
        response = await trusting.get("/broken", headers={"X-Forwarded-For": "203.0.113.7"})
    assert response.status == 500
    assert [r.getMessage() for r in caplog.records] == ["unhandled error on GET /broken from 203.0.113.7"]
    caplog.clear()
    untrusting = await app_client(aiohttp_client, "")
    with caplog.at_level(logging.ERROR, logger="tondonate"):
        await untrusting.get("/broken", headers={"X-Forwarded-For": "203.0.113.7"})
    assert [r.getMessage() for r in caplog.records] == ["unhandled error on GET /broken from 127.0.0.1"]


def test_trusted_proxies_setting(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no tondonate.toml here
    assert load_config(None, env={}).http.trusted_proxies == ""
    config = load_config(None, env={"TONDONATE_HTTP_TRUSTED_PROXIES": "127.0.0.1, ::1"})
    assert config.http.trusted_proxies == "127.0.0.1, ::1"
    with pytest.raises(ConfigError, match="'nonsense' is not an IP address or network"):
        load_config(None, env={"TONDONATE_HTTP_TRUSTED_PROXIES": "127.0.0.1 nonsense"})


def test_the_server_takes_the_setting():
    import ipaddress

    from tondonate.api.clientaddr import TRUSTED_PROXIES
    from tondonate.config import Config
    from tondonate.server import create_app

    app = create_app(Config().replace(bot={"token": "1:x"}, http={"trusted_proxies": "127.0.0.1, 10.0.0.0/8"}))
    assert app[TRUSTED_PROXIES] == (ipaddress.ip_network("127.0.0.1/32"), ipaddress.ip_network("10.0.0.0/8"))
