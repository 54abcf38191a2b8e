"""The PostgreSQL backend: counts, guard semantics, errors, driver hints, concurrent migrations.

Tests taking ``db`` run on both dialects (the backends must agree); the
``pg_*`` ones are PostgreSQL only.
"""

from __future__ import annotations

import asyncio
import importlib
import sys
import threading

import pytest

from tondonate.db import DatabaseError, Step, open_database
from tondonate.db import postgres as pg
from tondonate.db.migrate import migrate, status
from tondonate.redact import redact_url

INSERT_SETTING = "INSERT INTO settings (key, value_json, updated_at) VALUES ($1, $2, $3)"


@pytest.fixture
def pg_url(new_migrated_pg_url):
    return new_migrated_pg_url()


@pytest.fixture
async def pg_db(pg_url):
    db = open_database(pg_url)
    await db.start()
    yield db
    await db.stop()


# -- pure helpers ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "status, count",
    [
        ("INSERT 0 3", 3),
        (b"UPDATE 2", 2),
        ("DELETE 0", 0),
        ("SELECT 5", 5),
        ("MERGE 1", 1),
        ("CREATE TABLE", 0),
        ("", 0),
        (None, 0),
    ],
)
def test_rows_touched_parses_command_status(status, count):
    assert pg.rows_touched(status) == count


def test_url_schemes_and_redaction():
    assert pg.asyncpg_url("postgres://u@h/db") == "postgresql://u@h/db"
    assert pg.asyncpg_url("postgresql+psycopg://u@h/db?x=1") == "postgresql://u@h/db?x=1"
    with pytest.raises(DatabaseError):
        pg.asyncpg_url("mysql://u@h/db")
    assert redact_url("postgresql://bob:s3cret@h:5/db", keep_user=True) == "postgresql://bob:***@h:5/db"
    assert redact_url("postgresql://bob@h/db", keep_user=True) == "postgresql://bob@h/db"
    assert redact_url("postgresql://bob@h/db?password=x", keep_user=True) == "postgresql://bob@h/db?password=***"


# -- both dialects agree ----------------------------------------------------------------


async def test_execute_returns_rows_touched(db):
    assert await db.execute(INSERT_SETTING, "a", "1", 1) == 1
    assert (
        await db.execute(
            "INSERT INTO settings (key, value_json, updated_at) SELECT key || 'x', value_json, updated_at FROM settings"
        )
        == 1
    )
    assert await db.execute("UPDATE settings SET updated_at = $1", 5) == 2
    assert await db.execute("UPDATE settings SET updated_at = $1 WHERE key = $2", 5, "missing") == 0
    async with db.transaction() as conn:
        assert await conn.execute("DELETE FROM settings WHERE key = $1", "ax") == 1
    assert await db.fetchval("SELECT COUNT(*) FROM settings") == 1


async def test_guard_semantics_rows_and_counts(db):
    await db.execute(INSERT_SETTING, "a", "1", 1)
    result = await db.write_steps(
        [
            Step(
                "UPDATE settings SET value_json = $1 WHERE key = $2 RETURNING key, value_json", ("2", "a"), guard=True
            ),
            Step("SELECT key FROM settings ORDER BY key"),
            Step("UPDATE settings SET value_json = $1 WHERE key = $2", ("3", "none"), guard=True),
            Step(INSERT_SETTING, ("never", "1", 1)),
        ]
    )
    assert result.stopped_at == 2 and not result.completed
    assert result.counts == [1, 1, 0]
    assert [tuple(r) for r in result.rows[0]] == [("a", "2")] and result.rows[0][0]["value_json"] == "2"
    assert result.rows[1][0][0] == "a" and result.rows[2] == []
    assert [r["key"] for r in await db.fetch("SELECT key FROM settings")] == ["a"]
    assert await db.fetchval("SELECT value_json FROM settings WHERE key = $1", "a") == "2"  # the prefix committed


async def test_racing_guards_let_exactly_one_batch_through(db):
    """The exactly-once rule of crediting: two batches flip the same row, one wins."""
    await db.execute(INSERT_SETTING, "flip", "created", 1)

    def batch(n):
        return [
            Step("UPDATE settings SET value_json = 'paid' WHERE key = 'flip' AND value_json = 'created'", guard=True),
            Step(INSERT_SETTING, (f"winner-{n}", "1", 1)),
        ]

    results = await asyncio.gather(*(db.write_steps(batch(n)) for n in range(4)))
    assert sorted(r.completed for r in results) == [False, False, False, True]
    assert await db.fetchval("SELECT COUNT(*) FROM settings WHERE key LIKE 'winner-%'") == 1


