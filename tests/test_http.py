"""The HTTP connection itself, over real sockets: how long `tondonate serve` waits for a
request's headers (``http.header_timeout_seconds``) and keeps an idle connection
(``http.keepalive_seconds``)."""

from __future__ import annotations

import asyncio
import contextlib
import time

import orjson
import pytest
from conftest import TOKEN
from offline import OFFLINE_SETTINGS

from tondonate.config import Config
from tondonate.emulator import sign_init_data
from tondonate.server.run import serve


@pytest.fixture
async def served(tmp_path, botapi, unused_tcp_port):
    """Factory: ``port = await served(header_timeout_seconds=1)`` runs serve() in this loop until the test ends."""
    tasks = []
    stop = asyncio.Event()

    async def start(**http) -> int:
        config = Config().replace(
            bot={"token": TOKEN, "api_base": botapi.base_url},
            webapp={"url": "https://example.org/app"},
            db={"url": f"sqlite:///{tmp_path / 'http.db'}"},
            http={"host": "127.0.0.1", "port": unused_tcp_port, **http},
            settings=OFFLINE_SETTINGS,
        )
        ready = asyncio.Event()
        tasks.append(asyncio.create_task(serve(config, ready=ready, stop=stop)))
        waiting = asyncio.create_task(ready.wait())
        await asyncio.wait([waiting, tasks[0]], timeout=30, return_when=asyncio.FIRST_COMPLETED)
        if tasks[0].done():
            tasks[0].result()  # raises what stopped it
        assert ready.is_set(), "serve did not start"
        return unused_tcp_port

    yield start
    stop.set()
    for task in tasks:
        await asyncio.wait_for(task, timeout=10)


async def read_response(reader: asyncio.StreamReader) -> tuple[int, dict, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    status, *lines = head.decode("latin-1").rstrip("\r\n").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return int(status.split()[1]), headers, body


async def closed_after(reader: asyncio.StreamReader, started: float, limit: float) -> tuple[float, bytes]:
    """Seconds from ``started`` until the server closed the connection, and what it sent before."""
    rest = await asyncio.wait_for(reader.read(), timeout=limit)  # b"" or the last bytes, then EOF
    return time.monotonic() - started, rest


async def test_slow_headers_are_cut_off_with_a_408(served):
    port = await served(header_timeout_seconds=1)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    started = time.monotonic()
    writer.write(b"GET /api/me HTTP/1.1\r\nHost: x\r\n")
    authorization = b"Authorization: tma " + sign_init_data(TOKEN, {"id": 7, "first_name": "S"}).encode() + b"\r\n"

    async def trickle():  # a header line every 0.2 s, then a signed initData byte by byte, never the blank line
        with contextlib.suppress(ConnectionError):
            for n in range(3):
                await asyncio.sleep(0.2)
                writer.write(b"X-Slow-%d: y\r\n" % n)
                await writer.drain()
            for byte in authorization:
                await asyncio.sleep(0.05)
                writer.write(bytes([byte]))
                await writer.drain()

    trickling = asyncio.create_task(trickle())
    try:
        elapsed, rest = await closed_after(reader, started, limit=10)
    finally:
        trickling.cancel()
        writer.close()
    assert 0.9 <= elapsed <= 2.0, elapsed
    head, _, body = rest.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408 "), rest[:200]
    assert b"content-type: application/json" in head.lower()
    assert orjson.loads(body)["error"]["code"] == "request_timeout"


async def test_half_sent_connections_do_not_pile_up(served):
    """Many connections that send part of a request line, or nothing at all, are all closed within the bound."""
    port = await served(header_timeout_seconds=1)
    started = time.monotonic()
    conns = [await asyncio.open_connection("127.0.0.1", port) for _ in range(200)]
    for i, (_, writer) in enumerate(conns):
        if i % 2:
            writer.write(b"GET /api/me HTT")
    results = await asyncio.gather(*(closed_after(reader, started, limit=10) for reader, _ in conns))
    for _, writer in conns:
        writer.close()
    slowest = max(elapsed for elapsed, _ in results)
    assert slowest <= 3.0, slowest
    for i, (_, rest) in enumerate(results):
        # A request begun is told why (408); a connection that never spoke is just closed.
        assert rest.startswith(b"HTTP/1.1 408 ") if i % 2 else rest == b"", (i, rest[:100])


async def test_keep_alive_serves_many_requests_and_closes_when_idle(served):
    port = await served(header_timeout_seconds=1, keepalive_seconds=3)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for pause in (0, 0.1, 1.5, 0, 1.5):  # idle longer than the header bound between requests is fine
            await asyncio.sleep(pause)
            # Sent in two parts, the second 0.5 s later: within the bound, counted from the request's first byte.
            writer.write(b"GET /healthz HTTP/1.1\r\n")
            await asyncio.sleep(0.5 if pause else 0)
            writer.write(b"Host: x\r\n\r\n")
            status, headers, body = await read_response(reader)
            assert (status, orjson.loads(body)) == (200, {"status": "ok"})
            assert headers.get("connection", "").lower() != "close"
        started = time.monotonic()
        elapsed, rest = await closed_after(reader, started, limit=10)
    finally:
        writer.close()
    assert rest == b"" and 2.0 <= elapsed <= 4.5, (elapsed, rest[:100])
