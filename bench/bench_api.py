"""API benchmark: every board and /api/me against a bare aiohttp endpoint, in one run.

Run by hand (not part of the tests):

    python bench/bench_api.py                      # 100k users, 1M donations, 52 weeks
    python bench/bench_api.py --users 10000 --donations 100000 --rounds 1
    python bench/bench_api.py --db-url postgresql://postgres@127.0.0.1:5432/bench

What it does: seeds the database with ``tondonate dev seed`` (reused when it is
already there), starts ``tondonate serve`` against an in-process Bot API
emulator, and a bare aiohttp server returning a constant body of the same
size as each endpoint's answer and sent the very same requests.  Then, with a
background stream of 10 successful payments per second flowing through the
real bot, it loads each endpoint with wrk (Debian package ``wrk``) signed as
200 different users, in rounds.  The servers get CPU 0 and the load (wrk,
this script) the others (``--no-pin`` to share everything).

Each round loads, alone, the bare endpoint, the real one, the real one again
and the bare one again (A B B A: a machine whose speed drifts during the round
slows both sides alike), and its ratio is the real endpoint's requests/s over
the bare one's, summed over its two runs each.  This is the issue's measure;
the table gives its median and range over the rounds.  Then both are loaded at
once, side by side on CPU 0: a stricter figure, because two processes taking
turns on one core evict each other's caches, and tondonate's process, holding
a read model of every user, loses more of its cache than the bare one (a
constant body served from tondonate's process measured 99-102% alone but
89-92% side by side).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tondonate.emulator import BotAPIEmulator, sign_init_data  # noqa: E402

TOKEN = "424242:BENCH-token"
FIRST_ID = 700_000_000  # tondonate.seed.FIRST_ID
ENDPOINTS = [
    "/api/leaderboard/all-time",
    "/api/leaderboard/week",
    "/api/leaderboard/referrals",
    "/api/leaderboard/all-time?offset=5000",
    "/api/leaderboard/all-time?limit=50&offset=50",  # as the Mini App asks for a page
    "/api/me",
]
BARE_SERVER = r"""
import sys
from aiohttp import web
size = int(sys.argv[2])
body = b'{"x":"' + b"x" * max(0, size - 8) + b'"}'
async def handler(request):
    return web.Response(body=body, content_type="application/json")
