"""`tondonate serve` as an operator runs it: env vars only, a real process, SIGTERM."""

import asyncio
import os
import signal
import socket
import sys
import time

import aiohttp
import pytest
from conftest import TOKEN
from offline import write_offline_toml


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def wait_healthy(
    url: str, proc, timeout: float = 60.0
) -> dict:  # a start imports aiogram: 7 s here, more under load
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            if proc.returncode is not None:
                raise AssertionError(f"serve exited early with {proc.returncode}")
            try:
                async with session.get(url) as response:
                    if response.status == 200:
                        return await response.json()
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise AssertionError("serve did not become healthy in time")


async def start_serve(tmp_path, botapi, db_url, port, **extra_env):
    write_offline_toml(tmp_path)
    env = {
        **os.environ,
        "TONDONATE_BOT_TOKEN": TOKEN,
        "TONDONATE_BOT_API_BASE": botapi.base_url,
        "TONDONATE_DB_URL": db_url,
        "TONDONATE_HTTP_PORT": str(port),
        **extra_env,
    }
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tondonate",
        "serve",
        cwd=tmp_path,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def stop_serve(proc, sig=signal.SIGTERM, timeout: float = 10) -> tuple[int, float]:
    """Send ``sig`` and wait for the exit: (exit code, seconds it took)."""
    started = time.monotonic()
    proc.send_signal(sig)
    returncode = await asyncio.wait_for(proc.wait(), timeout=timeout)
    return returncode, time.monotonic() - started


async def stderr_of(proc) -> str:
    """What ``proc`` wrote to stderr, once it is gone (killed here if a test failed before stopping it)."""
    if proc.returncode is None:
        proc.kill()
        await proc.wait()
    return (await proc.stderr.read()).decode()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
async def test_serve_polls_answers_health_and_stops_on_signal(tmp_path, botapi, sig):
    port = free_port()
    db_url = f"sqlite:///{tmp_path / 'serve.db'}"  # not migrated: serve migrates first
    proc = await start_serve(tmp_path, botapi, db_url, port)
    try:
        assert await wait_healthy(f"http://127.0.0.1:{port}/healthz", proc) == {"status": "ok"}
        # A request aiohttp cannot parse is answered in the standard JSON shape too (errors.JsonErrorsAppRunner).
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"http://127.0.0.1:{port}/api/me", headers={"Authorization": "tma " + "a" * 9000}) as r,
        ):
            assert r.status == 400 and (await r.json())["error"]["code"] == "bad_request"
        await botapi.wait_for_call("getUpdates", timeout=10)
        # The bot really answers: /start through long polling reaches our handler.
        user = {"id": 555, "is_bot": False, "first_name": "Op", "language_code": "en"}
        botapi.send_text(user, "/start")
        await botapi.wait_for_call("sendMessage", timeout=10)
        returncode, elapsed = await stop_serve(proc, sig)
    finally:
        stderr = await stderr_of(proc)
    assert returncode == 0, stderr
    assert elapsed < 5, f"took {elapsed:.1f}s to stop"
    assert TOKEN not in stderr and TOKEN.split(":")[1] not in stderr
    assert "stopped" in stderr
    # No webapp.url: said at start-up, before anyone sends /start.
    assert "webapp.url is not set" in stderr.split("tondonate serving on")[0], stderr


async def test_serve_with_a_rejected_token_fails_clearly(tmp_path, botapi):
    port = free_port()
    proc = await start_serve(
        tmp_path, botapi, f"sqlite:///{tmp_path / 'x.db'}", port, TONDONATE_BOT_TOKEN="999:WRONG-token"
    )
    returncode = await asyncio.wait_for(proc.wait(), timeout=60)
    stderr = (await proc.stderr.read()).decode()
    assert returncode == 1
    assert "rejected bot.token" in stderr and "WRONG-token" not in stderr and "Traceback" not in stderr


async def test_serve_on_a_busy_port_fails_clearly(tmp_path, botapi):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        proc = await start_serve(tmp_path, botapi, f"sqlite:///{tmp_path / 'x.db'}", port)
        returncode = await asyncio.wait_for(proc.wait(), timeout=60)
    stderr = (await proc.stderr.read()).decode()
    assert returncode == 1 and "cannot listen" in stderr, stderr


async def test_serve_stopped_while_telegram_hangs_exits_quietly(tmp_path, botapi):
    """SIGTERM while getMe is still waiting for an unreachable Telegram: a quiet exit 0, promptly."""
    botapi.hold("getMe")  # Telegram accepts the connection and never answers
    port = free_port()
    proc = await start_serve(tmp_path, botapi, f"sqlite:///{tmp_path / 'x.db'}", port)
    try:
        await botapi.wait_for_call("getMe", timeout=60)
        returncode, elapsed = await stop_serve(proc, timeout=30)
    finally:
        stderr = await stderr_of(proc)
    assert returncode == 0, stderr
    assert "Traceback" not in stderr and "stopped" in stderr, stderr
    assert elapsed < 5, f"took {elapsed:.1f}s to stop"


async def test_serve_stopped_while_telegram_fails_exits_quietly(tmp_path, botapi):
    """getMe, getUpdates and the reconcile all failing (retrying): SIGTERM still stops with 0 and no traceback."""
    for method in ("getMe", "getUpdates", "getStarTransactions"):
        botapi.fail_next(method, 502, times=1000)
    port = free_port()
    proc = await start_serve(tmp_path, botapi, f"sqlite:///{tmp_path / 'x.db'}", port)
    try:
        await wait_healthy(f"http://127.0.0.1:{port}/healthz", proc, timeout=60)
        await botapi.wait_for_call("getStarTransactions", timeout=10)
        returncode, _ = await stop_serve(proc)
    finally:
        stderr = await stderr_of(proc)
    assert returncode == 0, stderr
    assert "Traceback" not in stderr, stderr