async def test_booleans_read_truthy_and_falsy(db):
    from tondonate.ledger.referrals import ensure_user
    from tondonate.users import Profile, set_blocked

    await ensure_user(db, Profile(1), now=1)
    assert not await db.fetchval("SELECT is_blocked FROM users WHERE tg_id = $1", 1)
    assert await set_blocked(db, 1, True)
    assert await db.fetchval("SELECT is_blocked FROM users WHERE tg_id = $1", 1)
    assert await db.fetchval("SELECT COUNT(*) FROM users WHERE is_blocked") == 1
    assert await db.fetchval("SELECT COUNT(*) FROM users WHERE NOT is_blocked") == 0


@pytest.mark.parametrize(
    "query, args",
    [
        pytest.param(INSERT_SETTING, ("dup", "1", 1), id="unique"),
        pytest.param("SELEKT 1", (), id="syntax"),
        pytest.param("SELECT * FROM no_such_table", (), id="no-table"),
        pytest.param("INSERT INTO users (tg_id, created_at) VALUES ($1, $2)", (5, None), id="not-null"),
    ],
)
async def test_errors_are_database_errors(db, query, args):
    await db.execute(INSERT_SETTING, "dup", "1", 1)
    with pytest.raises(DatabaseError):
        await db.execute(query, *args)
    with pytest.raises(DatabaseError):
        async with db.transaction() as conn:
            await conn.execute(INSERT_SETTING, "in-tx", "1", 1)
            await conn.execute(query, *args)
    with pytest.raises(DatabaseError):
        await db.write_steps([Step(INSERT_SETTING, ("in-steps", "1", 1)), Step(query, args)])
    assert [r[0] for r in await db.fetch("SELECT key FROM settings")] == ["dup"]  # nothing half-done
    assert await db.fetchval("SELECT 1") == 1  # the connection is usable afterwards


# -- PostgreSQL only ------------------------------------------------------------------

pg_only = pytest.mark.postgresql


@pg_only
async def test_pg_wrong_argument_type_is_a_database_error(pg_db):
    with pytest.raises(DatabaseError, match="query argument"):
        await pg_db.execute(INSERT_SETTING, "k", "v", "not a number")


@pg_only
async def test_pg_transaction_with_a_swallowed_error_is_not_silently_half_committed(pg_db):
    with pytest.raises(DatabaseError, match="transaction rolled back"):
        async with pg_db.transaction() as conn:
            await conn.execute(INSERT_SETTING, "a", "1", 1)
            with pytest.raises(DatabaseError):
                await conn.execute("SELECT 1 / 0")
    assert await pg_db.fetchval("SELECT COUNT(*) FROM settings") == 0


@pg_only
async def test_pg_public_api_fallback_counts_rows(pg_db):
    """Without asyncpg's internal ``_execute``, statements go through a prepared statement."""

    class PublicOnly:
        def __init__(self, conn):
            self.prepare = conn.prepare

    await pg_db.executemany(INSERT_SETTING, [("a", "1", 1), ("b", "1", 1)])
    async with pg_db._connection() as conn:
        rows, count = await pg._run(PublicOnly(conn), "UPDATE settings SET updated_at = $1 RETURNING key", (2,))
        assert count == 2 and sorted(r["key"] for r in rows) == ["a", "b"]
        assert await pg._run(PublicOnly(conn), "DELETE FROM settings WHERE key = $1", ("zz",)) == ([], 0)


@pg_only
async def test_pg_transaction_and_steps_use_one_connection(pg_db):
    async with pg_db.transaction() as conn:
        pids = {await conn.fetchval("SELECT pg_backend_pid()") for _ in range(3)}
        await conn.execute("SET LOCAL application_name = 'one-tx'")
        assert await conn.fetchval("SELECT current_setting('application_name')") == "one-tx"
    assert len(pids) == 1
    result = await pg_db.write_steps([Step("SELECT pg_backend_pid(), txid_current()") for _ in range(3)])
    assert len({(r[0][0], r[0][1]) for r in result.rows}) == 1  # same backend, same transaction


@pg_only
async def test_pg_executemany_is_one_transaction(pg_db):
    await pg_db.executemany(INSERT_SETTING, [(f"k{i}", "1", i) for i in range(50)])
    assert await pg_db.fetchval("SELECT COUNT(*) FROM settings") == 50
    with pytest.raises(DatabaseError):
        await pg_db.executemany(INSERT_SETTING, [("new", "1", 1), ("k1", "1", 1)])
    assert await pg_db.fetchval("SELECT COUNT(*) FROM settings") == 50


@pg_only
async def test_pg_postgres_scheme_is_accepted(pg_url):
    db = open_database("postgres://" + pg_url.split("://", 1)[1])
    assert db.dialect == "postgresql"
    async with db:
        assert await db.fetchval("SELECT COUNT(*) FROM users") == 0


