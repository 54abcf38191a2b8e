"""The application shell: health, static bundle, error bodies, live settings, webhook mode."""

import asyncio
import time

import aiohttp
import orjson
from aiohttp import web
from aiohttp.test_utils import TestServer
from yarl import URL

from tondonate.api.errors import json_errors
from tondonate.db import open_database
from tondonate.server import appkeys, create_app
from tondonate.server.static import IMMUTABLE, NO_CACHE, bundle_dir
from tondonate.settings import set_setting


async def test_health(stack):
    response = await stack.client.get("/healthz")
    assert response.status == 200 and await response.json() == {"status": "ok"}


async def test_index_and_client_routes_fall_back_to_index(stack):
    for path in ("/", "/week", "/some/client/route"):
        response = await stack.client.get(path)
        assert response.status == 200
        assert response.headers["Cache-Control"] == NO_CACHE
        assert "text/html" in response.headers["Content-Type"]
        assert "<html" in (await response.text()).lower()


async def test_hashed_assets_are_cached_for_a_year(stack):
    assets = sorted((bundle_dir() / "assets").iterdir())
    assert assets, "the built bundle ships in the package"
    response = await stack.client.get(f"/assets/{assets[0].name}")
    assert response.status == 200 and response.headers["Cache-Control"] == IMMUTABLE


async def test_missing_asset_and_unknown_api_are_json_404(stack):
    for path in ("/assets/nope-123.js", "/api/nope"):
        response = await stack.client.get(path)
        assert response.status == 404
        body = await response.json()
        assert body["error"]["code"] == "not_found" and body["error"]["message"]


async def test_path_traversal_stays_inside_the_bundle(stack):
    # Sent as they are (encoded=True: the client normalises no dots away), so the server sees the traversal.
    for path, status in (
        ("/../../pyproject.toml", 200),
        ("/%2e%2e/%2e%2e/pyproject.toml", 200),
        ("/..%2f..%2fpyproject.toml", 200),
        ("/../server/app.py", 200),
        ("/assets/../../server/app.py", 200),
        ("/assets/..%2f..%2fserver%2fapp.py", 200),
        ("/assets/%2e%2e/%2e%2e/%2e%2e/pyproject.toml", 200),
    ):
        response = await stack.client.get(URL(path, encoded=True))
        text = await response.text()
        # Nothing outside the bundle is served: the app's index, as for any page of its own.
        assert response.status == status, (path, response.status, text[:200])
        assert response.content_type == "text/html" and "<!doctype html>" in text.lower()
        assert "[build-system]" not in text and "create_app" not in text


async def test_wrong_method_is_json_405(stack):
    response = await stack.client.post("/api/me", json={})
    assert response.status == 405 and response.headers["Allow"] == "GET, HEAD"
    assert (await response.json())["error"]["code"] == "method_not_allowed"
    response = await stack.client.get("/api/payments/create-invoice")
    assert response.status == 405 and response.headers["Allow"] == "POST"
    response = await stack.client.delete("/some/page")  # the bundle's pages take GET only
    assert response.status == 405 and response.headers["Allow"] == "GET, HEAD"


async def test_unknown_api_route_is_json_404_for_every_method(stack):
    for method in ("POST", "PUT", "DELETE", "PATCH", "OPTIONS"):
        response = await stack.client.request(method, "/api/nope")
        assert response.status == 404, method
        assert (await response.json())["error"]["code"] == "not_found"


async def test_a_bug_in_a_handler_is_a_logged_json_500(aiohttp_client, caplog):
    async def broken(request):
        raise RuntimeError("boom")

    async def too_big(request):
        await request.read()

    app = web.Application(client_max_size=10)
    app.router.add_get("/broken", json_errors(broken))
    app.router.add_post("/big", json_errors(too_big))
    client = await aiohttp_client(app)
    response = await client.get("/broken")
    assert response.status == 500 and response.content_type == "application/json"
    assert (await response.json())["error"]["code"] == "internal_error"
    assert "unhandled error on GET /broken" in caplog.text and "RuntimeError: boom" in caplog.text
    response = await client.post("/big", data=b"x" * 100)  # aiohttp's own 413, in our shape
    assert response.status == 413 and (await response.json())["error"]["code"] == "payload_too_large"


