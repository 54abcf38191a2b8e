"""Instructions per request: every board and /api/me against a bare aiohttp endpoint,
counted by valgrind's callgrind instead of timed.

Run by hand (not part of the tests; Debian package ``valgrind``):

    python bench/bench_instructions.py                 # the database bench_api.py seeded
    python bench/bench_instructions.py --requests 5000 --only me

Why: requests/s on a shared 2-core machine drift by 10-50% between runs, so
bench_api.py's ratio needs many rounds and still moves.  Callgrind counts the
instructions the server executes, which hardly depend on what else the machine
is doing (three runs agreed within 0.6%; what is left is how the event loop
batches requests): a change that saves 1% of the work shows as 1%.  It cannot see time lost waiting on
memory, so it complements bench_api.py (which stays the measure the targets are
set in) rather than replacing it.

What it does: starts tondonate's app (``create_app``, the read model built from
the database; the bot object is built but does not poll, and the read model's
poll is pushed out of the window, since under valgrind's ~50x slowdown a
periodic task would be charged 50x its real share) and the bare server of
bench_api.py, each under callgrind.  For each endpoint: 300 warm-up requests,
counters zeroed, ``--requests`` requests signed as 200 different users over 10
keep-alive connections, counters dumped; the main thread's instructions divided
by the requests.  Both servers get the very same requests (path, query, headers).
Takes 5-10 minutes, mostly valgrind starting Python and importing aiogram.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_api import (  # noqa: E402
    BARE_SERVER,
    ENDPOINTS,
    FIRST_ID,
    TOKEN,
    cpu_seconds,
    db_count,
    free_port,
    wait_ok,
)

from tondonate.emulator import sign_init_data  # noqa: E402

APP_SERVER = r"""
import asyncio, os, sys
import tondonate.readmodel.model
tondonate.readmodel.model.POLL_SECONDS = 86_400  # see bench_instructions.py: out of the counted window
from aiohttp import web
from tondonate.server import create_app
from tondonate.config import load_config
from tondonate.server.http import HttpRunner

async def main(port):
    config = load_config(None, os.environ)
    app = create_app(config, run_bot=False, bot_in_background=True)
    runner = HttpRunner(app, config.http, handle_signals=False)  # as serve has it
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    await asyncio.Event().wait()

