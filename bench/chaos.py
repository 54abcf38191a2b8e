"""Chaos run: is every Stars payment credited exactly once when everything goes wrong?

Run by hand (``tests/test_chaos.py`` runs short versions in CI):

    python bench/chaos.py                  # everything, full size (about 15 minutes here)
    python bench/chaos.py --quick          # everything, small (about 4 minutes)
    python bench/chaos.py --only storm,refunds --pg-url ''    # some sections, SQLite only

Each section drives real ``tondonate serve`` processes against the Bot API
emulator (Telegram's stand-in, in this process); see bench/chaoslib/ for each:

* ``storm``     kill -9 storm: N payments plus 20% duplicates, the server killed
                with SIGKILL 5 times at random moments; with the payments in
                getStarTransactions and without (redelivery only).
* ``processes`` two and three servers on one PostgreSQL database given the same
                duplicated updates at once; new users opening the app on every
                server at once with a different referral code each.
* ``faults``    PostgreSQL connections terminated during a storm (and a
                restart); an SQLite file write-locked by another process for 10 s;
                an SQLite disk that fills up (a tmpfs: needs root, else skipped).
* ``refunds``   each refund delivered 5x concurrently with its payment's
                redelivery, refunds before their payment, refunds of unknown charges.
* ``hostile``   schemathesis against every route of /api/openapi.json, valid and
                invalid auth, and the initData attacks (bench/hostile.py).

Each row: payments credited (or refunded, when refunded), lost, doubled
(donations beyond one per charge, or a user's total above their payments),
``db check`` differences, 5xx answers.  Goal: 0 lost, 0 doubled, clean, 0 5xx.
Exit status 1 when any row misses it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import date
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCH.parent), str(BENCH)]

from chaoslib import faults, processes, refunds, storm  # noqa: E402
from chaoslib.support import Row, drop_pg_schema, fresh_pg_schema, table  # noqa: E402

from tondonate.db.migrate import migrate  # noqa: E402

SECTIONS = ("storm", "processes", "faults", "refunds", "hostile")


class Run:
    def __init__(self, args: argparse.Namespace, tmp: Path) -> None:
        self.args, self.tmp, self.rows = args, tmp, []
        self.skipped: list[str] = []

    def workdir(self, name: str) -> Path:
        path = self.tmp / name
        path.mkdir()
        return path

    async def pg(self, name: str) -> str:
        return await fresh_pg_schema(self.args.pg_url, name)

    async def add(self, what: str, make: Callable[[], Awaitable[Row]], cleanup: str | None = None) -> None:
        print(f"{what} ...", flush=True)
        started = time.monotonic()
        try:
            row = await make()
        except Exception as exc:  # a scenario that could not even finish is a failed row, not the end of the run
            row = Row(what, "-", 0, 0, failures=[f"{type(exc).__name__}: {exc}"])
        finally:
            if cleanup:
                await drop_pg_schema(cleanup)
        verdict = "ok" if row.ok else "FAILED: " + "; ".join(row.failures or ["see the table"])
        print(f"  {verdict} in {time.monotonic() - started:.0f} s", flush=True)
        self.rows.append(row)


async def _storm(run: Run) -> None:
    a = run.args
    for n, dialect in enumerate(["sqlite", *(["postgresql"] if a.pg_url else [])]):
        for in_transactions in (False, True):
            name = f"storm-{dialect}-{in_transactions}"
            work = run.workdir(name)
            url = f"sqlite:///{work / 'chaos.db'}" if dialect == "sqlite" else await run.pg(name)
            migrate(url)
            await run.add(
                f"kill -9 storm on {dialect}, in getStarTransactions: {in_transactions}",
                lambda url=url, work=work, it=in_transactions, seed=a.seed + n: storm.kill_storm(
                    url, work, payments=a.payments, kills=a.kills, in_transactions=it, seed=seed
                ),
                cleanup=url if dialect == "postgresql" else None,
            )


async def _processes(run: Run) -> None:
    if not run.args.pg_url:
        run.skipped.append("processes: no PostgreSQL (--pg-url '')")
        return
    for count in (2, 3):
        url = await run.pg(f"procs{count}")
        await run.add(
            f"{count} processes on one PostgreSQL database",
            lambda url=url, count=count: processes.many_processes(
                url, run.workdir(f"procs{count}"), processes=count, payments=run.args.payments // 4, seed=run.args.seed
            ),
            cleanup=url,
        )


async def _faults(run: Run) -> None:
    a = run.args
    if a.pg_url:
        url = await run.pg("pgterm")
        await run.add(
            "PostgreSQL connections terminated",
            lambda: faults.pg_terminate(url, run.workdir("pgterm"), payments=a.payments // 2, seed=a.seed),
            cleanup=url,
        )
    else:
        run.skipped.append("PostgreSQL connections terminated: no PostgreSQL (--pg-url '')")
    for hold in a.lock_seconds:
        await run.add(
            f"SQLite write-locked by another process for {hold:g} s",
            lambda hold=hold: faults.sqlite_locked(
                run.workdir(f"locked-{hold:g}"), hold=hold, payments=a.payments // 4, seed=a.seed
            ),
        )
    why_not = faults.can_mount()
    if why_not:
        run.skipped.append(f"SQLite disk full: skipped, {why_not}")
    else:
        await run.add(
            "SQLite disk full",
            lambda: faults.sqlite_full_disk(run.workdir("full"), payments=a.payments // 4, seed=a.seed),
        )


async def _refunds(run: Run) -> None:
    a = run.args
    for dialect in ["sqlite", *(["postgresql"] if a.pg_url else [])]:
        work = run.workdir(f"refunds-{dialect}")
        url = f"sqlite:///{work / 'refunds.db'}" if dialect == "sqlite" else await run.pg("refunds")
        migrate(url)
        await run.add(
            f"refund storm on {dialect}",
            lambda url=url, work=work: refunds.refund_storm(url, work, payments=a.payments // 4, seed=a.seed),
            cleanup=url if dialect == "postgresql" else None,
        )


async def _hostile(run: Run) -> None:
    try:
        from chaoslib.hostile_row import hostile_row
    except ImportError as exc:
        run.skipped.append(f"hostile: {exc} (pip install -e '.[test]')")
        return
    work = run.workdir("hostile")
    url = f"sqlite:///{work / 'hostile.db'}"
    migrate(url)
    await run.add("hostile input", lambda: hostile_row(url, work, examples=run.args.examples))


async def _run(args: argparse.Namespace) -> Run:
    with tempfile.TemporaryDirectory(prefix="tondonate-chaos-") as tmp:
        run = Run(args, Path(tmp))
        try:
            for section in args.only:
                await globals()[f"_{section}"](run)
        finally:
            if args.keep_logs:
                for log in Path(tmp).rglob("*.log"):
                    target = Path(args.keep_logs) / f"{log.parent.name}-{log.name}"
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(log.read_bytes())
    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog="Sections: " + ", ".join(SECTIONS))
    parser.add_argument("--payments", type=int, default=2_000, help="distinct payments per storm (others use a share)")
    parser.add_argument("--kills", type=int, default=5, help="SIGKILLs per storm before the last, draining start")
    parser.add_argument(
        "--lock-seconds",
        type=lambda text: [float(x) for x in text.split(",")],
        default=[10.0, 25.0],
        help="how long another process holds SQLite's write lock, one row each (default 10,25: within and "
        "past SQLite's 10 s busy_timeout)",
    )
    parser.add_argument("--examples", type=int, default=50, help="schemathesis examples per route and auth")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--pg-url",
        default=os.environ.get("TONDONATE_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test"),
        help="PostgreSQL server for the PostgreSQL rows (a fresh schema each, dropped after); '' to skip them",
    )
    parser.add_argument("--only", default=",".join(SECTIONS), help="comma-separated sections to run")
    parser.add_argument("--quick", action="store_true", help="300 payments, 2 kills, 10 examples")
    parser.add_argument("--keep-logs", metavar="DIR", help="copy every server's log here")
    args = parser.parse_args()
    args.only = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = set(args.only) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown section(s): {', '.join(sorted(unknown))}; choose from {', '.join(SECTIONS)}")
    if args.quick:
        args.payments, args.kills, args.examples = 300, 2, 10
    started = time.monotonic()
    run = asyncio.run(_run(args))
    print()
    print(
        f"{date.today()}, {platform.node() or 'this machine'}: {os.cpu_count()} cores, Python {platform.python_version()}; "
        f"{' '.join(sys.argv)}; {time.monotonic() - started:.0f} s"
    )
    print()
    print(table(run.rows))
    for note in run.skipped:
        print(f"skipped: {note}")
    sys.exit(0 if all(r.ok for r in run.rows) else 1)


if __name__ == "__main__":
    main()
