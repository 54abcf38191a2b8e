"""`tondonate doctor` against the Bot API emulator, a real database and the Mini App
served over HTTPS (a self-signed certificate made by openssl, trusted through SSL_CERT_FILE)."""

from __future__ import annotations

import asyncio
import re
import shutil
import ssl
import subprocess

import aiohttp
import pytest
from aiohttp import web
from click.testing import CliRunner
from conftest import TOKEN
from offline import write_offline_toml

from tondonate.cli import cli
from tondonate.db import open_database
from tondonate.server.static import setup_static

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is needed for the HTTPS Mini App")


@pytest.fixture
def certificate(tmp_path, monkeypatch):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=localhost"]
        + ["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # doctor's TLS context trusts it
    return cert, key


@pytest.fixture
async def serve_https(certificate):
    """Factory: a bundle (default: the installed one) served by tondonate's static handler over HTTPS."""
    runners = []

    async def serve(root=None) -> str:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(*certificate)
        app = web.Application()
        setup_static(app, root)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        runners.append(runner)
        await web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context).start()
        return f"https://localhost:{runner.addresses[0][1]}/"

    yield serve
    for runner in runners:
        await runner.cleanup()


@pytest.fixture
async def webapp_url(serve_https):
    return await serve_https()


@pytest.fixture
async def setup(tmp_path, monkeypatch, botapi, webapp_url, db_url):
    """A correct deployment: migrated database, token, HTTPS Mini App, menu button on it, polling."""
    monkeypatch.chdir(tmp_path)
    write_offline_toml(tmp_path)  # the static rate: no TON price source on the internet
    env = {
        "TONDONATE_BOT_TOKEN": TOKEN,
        "TONDONATE_BOT_API_BASE": botapi.base_url,
        "TONDONATE_DB_URL": db_url,
        "TONDONATE_WEBAPP_URL": webapp_url,
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    await bot_api(
        botapi, "setChatMenuButton", menu_button={"type": "web_app", "text": "Open", "web_app": {"url": webapp_url}}
    )
    return botapi


async def bot_api(botapi, method, **params):
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{botapi.base_url}/bot{TOKEN}/{method}", json=params) as response,
    ):
        body = await response.json()
    assert body["ok"], body
    return body["result"]


async def doctor(*args):
    """The CLI in a thread (it runs its own event loop); (exit code, {name: (status, detail)})."""
    result = await asyncio.to_thread(CliRunner().invoke, cli, ["doctor", *args], catch_exceptions=False)
    checks = {}
    for line in result.output.splitlines():
        match = re.fullmatch(r"(ok|WARN|FAIL) ([a-z ]+): (.*)", line)
        if match:
            checks[match[2]] = (match[1], match[3])
    return result.exit_code, checks, result.output


async def test_a_correct_setup_passes_and_records_the_bot(setup):
    code, checks, output = await doctor()
    assert code == 0, output
    assert set(checks) == {"token", "clock", "database", "bot", "db check", "rate", "webapp", "menu button", "webhook"}
    assert all(status == "ok" for status, _ in checks.values()), output
    assert checks["token"][1] == "@tondonate_test_bot (id 123456)"
    assert "recorded" in checks["bot"][1]
    assert output.splitlines()[-1] == "9 ok, 0 warning(s), 0 failure(s)"
    again_code, again, _ = await doctor()
    assert again_code == 0 and again["bot"] == ("ok", "the database belongs to this bot (id 123456)")


async def test_wrong_token_fails(setup, monkeypatch):
    monkeypatch.setenv("TONDONATE_BOT_TOKEN", "123456:WRONG")
    code, checks, _ = await doctor()
    assert code == 1 and checks["token"][0] == "FAIL" and "401 Unauthorized" in checks["token"][1]
    assert "WRONG" not in _


async def test_token_of_another_bot_than_the_database_saw_fails(setup, db_url):
    db = open_database(db_url)
    await db.start()
    await db.execute("INSERT INTO sync_state (name, value, updated_at) VALUES ('bot.id', '999', 0)")
    await db.stop()
    code, checks, _ = await doctor()
    assert code == 1 and checks["bot"][0] == "FAIL"
    assert "belongs to bot id 999" in checks["bot"][1] and checks["token"][0] == "ok"


async def test_http_webapp_url_fails(setup, monkeypatch, webapp_url):
    monkeypatch.setenv("TONDONATE_WEBAPP_URL", webapp_url.replace("https://", "http://"))
    code, checks, _ = await doctor()
    assert code == 1 and checks["webapp"][0] == "FAIL" and "not HTTPS" in checks["webapp"][1]


async def test_webapp_url_serving_something_else_fails(setup, monkeypatch, webapp_url, tmp_path):
    monkeypatch.setenv("TONDONATE_WEBAPP_URL", "https://localhost:1/")  # nothing listens
    code, checks, _ = await doctor()
    assert code == 1 and checks["webapp"][0] == "FAIL" and "failed" in checks["webapp"][1]


async def test_another_build_of_the_mini_app_warns_and_another_page_fails(setup, monkeypatch, serve_https, tmp_path):
    from tondonate.server.static import bundle_dir

    older = tmp_path / "older"
    older.mkdir()
    html = (bundle_dir() / "index.html").read_text()
    (older / "index.html").write_text(re.sub(r"index-[\w-]+\.js", "index-0ld8uild.js", html))
    monkeypatch.setenv("TONDONATE_WEBAPP_URL", await serve_https(older))
    code, checks, _ = await doctor()
    assert code == 0 and checks["webapp"][0] == "WARN" and "another build" in checks["webapp"][1]
    other = tmp_path / "other"
    other.mkdir()
    (other / "index.html").write_text("<!doctype html><title>Welcome to nginx!</title>")
    monkeypatch.setenv("TONDONATE_WEBAPP_URL", await serve_https(other))
    code, checks, _ = await doctor()
    assert code == 1 and checks["webapp"][0] == "FAIL" and "not the tondonate Mini App" in checks["webapp"][1]