asyncio.run(main(int(sys.argv[1])))
"""


def callgrind(script: str, args: list[str], out: Path, env: dict) -> subprocess.Popen:
    return subprocess.Popen(
        [
            "valgrind",
            "--tool=callgrind",
            "--separate-threads=yes",
            f"--callgrind-out-file={out}",
            sys.executable,
            "-c",
            script,
            *args,
        ],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=open(f"{out}.log", "w"),
    )


async def settle(pid: int, label: str, timeout: float = 900) -> None:
    """Wait until the process stops using CPU (tondonate imports aiogram in a thread after it serves)."""
    deadline = time.monotonic() + timeout
    last = cpu_seconds(pid)
    while time.monotonic() < deadline:
        await asyncio.sleep(3)
        now = cpu_seconds(pid)
        if now - last < 0.05:
            return
        last = now
    raise SystemExit(f"{label} kept using CPU for {timeout:.0f} s")


async def load(url: str, headers: list[str], count: int, connections: int = 10) -> None:
    requests = iter(range(count))
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=connections)) as session:

        async def worker() -> None:
            for i in requests:
                async with session.get(url, headers={"Authorization": headers[i % len(headers)]}) as response:
                    await response.read()
                    if response.status != 200:
                        raise SystemExit(f"{url}: HTTP {response.status}")

        await asyncio.gather(*(worker() for _ in range(connections)))


async def count(pid: int, out: Path, url: str, headers: list[str], requests: int, label: str) -> float:
    """Instructions of the main thread per request, over ``requests`` requests after a warm-up."""
    await load(url, headers, 300)
    subprocess.run(["callgrind_control", "-z", str(pid)], check=True, capture_output=True)
    await load(url, headers, requests)
    before = set(out.parent.glob(f"{out.name}.*-01"))
    subprocess.run(["callgrind_control", "-d", label, str(pid)], check=True, capture_output=True)
    deadline = time.monotonic() + 60
    while not (dumped := set(out.parent.glob(f"{out.name}.*-01")) - before):
        if time.monotonic() > deadline:
            raise SystemExit(f"callgrind wrote no dump for {label}")
        await asyncio.sleep(0.2)
    await asyncio.sleep(0.5)  # let it finish writing
    text = dumped.pop().read_text()
    total = next(int(line.split()[1]) for line in text.splitlines() if line.startswith(("summary:", "totals:")))
    return total / requests


async def up(url: str, proc: subprocess.Popen, log: Path) -> None:
    """Wait for ``url`` to answer, and give up at once (with valgrind's log) if the server died."""
    waiting = asyncio.ensure_future(wait_ok(url, timeout=900))
    while not waiting.done():
        if proc.poll() is not None:
            waiting.cancel()
            raise SystemExit(f"the server under callgrind exited ({proc.returncode}):\n{log.read_text()[-3000:]}")
        await asyncio.wait([waiting], timeout=1)
    waiting.result()


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--db-url",
        default=f"sqlite:///{tempfile.gettempdir()}/tondonate-bench.db",
        help="a database seeded by bench_api.py (or tondonate dev seed)",
    )
    parser.add_argument("--requests", type=int, default=2000, help="counted requests per endpoint and server")
    parser.add_argument("--only", action="append", default=[], help="only endpoints containing this text")
    args = parser.parse_args()
    for tool in ("valgrind", "callgrind_control"):
        if not shutil.which(tool):
            raise SystemExit(f"{tool} is needed: apt-get install valgrind")
    users = db_count(args.db_url, "SELECT count(*) FROM users")
    if users < 1000:
        raise SystemExit(f"{args.db_url} has {users} users: seed it first (python bench/bench_api.py does)")

    work = Path(tempfile.mkdtemp(prefix="tondonate-callgrind-"))
    env = {
        **os.environ,
        "TONDONATE_DB_URL": args.db_url,
        "TONDONATE_BOT_TOKEN": TOKEN,
        "TONDONATE_BOT_API_BASE": "http://127.0.0.1:9/",  # no bot API: none is called
        "PYTHONPATH": str(ROOT),
        "PYTHONHASHSEED": "0",
    }  # str hashes (dict probing) alike in every run
    rng = random.Random(7)  # the users bench_api.py signs as
    headers = [
        "tma " + sign_init_data(TOKEN, {"id": FIRST_ID + rng.randrange(users), "first_name": "Bench"})
        for _ in range(200)
    ]
    port = free_port()
    ours = callgrind(APP_SERVER, [str(port)], work / "ours.out", env)
    rows = []
    try:
        started = time.monotonic()
        await up(f"http://127.0.0.1:{port}/healthz", ours, work / "ours.out.log")
        await settle(ours.pid, "tondonate")
        print(f"tondonate up under callgrind in {time.monotonic() - started:.0f} s", flush=True)
        await load(f"http://127.0.0.1:{port}/api/me", headers, len(headers))  # every first visit
        for endpoint in [e for e in ENDPOINTS if not args.only or any(o in e for o in args.only)]:
            async with (
                aiohttp.ClientSession() as session,
                session.get(f"http://127.0.0.1:{port}{endpoint}", headers={"Authorization": headers[0]}) as r,
            ):
                size = len(await r.read())
            bare_port = free_port()
            bare = callgrind(BARE_SERVER, [str(bare_port), str(size)], work / f"bare{len(rows)}.out", env)
            try:
                await up(f"http://127.0.0.1:{bare_port}/", bare, work / f"bare{len(rows)}.out.log")
                mine = await count(
                    ours.pid,
                    work / "ours.out",
                    f"http://127.0.0.1:{port}{endpoint}",
                    headers,
                    args.requests,
                    f"ours{len(rows)}",
                )
                base = await count(
                    bare.pid,
                    work / f"bare{len(rows)}.out",
                    f"http://127.0.0.1:{bare_port}{endpoint}",
                    headers,
                    args.requests,
                    "bare",
                )
            finally:
                stop(bare)
            rows.append((endpoint, size, mine, base))
            print(f"{endpoint}: {mine:,.0f} instructions per request, bare {base:,.0f}: {base / mine:.1%}", flush=True)
    finally:
        stop(ours)
    print()
    print(
        f"{users:,} users; db {args.db_url.split(':')[0]}; {args.requests:,} requests per endpoint "
        "after 300 to warm up; instructions of the server's main thread, counted by callgrind"
    )
    print()
    print("| endpoint | body bytes | instructions/request | bare | bare/endpoint |")
    print("|---|---:|---:|---:|---:|")
    for endpoint, size, mine, base in rows:
        print(f"| `{endpoint}` | {size} | {mine:,.0f} | {base:,.0f} | {base / mine:.1%} |")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main())