async def test_settings_change_reaches_a_running_server_within_5s(stack, db_url):
    user = stack.user(71)
    before = await (await stack.get("/api/config", user)).json()
    assert before["min_stars"] == 1
    other = open_database(db_url)  # another process's view: `tondonate config set`
    await other.start()
    try:
        await set_setting(other, "donations.min_stars", 5)
    finally:
        await other.stop()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if (await (await stack.get("/api/config", user)).json())["min_stars"] == 5:
            break
        await asyncio.sleep(0.2)
    else:
        raise AssertionError("the running server did not see the new setting within 5 s")


async def test_webhook_mode_receives_updates_with_the_secret(make_config, botapi):
    server = TestServer(
        create_app(
            make_config(
                bot={"mode": "webhook", "webhook_url": "http://placeholder/tg/hook", "webhook_secret": "s3cret"}
            )
        )
    )
    # The webhook URL needs the port, known only once the server listens: set it after start.
    await server.start_server()
    try:
        app = server.app
        url = str(server.make_url("/tg/hook"))
        await app[appkeys.BOT].bot.set_webhook(url, secret_token="s3cret")
        user = botapi.make_user(901, first_name="Hook")
        botapi.send_text(user, "/start")
        call = await botapi.wait_for_call("sendMessage", timeout=10)
        assert call["chat_id"] == 901
        # A request without the secret is refused.
        async with aiohttp.ClientSession() as session, session.post(url, json={"update_id": 1}) as response:
            assert response.status == 401
    finally:
        await server.close()


async def _raw_exchange(port: int, request: bytes) -> tuple[str, dict, bytes]:
    """Send bytes as they are (no client library would send these) and read the answer."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request)
    await writer.drain()
    raw = await asyncio.wait_for(reader.read(), timeout=10)  # the server closes after an unreadable request
    writer.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    status, *lines = head.decode("latin-1").split("\r\n")
    return status, {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}, body


async def test_requests_aiohttp_cannot_parse_get_the_standard_json_error(make_config, unused_tcp_port):
    from tondonate.api.errors import JsonErrorsAppRunner

    runner = JsonErrorsAppRunner(create_app(make_config(), run_bot=False), access_log=None)
    await runner.setup()
    port = unused_tcp_port
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        oversized = b"tma " + b"a" * 9000  # over aiohttp's 8190-byte header limit
        for request in (
            b"GET /api/me HTTP/1.1\r\nHost: x\r\nAuthorization: " + oversized + b"\r\n\r\n",
            b"GET /api/" + b"x" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
            b"GET /api/me HTTP/1.1\r\nHost: x\r\nNo colon here\r\n\r\n",
            b"\x16\x03\x01 not http at all\r\n\r\n",  # TLS spoken to the plain HTTP port
        ):
            status, headers, body = await _raw_exchange(port, request)
            assert status.split()[1] == "400", (request[:40], status, body[:200])
            assert headers["content-type"].startswith("application/json")
            error = orjson.loads(body)["error"]
            assert error["code"] == "bad_request"
            assert error["message"].startswith("The HTTP request could not be read: ")
            assert len(error["message"]) < 300, "the offending bytes are not echoed back whole"
        # ...and the connection after them still serves normally.
        status, headers, body = await _raw_exchange(
            port, b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        assert status.split()[1] == "200" and orjson.loads(body) == {"status": "ok"}
    finally:
        await runner.cleanup()


async def test_unreadable_paths_are_not_a_500(stack):
    """A NUL byte or a name too long for the file system is a page or asset that does not exist."""
    long_name = "a" * 5000
    for path, status in (
        ("/index.html%00.js", 200),  # not under assets/: the app's index, as for any unknown page
        ("/%00", 200),
        ("/" + long_name, 200),  # ENAMETOOLONG from the file system
        ("/" + "a/" * 2100 + "b", 200),  # a path beyond PATH_MAX, of short names
        ("/assets/x%00.js", 404),  # an asset that cannot exist
        ("/assets/" + long_name + ".js", 404),
    ):
        response = await stack.client.get(path)
        text = await response.text()
        assert response.status == status, (path[:40], response.status, text[:200])
        if status == 200:
            assert response.content_type == "text/html" and "<!doctype html>" in text.lower()
        else:
            assert response.content_type == "application/json" and '"not_found"' in text