app = web.Application()
app.router.add_get("/{tail:.*}", handler)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=None)
"""
WRK_SCRIPT = r"""
local headers = {}
for line in io.lines("%s") do headers[#headers + 1] = line end
local i = 0
request = function()
  i = i %% #headers + 1
  return wrk.format("GET", nil, {["Authorization"] = headers[i]})
end
"""


def db_count(db_url: str, sql: str) -> int:
    """One count from the database, in a child process (this one pins itself to the load's CPUs)."""
    return int(
        subprocess.run(
            [
                sys.executable,
                "-c",
                (
                    "import asyncio,sys;from tondonate.db import open_database\n"
                    "async def m():\n db=open_database(sys.argv[1]);await db.start();print(await db.fetchval(sys.argv[2]));await db.stop()\n"
                    "asyncio.run(m())"
                ),
                db_url,
                sql,
            ],
            capture_output=True,
            text=True,
            check=True,
            cwd=ROOT,
        ).stdout.strip()
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def pin_cpus(disabled: bool):
    """Give the server under test (tondonate or the bare one, in turn) CPU 0 and everything
    generating load (wrk, the emulator, the payment stream: this process and its children)
    the other CPUs.  Unpinned, on two cores, the server's share of CPU swings with how the
    scheduler places wrk, which moved single runs by +-30%; both servers get the same core,
    so the ratio stays a like-for-like comparison.  Returns the servers' ``preexec_fn``."""
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if disabled or len(cpus) < 2:
        return None
    os.sched_setaffinity(0, cpus[1:])
    print(f"servers on CPU {cpus[0]}, load (wrk, emulator, payments) on CPU {','.join(map(str, cpus[1:]))}", flush=True)
    return lambda: os.sched_setaffinity(0, cpus[:1])


def tondonate(*args: str, env: dict) -> None:
    subprocess.run([sys.executable, "-m", "tondonate", *args], env=env, check=True, cwd=ROOT)


async def wait_ok(url: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            try:
                async with session.get(url) as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.2)
    raise SystemExit(f"{url} did not come up")


def parse_wrk(output: str) -> tuple[float, float, float]:
    def percentile(p: str) -> float:
        match = re.search(rf"^\s*{p}%\s+([\d.]+)(us|ms|s)\s*$", output, re.M)
        if match is None:
            raise SystemExit(f"cannot read the {p}th percentile from wrk:\n{output}")
        return float(match.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[match.group(2)]

    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    if errors:
        raise SystemExit(f"wrk saw {errors.group(1)} error responses:\n{output}")
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    return rps, percentile("50"), percentile("99")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def wrk(url: str, script: Path, args, pid: int) -> tuple[float, float, float, float]:
    """(requests/s, p50 ms, p99 ms, server CPU us per request) of one wrk run against ``pid``'s server."""
    cpu = cpu_seconds(pid)
    proc = await asyncio.create_subprocess_exec(
        "wrk",
        f"-t{args.threads}",
        f"-c{args.connections}",
        f"-d{args.duration}s",
        "--latency",
        "-s",
        str(script),
        url,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await proc.communicate()
    cpu = cpu_seconds(pid) - cpu
    output = out.decode()
    rps, p50, p99 = parse_wrk(output)
    requests = int(re.search(r"(\d+) requests in", output).group(1))
    return rps, p50, p99, cpu / requests * 1e6


async def payment_stream(emu: BotAPIEmulator, db_url: str, users: int, stop: asyncio.Event, rate: float) -> int:
    """successful_payment updates at ``rate`` per second for invoices stored beforehand."""
    import sqlite3

    sent = 0
    payloads = []
    if db_url.startswith("sqlite:///"):
        conn = sqlite3.connect(db_url[len("sqlite:///") :])
        now = int(time.time())
        for i in range(2000):
            payload = f"bench-{now}-{i}"
            tg_id = FIRST_ID + random.randrange(users)
            conn.execute(
                "INSERT INTO invoices (id, tg_id, stars_amount, preset_id, tons_per_star, created_at) "
                "VALUES (?, ?, 100, 'place1', '1', ?)",
                (payload, tg_id, now),
            )
            payloads.append((payload, tg_id))
        conn.commit()
        conn.close()
    while not stop.is_set():
        payload, tg_id = payloads[sent % len(payloads)] if payloads else (None, FIRST_ID + random.randrange(users))
        user = emu.make_user(tg_id, first_name="Bench")
        emu.deliver_successful_payment(user, payload or "unknown", 100, f"bench-charge-{time.time_ns()}")
        sent += 1
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 1 / rate)
    return sent


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db-url", default=f"sqlite:///{tempfile.gettempdir()}/tondonate-bench.db")
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--donations", type=int, default=1_000_000)
    parser.add_argument("--weeks", type=int, default=52)
    parser.add_argument("--duration", type=int, default=3, help="seconds per wrk run")
    parser.add_argument(
        "--rounds", type=int, default=4, help="rounds per endpoint, each bare/real/real/bare alone, then side by side"
    )
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--payments-per-second", type=float, default=10.0)
    parser.add_argument("--reseed", action="store_true", help="delete and seed the SQLite file again")
    parser.add_argument("--only", action="append", default=[], help="benchmark only endpoints containing this text")
    parser.add_argument(
        "--no-pin", action="store_true", help="do not give the servers CPU 0 and the load (wrk, this script) the others"
    )
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is needed: apt-get install wrk")

    env = {**os.environ, "TONDONATE_DB_URL": args.db_url, "TONDONATE_BOT_TOKEN": TOKEN}
    path = Path(args.db_url[len("sqlite:///") :]) if args.db_url.startswith("sqlite:///") else None
    if path is not None and args.reseed:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    tondonate("db", "migrate", env=env)
    # the static rate, stored: the benches never ask the internet (bench_instructions.py reuses this database)
    tondonate("config", "set", "rate.provider", "static", env=env)
    if db_count(args.db_url, "SELECT count(*) FROM donations") < args.donations:
        print(f"Seeding {args.users} users / {args.donations} donations over {args.weeks} weeks ...", flush=True)
        started = time.perf_counter()
        tondonate(
            "dev",
            "seed",
            "--users",
            str(args.users),
            "--donations",
            str(args.donations),
            "--weeks",
            str(args.weeks),
            env=env,
        )
        print(f"seeded in {time.perf_counter() - started:.0f} s", flush=True)

    server_cpus = pin_cpus(args.no_pin)  # after seeding, which may use every core
    async with BotAPIEmulator(token=TOKEN, bot_username="bench_bot") as emu:
        port, bare_port = free_port(), free_port()
        server = subprocess.Popen(
            [sys.executable, "-m", "tondonate", "serve", "--port", str(port)],
            preexec_fn=server_cpus,
            env={**env, "TONDONATE_BOT_API_BASE": emu.base_url},
            cwd=tempfile.gettempdir(),
            stdout=subprocess.DEVNULL,
            stderr=open(f"{tempfile.gettempdir()}/tondonate-bench-serve.log", "w"),  # noqa: SIM115 (the server keeps it)
        )
        headers = Path(tempfile.mkdtemp()) / "headers.txt"
        rng = random.Random(7)
        headers.write_text(
            "\n".join(
                "tma " + sign_init_data(TOKEN, {"id": FIRST_ID + rng.randrange(args.users), "first_name": "Bench"})
                for _ in range(200)
            )
            + "\n"
        )
        script = headers.with_name("rotate.lua")
        script.write_text(WRK_SCRIPT % headers)
        stop = asyncio.Event()
        stream = None
        rows = []
        try:
            started = time.perf_counter()
            await wait_ok(f"http://127.0.0.1:{port}/healthz")
            print(
                f"serve ready in {time.perf_counter() - started:.1f} s (read model built from the database)", flush=True
            )
            async with aiohttp.ClientSession() as session:  # warm every user's first visit
                for line in headers.read_text().splitlines():
                    async with session.get(f"http://127.0.0.1:{port}/api/me", headers={"Authorization": line}) as r:
                        assert r.status == 200, await r.text()
            stream_started = time.time()
            stream = asyncio.create_task(payment_stream(emu, args.db_url, args.users, stop, args.payments_per_second))
            # What the payment stream alone costs the server: part of every loaded run's CPU too.
            await asyncio.sleep(1)
            idle_cpu, idle_started = cpu_seconds(server.pid), time.perf_counter()
            await asyncio.sleep(5)
            stream_share = (cpu_seconds(server.pid) - idle_cpu) / (time.perf_counter() - idle_started)
            print(
                f"the payment stream alone takes {stream_share:.1%} of the server's CPU "
                f"({stream_share / args.payments_per_second * 1e3:.1f} ms per payment)",
                flush=True,
            )
            for endpoint in [e for e in ENDPOINTS if not args.only or any(o in e for o in args.only)]:
                async with (
                    aiohttp.ClientSession() as session,
                    session.get(
                        f"http://127.0.0.1:{port}{endpoint}",
                        headers={"Authorization": headers.read_text().splitlines()[0]},
                    ) as r,
                ):
                    size = len(await r.read())
                bare = subprocess.Popen(
                    [sys.executable, "-c", BARE_SERVER, str(bare_port), str(size)], preexec_fn=server_cpus
                )
                # The same request to both (path, query, the rotating Authorization header):
                # only what answers it differs.
                urls = (f"http://127.0.0.1:{bare_port}{endpoint}", f"http://127.0.0.1:{port}{endpoint}")
                pids = (bare.pid, server.pid)
                try:
                    await wait_ok(f"http://127.0.0.1:{bare_port}/")
                    warm = argparse.Namespace(**{**vars(args), "duration": 2})
                    for url, pid in zip(urls, pids, strict=False):
                        await wrk(url, script, warm, pid)  # warm-up, not counted
                    rounds, pairs = [], []
                    for _ in range(args.rounds):
                        # Alone, A B B A: (bare runs, real runs) of the round.
                        runs = [await wrk(urls[i], script, args, pids[i]) for i in (0, 1, 1, 0)]
                        rounds.append(((runs[0], runs[3]), (runs[1], runs[2])))
                        # Side by side, both loaded at once and sharing the servers' CPU.
                        pairs.append(
                            await asyncio.gather(
                                *(wrk(url, script, args, pid) for url, pid in zip(urls, pids, strict=False))
                            )
                        )
                finally:
                    bare.send_signal(signal.SIGINT)
                    bare.wait()
                rows.append((endpoint, size, rounds, pairs))
                print(
                    f"{endpoint}: alone "
                    + ", ".join(f"{ratio(r):.0%}" for r in rounds)
                    + "; side by side "
                    + ", ".join(f"{r[1][0] / r[0][0]:.0%}" for r in pairs)
                    + " (endpoint/bare per round); CPU per request "
                    + ", ".join(f"{cpu_ratio(r):.0%}" for r in rounds)
                    + " (bare/endpoint)",
                    flush=True,
                )
        finally:
            stop.set()
            sent = await stream if stream else 0
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=10)
    # Every payment of the stream went through the real bot into the ledger (not just sent).
    credited = db_count(
        args.db_url,
        "SELECT count(*) FROM payments WHERE telegram_payment_charge_id LIKE 'bench-charge-%' "
        f"AND status = 'paid' AND paid_at >= {int(stream_started)}",
    )

    print()
    print(
        f"{args.users:,} users, {args.donations:,} donations, {args.weeks} weeks; db {args.db_url.split(':')[0]}; "
        f"wrk -t{args.threads} -c{args.connections} -d{args.duration}s; {sent} payments sent meanwhile, "
        f"{credited} credited; the stream alone took {stream_share:.1%} of the server's CPU"
    )
    print()
    print(
        "| endpoint | body bytes | req/s | p50 ms | p99 ms | bare req/s | bare p99 ms | ratio (range) | side by side "
        "| CPU µs/req | bare CPU µs/req | CPU ratio |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for endpoint, size, rounds, pairs in rows:
        real = [run for r in rounds for run in r[1]]
        bare = [run for r in rounds for run in r[0]]
        rps, p50, p99 = (statistics.median(run[i] for run in real) for i in range(3))
        brps, bp99 = (statistics.median(run[i] for run in bare) for i in (0, 2))
        ratios = [ratio(r) for r in rounds]
        side = statistics.median(r[1][0] / r[0][0] for r in pairs)
        cpu, bcpu = statistics.median(run[3] for run in real), statistics.median(run[3] for run in bare)
        print(
            f"| `{endpoint}` | {size} | {rps:,.0f} | {p50:.2f} | {p99:.2f} | {brps:,.0f} | {bp99:.2f} "
            f"| {statistics.median(ratios):.0%} ({min(ratios):.0%}–{max(ratios):.0%}) | {side:.0%} "
            f"| {cpu:.0f} | {bcpu:.0f} | {statistics.median(cpu_ratio(r) for r in rounds):.0%} |"
        )
    print()
    print(
        f"{args.rounds} rounds per endpoint; requests/s and latencies are medians of the runs alone.  'ratio': "
        "each round's real/bare requests/s over bare, real, real, bare runs alone (median and range); "
        "'side by side': both loaded at once on the same CPU (median); 'CPU µs/req': the server process's "
        "user+system CPU time per request served alone (median); 'CPU ratio': bare over endpoint per round "
        "(median), the throughput a CPU-bound server would reach relative to the bare one."
    )


def cpu_ratio(round_: tuple) -> float:
    """A round's bare/real CPU time per request (the sums of its two runs each)."""
    bare, real = round_
    return (bare[0][3] + bare[1][3]) / (real[0][3] + real[1][3])


def ratio(round_: tuple) -> float:
    """A round's real/bare requests/s: the sums of its two runs each (A B B A cancels a steady drift)."""
    bare, real = round_
    return (real[0][0] + real[1][0]) / (bare[0][0] + bare[1][0])


if __name__ == "__main__":
    asyncio.run(main())
