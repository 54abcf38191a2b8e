"""`tondonate demo` as a visitor uses it: a real process, the host page in Chromium.

The browser tests drive ``$TONDONATE_TEST_CHROMIUM`` (default
``/usr/bin/chromium``) through Python Playwright; ``playwright install`` is never
needed.  Chromium missing: with the variable unset they skip (saying why); with
it set (CI) they fail.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from decimal import Decimal
from pathlib import Path

import pytest

from tondonate.demo import demo_token
from tondonate.emulator import sign_init_data

CHROMIUM_ENV = "TONDONATE_TEST_CHROMIUM"
CHROMIUM_DEFAULT = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
STARTUP_BUDGET = 5.0  # seconds from process start to the page answering (the bar)
BOT_BUDGET = 20.0  # ...and to the bot polling, which starts after the page (importing aiogram: 4-5 s)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _cpu_seconds(pid: int) -> float | None:
    """utime + stime of a live process (Linux /proc), None elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


class Demo:
    """A running ``python -m tondonate demo`` in a scratch cwd and TMPDIR."""

    def __init__(self, tmp_path: Path):
        self.cwd = tmp_path / "cwd"
        self.tmpdir = tmp_path / "tmp"
        self.cwd.mkdir()
        self.tmpdir.mkdir()
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        env = {k: v for k, v in os.environ.items() if not k.startswith("TONDONATE_")}
        env["TMPDIR"] = str(self.tmpdir)
        started = self.started = time.monotonic()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tondonate", "demo", "--port", str(self.port)],
            cwd=self.cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            self._wait_until_answering(started)
        except BaseException:
            self.stop()
            raise
        self.cpu_seconds = _cpu_seconds(self.proc.pid)
        self.lines = [self.proc.stdout.readline().rstrip("\n") for _ in range(2)]

    def _wait_until_answering(self, started: float, timeout: float = 60.0) -> None:
        while time.monotonic() - started < timeout:
            if self.proc.poll() is not None:
                raise AssertionError(f"demo exited with {self.proc.returncode}: {self.proc.stderr.read()}")
            try:
                with urllib.request.urlopen(self.url, timeout=1) as response:
                    if response.status == 200:
                        self.startup_seconds = time.monotonic() - started
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.02)
        raise AssertionError(f"the demo did not answer within {timeout:.0f} s")

    def wait_for_bot(self, timeout: float = 60.0) -> float:
        """Seconds from launch until the demo's bot is up (the host page's state says)."""
        while time.monotonic() - self.started < timeout:
            status, state = self.request("GET", "/demo/api/state")
            if status == 200 and state["bot_ready"]:
                return time.monotonic() - self.started
            time.sleep(0.05)
        raise AssertionError(f"the demo's bot did not start within {timeout:.0f} s")

    def request(
        self, method: str, path: str, body: dict | None = None, base: str | None = None, headers: dict | None = None
    ):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(
            (base or self.url).rstrip("/") + path,
            data=data,
            method=method,
            headers={"Content-Type": "application/json", **(headers or {})},
        )
        try:
            with urllib.request.urlopen(req, timeout=10) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"null")

    def user(self, tg_id: int) -> dict:
        status, body = self.request("GET", "/demo/api/users")
        assert status == 200, body
        for group in body["groups"]:
            for user in group["users"]:
                if user["id"] == tg_id:
                    return user
        raise AssertionError(f"user {tg_id} is not listed: {body}")

    def stop(self, sig: int = signal.SIGINT, timeout: float = 10.0) -> float:
        """Signal the demo and wait; returns how long it took to exit."""
        started = time.monotonic()
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return time.monotonic() - started


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    running = Demo(tmp_path_factory.mktemp("demo"))
    yield running
    running.stop()


@pytest.fixture(scope="module")
def chromium():
    configured = os.environ.get(CHROMIUM_ENV, "").strip()
    path = configured or CHROMIUM_DEFAULT
    problem = None
    if not os.access(path, os.X_OK):
        problem = f"no Chromium at {path}"
    else:
        try:
            import playwright.async_api  # noqa: F401
        except ImportError as exc:
            problem = f"Python playwright is not installed ({exc})"
    if problem:
        if configured:
            pytest.fail(f"{problem} ({CHROMIUM_ENV} is set, so this is an error)", pytrace=False)
        pytest.skip(f"{problem} (set {CHROMIUM_ENV} to require it)")
    return path


# -- start-up, output, clean stop ----------------------------------------------------------