async def test_unreachable_server_is_a_database_error_without_password():
    db = open_database("postgresql://bob:s3cret@127.0.0.1:1/nothing")
    with pytest.raises(DatabaseError) as info:
        await db.start()
    assert "cannot connect to PostgreSQL postgresql://bob:***@127.0.0.1:1/nothing" in str(info.value)
    assert "s3cret" not in str(info.value)
    with pytest.raises(DatabaseError, match="not started"):
        await db.fetch("SELECT 1")


def test_missing_asyncpg_is_a_one_line_hint(monkeypatch):
    import tondonate.db

    monkeypatch.setattr(tondonate.db, "postgres", pg)  # restored afterwards, like the two below
    monkeypatch.setitem(sys.modules, "asyncpg", None)  # makes `import asyncpg` fail
    monkeypatch.delitem(sys.modules, "tondonate.db.postgres")  # so open_database imports it afresh
    with pytest.raises(DatabaseError) as info:
        open_database("postgresql://u@127.0.0.1/db")
    message = str(info.value)
    assert "pip install 'tondonate[postgres]'" in message and "\n" not in message
    monkeypatch.undo()
    assert importlib.import_module("tondonate.db.postgres") is pg and tondonate.db.postgres is pg
    assert type(open_database("postgresql://u@127.0.0.1/db")) is pg.PostgresDatabase


def test_missing_psycopg_is_a_one_line_hint(monkeypatch):
    monkeypatch.setitem(sys.modules, "psycopg", None)
    with pytest.raises(DatabaseError) as info:
        migrate("postgresql://u@127.0.0.1:1/db")
    message = str(info.value)
    assert "pip install 'tondonate[postgres]'" in message and "\n" not in message


def test_missing_driver_hint_through_the_cli(monkeypatch, tmp_path):
    from click.testing import CliRunner

    from tondonate.cli import cli

    monkeypatch.chdir(tmp_path)
    monkeypatch.setitem(sys.modules, "psycopg", None)
    monkeypatch.setenv("TONDONATE_DB_URL", "postgresql://u@127.0.0.1:1/db")
    result = CliRunner().invoke(cli, ["db", "migrate"])
    assert result.exit_code == 1 and "pip install 'tondonate[postgres]'" in result.output
    assert "Traceback" not in result.output


@pg_only
def test_pg_two_concurrent_migrations_apply_once(new_pg_url):
    url = new_pg_url()  # fresh, empty schema
    barrier = threading.Barrier(2)
    results: list = [None, None]

    def worker(i):
        barrier.wait()
        try:
            results[i] = migrate(url)
        except Exception as exc:  # reported below
            results[i] = exc

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not any(isinstance(r, Exception) for r in results), results
    everything = [m.id for m in status(url)]
    assert sorted(results, key=len) == [[], everything]  # one applied all, the other found nothing to do
    assert all(m.applied for m in status(url))

    import psycopg

    with psycopg.connect(url) as conn:
        applied = conn.execute("SELECT migration_id, COUNT(*) FROM _yoyo_migration GROUP BY migration_id").fetchall()
        log = conn.execute("SELECT COUNT(*) FROM _yoyo_log WHERE operation = 'apply'").fetchone()[0]
    assert sorted(applied) == sorted((m, 1) for m in everything)
    assert log == len(everything)


# -- the test suite's own rule: skip when optional, fail when required ----------------

UNREACHABLE = "postgresql://postgres@127.0.0.1:1/test"
QUICK = ("--assert=plain", "-p", "no:cacheprovider", "-p", "no:hypothesispytest")


@pytest.fixture
def suite(pytester, monkeypatch):
    """A copy of this suite's conftest with one dialect-parametrized test, run in-process."""
    from pathlib import Path

    here = Path(__file__).parent
    conftest = (here / "conftest.py").read_text()
    pytester.makeconftest(conftest.replace('PG_DEFAULT_URL = "', f'PG_DEFAULT_URL = "{UNREACHABLE}"  # was "', 1))
    pytester.makepyfile(pg_schemas=(here / "pg_schemas.py").read_text())
    pytester.makeini("[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n")
    pytester.makepyfile(test_one="def test_one(db_url):\n    assert db_url\n")
    monkeypatch.delenv("TONDONATE_TEST_PG_URL", raising=False)
    return pytester


def test_unreachable_server_skips_when_not_required(suite):
    result = suite.runpytest_inprocess("-rs", *QUICK)
    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines(
        ["*SKIPPED*PostgreSQL test server*unreachable*set TONDONATE_TEST_PG_URL to require it*"]
    )


def test_unreachable_server_fails_when_required(suite, monkeypatch):
    monkeypatch.setenv("TONDONATE_TEST_PG_URL", UNREACHABLE)
    result = suite.runpytest_inprocess(*QUICK)
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*TONDONATE_TEST_PG_URL is set, so this is an error*"])