async def test_menu_button_elsewhere_warns(setup):
    await bot_api(
        setup,
        "setChatMenuButton",
        menu_button={"type": "web_app", "text": "Old", "web_app": {"url": "https://old.example/"}},
    )
    code, checks, _ = await doctor()
    assert code == 0 and checks["menu button"][0] == "WARN" and "https://old.example/" in checks["menu button"][1]
    await bot_api(setup, "setChatMenuButton", menu_button={"type": "commands"})
    code, checks, _ = await doctor()
    assert code == 0 and checks["menu button"][0] == "WARN" and "'commands'" in checks["menu button"][1]


async def test_webhook_set_while_polling_fails(setup):
    await bot_api(setup, "setWebhook", url="https://elsewhere.example/hook")
    code, checks, _ = await doctor()
    assert code == 1 and checks["webhook"][0] == "FAIL"
    assert "https://elsewhere.example/hook" in checks["webhook"][1] and "polling" in checks["webhook"][1]


async def test_pending_updates_piling_up_warn(setup):
    user = setup.make_user(5)
    for i in range(100):
        setup.send_text(user, f"hello {i}")
    code, checks, _ = await doctor()
    assert code == 0 and checks["webhook"][0] == "WARN" and "100 update(s) waiting" in checks["webhook"][1]


async def test_clock_skew_warns(setup):
    setup.clock_skew = 120
    code, checks, _ = await doctor()
    assert code == 0 and checks["clock"][0] == "WARN" and "behind Telegram" in checks["clock"][1]


async def test_unmigrated_database_fails(setup, monkeypatch, tmp_path):
    empty = tmp_path / "empty.db"
    empty.touch()
    monkeypatch.setenv("TONDONATE_DB_URL", f"sqlite:///{empty}")
    code, checks, _ = await doctor()
    assert code == 1 and checks["database"][0] == "FAIL" and "pending migration" in checks["database"][1]
    assert "bot" not in checks and "db check" not in checks  # not checked on an unmigrated database


async def test_missing_sqlite_file_fails_and_is_not_created(setup, monkeypatch, tmp_path):
    missing = tmp_path / "missing.db"
    monkeypatch.setenv("TONDONATE_DB_URL", f"sqlite:///{missing}")
    code, checks, _ = await doctor()
    assert code == 1 and "does not exist" in checks["database"][1] and not missing.exists()


async def test_db_check_differences_fail(setup, db_url):
    db = open_database(db_url)
    await db.start()
    await db.execute("INSERT INTO users (tg_id, first_name, created_at) VALUES (7, 'x', 0)")
    await db.execute("INSERT INTO user_totals (tg_id, tons, stars, donations, reached_at) VALUES (7, 5, 5, 1, 0)")
    await db.stop()
    code, checks, _ = await doctor()
    assert code == 1 and checks["db check"][0] == "FAIL" and "user_totals" in checks["db check"][1]


def test_help_lists_the_checks():
    result = CliRunner().invoke(cli, ["doctor", "--help"])
    assert result.exit_code == 0 and "ok|WARN|FAIL" in result.output and "menu button" in result.output


async def test_webhook_mode(setup, monkeypatch):
    hook = "https://donate.example/telegram/webhook"
    monkeypatch.setenv("TONDONATE_BOT_MODE", "webhook")
    monkeypatch.setenv("TONDONATE_BOT_WEBHOOK_URL", hook)
    code, checks, _ = await doctor()
    assert code == 0 and checks["webhook"][0] == "WARN" and "is it running?" in checks["webhook"][1]
    await bot_api(setup, "setWebhook", url=hook)
    code, checks, _ = await doctor()
    assert code == 0 and checks["webhook"] == ("ok", f"{hook}, 0 update(s) waiting")
    await bot_api(setup, "setWebhook", url="https://other.example/hook")
    code, checks, _ = await doctor()
    assert code == 1 and checks["webhook"][0] == "FAIL" and "another deployment" in checks["webhook"][1]


@pytest.fixture
async def rate_source(aiohttp_server):
    """A rate API: /ok answers {"price": "0.5"}, /down a 500."""

    async def ok(request):
        return web.json_response({"price": "0.5"})

    async def down(request):
        return web.Response(status=500)

    app = web.Application()
    app.router.add_get("/ok", ok)
    app.router.add_get("/down", down)
    server = await aiohttp_server(app)
    return f"http://127.0.0.1:{server.port}"


async def test_rate_source(setup, rate_source):
    async def config_set(key, value):
        result = await asyncio.to_thread(CliRunner().invoke, cli, ["config", "set", key, value])
        assert result.exit_code == 0, result.output

    await config_set("rate.url", f"{rate_source}/down")
    await config_set("rate.json_path", "price")
    await config_set("rate.provider", "http_json")
    code, checks, _ = await doctor()
    assert code == 1 and checks["rate"][0] == "FAIL" and "no rate was ever stored" in checks["rate"][1]
    await config_set("rate.url", f"{rate_source}/ok")
    code, checks, _ = await doctor()
    assert code == 0 and checks["rate"] == ("ok", f"0.5 tons per Star from {rate_source}/ok")
    await config_set("rate.url", f"{rate_source}/down")
    code, checks, _ = await doctor()
    assert code == 0 and checks["rate"][0] == "WARN" and f"0.5 tons per Star from {rate_source}/ok" in checks["rate"][1]
