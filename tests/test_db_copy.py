"""``tondonate db copy``: SQLite -> PostgreSQL and back, with a dataset made by the real ledger."""

from __future__ import annotations

import asyncio
import re

import pytest
from click.testing import CliRunner

from tondonate.cli import cli
from tondonate.db import copy as copy_module
from tondonate.db import open_database
from tondonate.db.migrate import migrate
from tondonate.db.schema import fk_order, read_schema
from tondonate.ledger.check import check

pytestmark = pytest.mark.postgresql


@pytest.fixture
def sqlite_url(tmp_path):
    def make(name: str) -> str:
        return f"sqlite:///{tmp_path / name}"

    return make


def run(coro):
    return asyncio.run(coro)


async def _with(url, fn):
    db = open_database(url)
    await db.start()
    try:
        return await fn(db)
    finally:
        await db.stop()


def fill(url, make_dataset) -> None:
    migrate(url)
    run(_with(url, make_dataset))


async def contents(db) -> dict[str, list[tuple]]:
    """Every row of every copied table, normalized (booleans as bool) and sorted: comparable across dialects."""
    schema = await read_schema(db)
    out = {}
    for name in fk_order(schema):
        table = schema[name]
        rows = await db.fetch(f"SELECT {', '.join(table.columns)} FROM {name}")
        flags = [i for i, c in enumerate(table.columns) if c in table.boolean_columns]
        normalized = []
        for row in rows:
            values = list(row)
            for i in flags:
                values[i] = None if values[i] is None else bool(values[i])
            normalized.append(tuple(values))
        out[name] = sorted(normalized, key=repr)
    return out


def copy_cli(*args):
    return CliRunner().invoke(cli, ["db", "copy", *args], catch_exceptions=False)


def assert_same(source_url, target_url):
    source = run(_with(source_url, contents))
    target = run(_with(target_url, contents))
    assert source.keys() == target.keys()
    for table in source:
        assert target[table] == source[table], table
    assert source["users"] and source["donations"] and source["payments"]
    assert run(_with(target_url, check)) == []  # the copied aggregates still match the copied donations


def test_sqlite_to_postgresql_in_small_batches(sqlite_url, new_pg_url, make_dataset):
    source, target = sqlite_url("source.db"), new_pg_url()  # empty: the copy migrates it
    fill(source, make_dataset)
    result = copy_cli("--from", source, "--to", target, "--batch-size", "2")
    assert result.exit_code == 0, result.output
    assert "row counts and stars/tons sums match" in result.output
    assert "donations: 7 rows, stars_amount 206, tons_amount 256000000000" in result.output
    # Progress (stderr; not a terminal here, so lines): each table's line once it is copied.
    assert re.search(r"^donations +7/7 in \d+\.\d s$", result.output, re.M), result.output
    assert_same(source, target)


def test_postgresql_to_sqlite(sqlite_url, new_migrated_pg_url, make_dataset):
    source, target = new_migrated_pg_url(), sqlite_url("target.db")
    fill(source, make_dataset)
    result = copy_cli("--from", source, "--to", target)
    assert result.exit_code == 0, result.output
    assert_same(source, target)


def test_refuses_a_target_with_data_unless_forced(sqlite_url, new_migrated_pg_url, make_dataset):
    source, target = sqlite_url("source.db"), new_migrated_pg_url()
    fill(source, make_dataset)
    assert copy_cli("--from", source, "--to", target).exit_code == 0

    again = copy_cli("--from", source, "--to", target)
    assert again.exit_code == 1
    assert "target is not empty (users: 7 rows, payments: 7 rows)" in again.output and "--force" in again.output

    forced = copy_cli("--from", source, "--to", target, "--force")
    assert forced.exit_code == 0, forced.output
    assert "emptied first:" in forced.output
    assert_same(source, target)


def test_a_verification_mismatch_exits_non_zero(sqlite_url, new_migrated_pg_url, make_dataset, monkeypatch):
    source, target = sqlite_url("source.db"), new_migrated_pg_url()
    fill(source, make_dataset)
    real = copy_module._copy_table

    async def lossy(src, dst, table, *args):
        await real(src, dst, table, *args)
        if table.name == "donations":  # a row lost on the way
            await dst.execute("DELETE FROM donations WHERE charge_id = $1", "ch-3")

    monkeypatch.setattr(copy_module, "_copy_table", lossy)
    result = copy_cli("--from", source, "--to", target)
    assert result.exit_code == 1
    assert "MISMATCH donations rows: source 7, target 6" in result.output
    assert "MISMATCH donations sum(stars_amount): source 206, target 181" in result.output
    assert "copy verification failed: 3 mismatch(es)" in result.output


def test_refuses_a_missing_or_unmigrated_source(sqlite_url, new_pg_url):
    missing = copy_cli("--from", sqlite_url("nope.db"), "--to", sqlite_url("t.db"))
    assert missing.exit_code == 1 and "does not exist" in missing.output

    bare = new_pg_url()  # reachable, never migrated
    result = copy_cli("--from", bare, "--to", sqlite_url("t.db"))
    assert result.exit_code == 1 and "pending migrations" in result.output

    same = copy_cli("--from", bare, "--to", bare)
    assert same.exit_code == 1 and "same database" in same.output
