"""Start the demo (database, emulated Telegram, the real app, the host page) and stop it cleanly."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import secrets
import shutil
import signal
import socket
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from aiohttp import web

log = logging.getLogger(__name__)

BOT_USERNAME = "tondonate_demo_bot"
BOT_NAME = "tondonate demo"
APP_SHORT_NAME = "app"
SHUTDOWN_TIMEOUT = 2.0


class DemoError(Exception):
    """The demo cannot start; the message says why (a busy port, a bad --db path)."""


def demo_token() -> str:
    """A bot token made up for one demo run: shaped like a real one, known to nobody else.

    The real app validates initData with its own token, so initData the demo
    signs with this one is rejected by every ``tondonate serve``.
    """
    return f"{secrets.randbelow(9 * 10**9) + 10**9}:DEMO{secrets.token_urlsafe(27)}"


@dataclasses.dataclass(frozen=True)
class DemoOptions:
    port: int = 8080
    host: str = "127.0.0.1"
    app_port: int = 0  # the Mini App's own port (0: any free one); the page frames it from there
    db_path: str | None = None  # None: a temporary database, removed on exit
    users: int = 300  # seeded into an empty database
    seed: int = 1


@dataclasses.dataclass(frozen=True)
class DemoInfo:
    """What is running, for the command to print."""

    url: str  # the host page
    app_url: str  # the real Mini App + API
    db_path: Path
    temporary: bool
    users: int  # users in the database
    seeded: int  # users this run added (0: the database already had data)
    seconds: float  # start-up time of run_demo


def _bind(host: str, port: int, hint: str = "") -> socket.socket:
    """A bound (not yet listening) socket: a busy port fails before any start-up work."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as aiohttp's TCPSite does
        sock.bind((host, port))
        sock.setblocking(False)
    except OSError as exc:
        sock.close()
        raise DemoError(f"cannot listen on {host}:{port}: {exc.strerror or exc}{hint}") from None
    return sock


def _url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"


def _install_signals(stop: asyncio.Event) -> Callable[[], None]:
    loop = asyncio.get_running_loop()
    installed = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
            installed.append(sig)
        except (NotImplementedError, RuntimeError):  # not the main thread, or Windows
            pass

    def remove() -> None:
        for sig in installed:
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(sig)

    return remove


async def run_demo(
    options: DemoOptions,
    *,
    ready: Callable[[DemoInfo], None] | None = None,
    stop: asyncio.Event | None = None,
) -> None:
    """Run the demo until SIGINT/SIGTERM (or ``stop`` is set), then stop everything.

    :class:`DemoError` when ``options.port`` cannot be bound (checked first).  A temporary
    database directory is removed on the way out, whatever happened.
    """
    started = time.perf_counter()
    stop = stop or asyncio.Event()
    async with contextlib.AsyncExitStack() as stack:
        host_sock = stack.enter_context(contextlib.closing(_bind(options.host, options.port, " (try another --port)")))
        app_sock = stack.enter_context(
            contextlib.closing(_bind(options.host, options.app_port, " (try another --app-port)"))
        )
        stack.callback(_install_signals(stop))
        if options.db_path:
            db_path, temporary = Path(options.db_path).expanduser().resolve(), False  # noqa: ASYNC240 (once, at start)
            if not db_path.parent.is_dir():
                raise DemoError(f"--db {options.db_path}: directory {db_path.parent} does not exist")
        else:
            tmp = tempfile.mkdtemp(prefix="tondonate-demo-")
            stack.callback(shutil.rmtree, tmp, ignore_errors=True)  # registered first: runs last
            db_path, temporary = Path(tmp) / "demo.db", True
        db_url = f"sqlite:///{db_path}"
        # Migrating and seeding run in a child process, on another core.  The bot starts in
        # the background (see botlife.py): importing aiogram takes 4-5 s of CPU, so the page
        # and the API answer first and an invoice asked meanwhile waits for the bot.  (Starting
        # that import here, in a thread beside the child, slows everything else in this process
        # as much as it speeds the bot: the page then answers after 2.6-4.9 s instead of 1.2-1.5 s.)
        from .prepare import (
            DEMO_SETTINGS,
            PrepareFailed,
            finish_prepare,
            start_prepare,
        )  # not at the top: the child runs it as __main__

        preparing = await start_prepare(db_url, options.users, options.seed)
        from ..bot.handle import BotIdentity
        from ..server import StartupError, create_app
        from ..server.appkeys import BOT

        try:
            total, seeded = await finish_prepare(preparing)
        except PrepareFailed as exc:
            raise DemoError(str(exc)) from None
        if stop.is_set():
            return
        from ..config import Config
        from ..emulator import BotAPIEmulator
        from ..server.http import HttpRunner
        from .host import DemoHost

        token = demo_token()
        emulator = BotAPIEmulator(token=token, bot_username=BOT_USERNAME, bot_first_name=BOT_NAME)
        await emulator.start("127.0.0.1", 0)
        stack.push_async_callback(emulator.stop)

        app_port = app_sock.getsockname()[1]
        app_url = _url(options.host, app_port)
        config = Config().replace(
            bot={"token": token, "api_base": emulator.base_url, "mode": "polling"},
            webapp={"url": app_url, "short_name": APP_SHORT_NAME},
            http={"host": options.host, "port": app_port},
            db={"url": db_url},
            settings=DEMO_SETTINGS,
        )
        app = create_app(config, bot_in_background=True)
        # Telegram's getMe answer, known up front (the emulator is Telegram here): referral
        # links work before the bot's own getMe.
        app[BOT].identity = BotIdentity(emulator.bot_user["id"], BOT_USERNAME, BOT_NAME)
        app_runner = HttpRunner(app, config.http, handle_signals=False, shutdown_timeout=SHUTDOWN_TIMEOUT)
        stack.push_async_callback(app_runner.cleanup)  # also after a failed setup, as serve does
        try:
            await app_runner.setup()
        except StartupError as exc:
            raise DemoError(str(exc)) from None
        await web.SockSite(app_runner, app_sock).start()

        host = DemoHost(app, token=token, emulator=emulator, app_port=app_port)
        await host.prepare()
        host_runner = web.AppRunner(host.make_app(), handle_signals=False, shutdown_timeout=1.0, access_log=None)
        stack.push_async_callback(host_runner.cleanup)
        await host_runner.setup()
        await web.SockSite(host_runner, host_sock).start()

        info = DemoInfo(
            url=_url(options.host, host_sock.getsockname()[1]),
            app_url=app_url,
            db_path=db_path,
            temporary=temporary,
            users=total,
            seeded=seeded,
            seconds=time.perf_counter() - started,
        )
        log.info("demo ready in %.2f s: %s (app %s, db %s)", info.seconds, info.url, app_url, db_path)
        if ready:
            ready(info)
        await stop.wait()
        log.info("stopping the demo")