def test_demo_starts_quickly_prints_the_url_and_stops_leaving_nothing(tmp_path):
    running = Demo(tmp_path)
    try:
        url_line, hint = running.lines
        assert url_line.startswith(f"tondonate demo: open {running.url} "), url_line
        assert "Ctrl-C" in hint
        # The page, its API and the real app (on its own port) all answer.
        with urllib.request.urlopen(running.url, timeout=5) as response:
            page = response.read().decode()
        assert "tondonate" in page and "host.js" in page
        status, state = running.request("GET", "/demo/api/state")
        assert status == 200 and state["default_user_id"] and state["bot_failed"] is None
        app = f"http://127.0.0.1:{state['app_port']}"
        assert running.request("GET", "/healthz", base=app) == (200, {"status": "ok"})
        bot_seconds = running.wait_for_bot()
        # The temporary database lives in TMPDIR while the demo runs...
        [workdir] = running.tmpdir.iterdir()
        assert workdir.name.startswith("tondonate-demo-") and (workdir / "demo.db").is_file()
    finally:
        stop_seconds = running.stop(signal.SIGINT)
    stdout, stderr = running.proc.communicate()
    assert running.proc.returncode == 0, stderr
    assert stop_seconds < 5, f"took {stop_seconds:.1f} s to stop"
    assert "stopped" in stdout and "Traceback" not in stderr
    # ...and nothing is left anywhere: no database in the cwd, no temporary files.
    assert list(running.tmpdir.iterdir()) == []
    assert list(running.cwd.iterdir()) == []

    seconds, cpu = running.startup_seconds, running.cpu_seconds
    print(f"demo answered after {seconds:.2f} s, having used {cpu} s of CPU; its bot polled after {bot_seconds:.2f} s")
    # Measured by hand on a free 2-core machine: the page answers after 0.9-1.5 s and the bot
    # (importing aiogram, 4-5 s of CPU, in the background) polls after 4-7 s.  A test run shares
    # the cores with pytest and its PostgreSQL helpers: the 5 s bar still leaves the page 3x room.
    load, cores = os.getloadavg()[0], os.cpu_count() or 1
    measured = f"answered after {seconds:.1f} s using {cpu} s of CPU (load {load:.1f} on {cores} cores)"
    assert seconds < STARTUP_BUDGET, f"the demo {measured}; the goal is {STARTUP_BUDGET:.0f} s"
    assert bot_seconds < BOT_BUDGET, f"the demo's bot polled after {bot_seconds:.1f} s"


def test_a_busy_port_fails_at_once_with_a_clear_message(tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        started = time.monotonic()
        result = subprocess.run(
            [sys.executable, "-m", "tondonate", "demo", "--port", str(port)],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr and "--port" in result.stderr
    assert time.monotonic() - started < 5
    assert list(tmp_path.iterdir()) == []


# -- demo initData is worthless outside the demo -------------------------------------------


def test_demo_tokens_are_fresh_each_run():
    first, second = demo_token(), demo_token()
    assert first != second
    assert re.fullmatch(r"\d{10}:DEMO[\w-]+", first)


async def test_serve_rejects_initdata_signed_by_the_demo(demo, stack):
    state = demo.request("GET", "/demo/api/state")[1]
    status, launched = demo.request("POST", "/demo/api/launch", {"user_id": state["default_user_id"]})
    assert status == 200, launched
    auth = {"Authorization": "tma " + launched["init_data"]}
    app = f"http://127.0.0.1:{state['app_port']}"
    # Valid where it was made: the demo's own app accepts it...
    status, me = demo.request("GET", "/api/me", base=app, headers=auth)
    assert status == 200 and me["tg_id"] == launched["user"]["id"]
    # ...and a normal app (another token, as every real `serve` has) refuses it.
    response = await stack.client.get("/api/me", headers=auth)
    assert response.status == 401
    assert (await response.json())["error"]["code"] == "invalid_init_data_hash"
    # So does it any initData signed with any demo token.
    forged = sign_init_data(demo_token(), {"id": 42, "first_name": "Mallory"})
    response = await stack.client.get("/api/me", headers={"Authorization": f"tma {forged}"})
    assert response.status == 401


def test_the_host_api_validates_its_input(demo):
    assert demo.request("POST", "/demo/api/launch", {"user_id": "x"})[0] == 400
    assert demo.request("POST", "/demo/api/launch", {"user_id": 1})[0] == 404
    assert demo.request("POST", "/demo/api/launch", {"new": True, "start_param": "bad param!"})[0] == 400
    assert demo.request("GET", "/demo/api/invoice/nope")[0] == 404
    assert demo.request("POST", "/demo/api/pay", {"slug": "nope", "user_id": 5})[0] == 400


# -- the Done-when scenario in Chromium ------------------------------------------------------


def _tons(demo: Demo, tg_id: int) -> Decimal:
    return Decimal(demo.user(tg_id)["tons"])


async def _referral_count(frame, tg_id: int) -> int:
    """The referral count on a user's «Топ рефералов» row."""
    sub = frame.locator(f'[data-testid="row-{tg_id}"] .row-sub')
    await sub.wait_for()
    return int(re.sub(r"\D", "", await sub.inner_text()))


async def test_act_donate_cancel_and_invite_a_friend_in_chromium(demo, chromium):
    from playwright.async_api import async_playwright, expect

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page(viewport={"width": 1200, "height": 900})
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            await page.goto(demo.url)
            acting = page.get_by_test_id("acting-user")
            await expect(acting).to_have_attribute("data-user-id", re.compile(r"^\d+$"))
            first = int(await acting.get_attribute("data-user-id"))
            # The user list says "N referrals" in words: no emoji a system font may lack.
            options = await page.locator("#user-select option").all_inner_texts()
            assert options and all(re.search(r" · \d+ referrals?$", o) and "👥" not in o for o in options), options[:3]
            app = page.frame_locator('[data-testid="miniapp"]')
            me = app.get_by_test_id("me-block")
            await expect(me).to_have_attribute("data-rank", re.compile(r"^\d+$"), timeout=15_000)
            rank_before = int(await me.get_attribute("data-rank"))
            tons_before = _tons(demo, first)

            # Donate through a package: the payment sheet, Pay, the bot credits, the rank moves up.
            await app.get_by_test_id("topup").click()
            await app.get_by_test_id("preset-place1").click()
            # The invoice waits for the bot, which may still be starting (aiogram's import: 7 s here).
            await expect(page.get_by_test_id("pay-sheet")).to_be_visible(timeout=60_000)
            await expect(page.get_by_test_id("invoice-amount")).to_contain_text("100")
            await page.get_by_test_id("pay-button").click()
            await expect(app.locator('[data-testid="thanks"][data-result="credited"]')).to_be_visible(timeout=20_000)
            await app.get_by_test_id("thanks-done").click()
            await expect(me).not_to_have_attribute("data-rank", str(rank_before))
            rank_after = int(await me.get_attribute("data-rank"))
            assert rank_after < rank_before
            assert _tons(demo, first) == tons_before + 100
            await expect(page.get_by_test_id("bot-message")).to_be_visible(timeout=10_000)  # the bot's thank-you
            # The page said where the bot stood while it started; it is up by now.
            await expect(page.get_by_test_id("bot-status")).to_have_attribute("data-state", "ready", timeout=5_000)
            await expect(page.get_by_test_id("bot-status")).to_have_text("Bot online")

            # Cancel a payment: the app says so and nothing is credited.
            await app.get_by_test_id("topup").click()
            await app.get_by_test_id("preset-place1").click()
            await expect(page.get_by_test_id("pay-sheet")).to_be_visible()
            await page.get_by_test_id("pay-cancel").click()
            await expect(page.get_by_test_id("pay-sheet")).to_be_hidden()
            await expect(app.get_by_test_id("topup-message")).to_have_attribute("data-kind", "cancelled")
            await app.get_by_test_id("modal-close").click()
            await page.wait_for_timeout(1200)  # longer than the read model's poll
            assert _tons(demo, first) == tons_before + 100
            await expect(me).to_have_attribute("data-rank", str(rank_after))

            # Theme switch reaches the Mini App as theme_changed.
            await page.get_by_test_id("theme-dark").click()
            html = app.locator("html")
            await expect(html).to_have_attribute("style", re.compile(r"--tg-theme-bg-color:\s*#212121"))

            # Invite: the share sheet offers the referral link; open it as a brand-new friend.
            await app.get_by_test_id("tab-referrals").click()
            count_before = await _referral_count(app, first)
            await app.get_by_test_id("invite").click()
            await expect(page.get_by_test_id("share-toast-link")).to_contain_text(f"startapp=ref_{first}")
            await page.get_by_test_id("open-as-friend").click()
            await expect(acting).to_have_attribute("data-start-param", f"ref_{first}")
            friend = int(await acting.get_attribute("data-user-id"))
            assert friend != first
            await expect(app.get_by_test_id("me-block")).to_be_visible()
            # The friend's first visit registers them under the referrer; the board shows it.
            deadline = time.monotonic() + 10
            while True:
                await app.get_by_test_id("tab-referrals").click()
                count = await _referral_count(app, first)
                if count == count_before + 1 or time.monotonic() > deadline:
                    break
                await app.get_by_test_id("tab-all").click()
                await page.wait_for_timeout(300)
            assert count == count_before + 1
            assert demo.user(first)["referrals"] == count_before + 1
            assert not errors, errors
        finally:
            await browser.close()


def test_demo_host_and_app_port_options(tmp_path, monkeypatch):
    """--host and --app-port reach the listening sockets; a host other than loopback is warned about."""
    from click.testing import CliRunner

    from tondonate.cli import cli

    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["demo", "--host", "192.0.2.1", "--port", "0"], catch_exceptions=False)
    assert result.exit_code == 1 and "cannot listen on 192.0.2.1:0" in result.output, result.output
    assert "anyone who can reach this machine" in result.output
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        quiet = CliRunner().invoke(cli, ["demo", "--port", "0", "--app-port", str(port)], catch_exceptions=False)
    assert "anyone" not in quiet.output and f"cannot listen on 127.0.0.1:{port}" in quiet.output, quiet.output


@pytest.mark.parametrize("theme", ["Dark"])
async def test_the_phone_frame_has_no_square_corners(demo, chromium, theme):
    """At 1280×800 the Mini App's iframe (another origin: composited without the phone's rounded
    clip) must not show square corners below the frame's rounded bottom edge.  (A guard: the leak
    showed in a desktop Chromium and a plain headless one, not reliably under this test's flags.)"""
    from playwright.async_api import async_playwright, expect

    async with async_playwright() as pw:
        # With GPU compositing as a desktop browser has it (the leak does not show with --disable-gpu).
        args = [arg for arg in CHROMIUM_ARGS if arg != "--disable-gpu"]
        browser = await pw.chromium.launch(executable_path=chromium, args=args)
        try:
            page = await browser.new_page(viewport={"width": 1280, "height": 800}, color_scheme=theme.lower())
            await page.goto(demo.url)
            await page.get_by_text(theme, exact=True).click()
            app = page.frame_locator('[data-testid="miniapp"]')
            await expect(app.get_by_test_id("me-block")).to_be_visible(timeout=15_000)
            await page.wait_for_timeout(3000)  # the app settled: its dock and entrance animations done
            box = await page.get_by_test_id("phone").bounding_box()
            for x in (box["x"] + 10, box["x"] + box["width"] - 10 - 16):  # the inner corners, bottom left and right
                clip = {"x": x, "y": box["y"] + box["height"] - 10 - 16, "width": 16, "height": 16}
                pixels = _png_pixels(await page.screenshot(clip=clip))
                # The outermost pixel of the corner square lies outside the 36 px inner curve: the frame's black.
                corner = pixels[12][2 if x == box["x"] + 10 else 13]
                assert max(corner) < 80, (theme, x, corner)  # the frame's near-black, not the app's background
        finally:
            await browser.close()


def _png_pixels(png: bytes) -> list[list[tuple[int, int, int]]]:
    """Rows of RGB pixels of an 8-bit RGB or RGBA PNG (what Chromium's screenshots are)."""
    import struct
    import zlib

    pos, data, width, height, channels = 8, b"", 0, 0, 4
    while pos < len(png):
        length, kind = struct.unpack(">I4s", png[pos : pos + 8])
        chunk = png[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            width, height, _depth, color = struct.unpack(">IIBB", chunk[:10])
            channels = {2: 3, 6: 4}[color]
        elif kind == b"IDAT":
            data += chunk
        pos += 12 + length
    raw, stride, rows, prev = zlib.decompress(data), width * channels, [], bytearray(width * channels)
    for y in range(height):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - channels] if i >= channels else 0
            b, c = prev[i], prev[i - channels] if i >= channels else 0
            if kind == 1:
                line[i] = (line[i] + a) & 255
            elif kind == 2:
                line[i] = (line[i] + b) & 255
            elif kind == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append([tuple(line[i : i + 3]) for i in range(0, stride, channels)])
        prev = line
    return rows
