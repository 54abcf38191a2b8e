from tondonate.db import Step


async def test_write_steps_guard_stops_and_commits_prefix(db):
    await db.execute("INSERT INTO settings (key, value_json, updated_at) VALUES ($1, $2, $3)", "a", "1", 1)
    result = await db.write_steps(
        [
            Step("INSERT INTO settings (key, value_json, updated_at) VALUES ($1, $2, $3)", ("b", "2", 1)),
            Step("UPDATE settings SET value_json = $1 WHERE key = $2", ("3", "missing"), guard=True),
            Step("DELETE FROM settings WHERE key = $1", ("a",)),
        ]
    )
    assert result.stopped_at == 1 and not result.completed
    keys = [r["key"] for r in await db.fetch("SELECT key FROM settings ORDER BY key")]
    assert keys == ["a", "b"]


async def test_write_steps_rolls_back_on_error(db):
    import pytest

    from tondonate.db import DatabaseError

    with pytest.raises(DatabaseError):
        await db.write_steps(
            [
                Step("INSERT INTO settings (key, value_json, updated_at) VALUES ($1, $2, $3)", ("b", "2", 1)),
                Step("INSERT INTO settings (key, value_json, updated_at) VALUES ($1, $2, $3)", ("b", "2", 1)),
            ]
        )
    assert await db.fetchval("SELECT count(*) FROM settings") == 0


async def test_returning_rows_and_counts(db):
    result = await db.write_steps(
        [Step("INSERT INTO settings (key, value_json, updated_at) VALUES ($1, $2, $3) RETURNING key", ("k", "1", 1))]
    )
    assert result.counts == [1] and result.rows[0][0]["key"] == "k"


async def test_transaction_rollback(db):
    import pytest

    with pytest.raises(RuntimeError):
        async with db.transaction() as conn:
            await conn.execute("INSERT INTO settings (key, value_json, updated_at) VALUES ($1, $2, $3)", "x", "1", 1)
            raise RuntimeError("boom")
    assert await db.fetchval("SELECT count(*) FROM settings") == 0


async def test_steps_are_read_back_by_name(db):
    insert = "INSERT INTO settings (key, value_json, updated_at) VALUES ($1, $2, $3) ON CONFLICT (key) DO NOTHING"
    result = await db.write_steps(
        [
            Step(insert + " RETURNING key", ("x", "1", 1), name=("insert", "x")),
            Step(insert, ("x", "2", 1), name=("insert", "x", 1)),  # the same row again: touches nothing
            Step("UPDATE settings SET value_json = $1 WHERE key = $2", ("3", "missing"), guard=True, name="guard"),
            Step("DELETE FROM settings", (), name="never runs"),
        ]
    )
    assert result.touched(("insert", "x")) == 1 and result.returned(("insert", "x"))[0]["key"] == "x"
    assert result.touched(("insert", "x", 1)) == 0
    assert result.touched("guard") == 0 and result.stopped_at == 2
    assert result.touched("never runs") == 0 and result.returned("never runs") == []


async def test_two_steps_of_one_batch_cannot_share_a_name(db):
    import pytest

    step = Step("UPDATE settings SET value_json = '1' WHERE key = 'none'", name="same")
    result = await db.write_steps([step, step])
    with pytest.raises(ValueError, match="same"):
        result.touched("same")


async def test_a_full_sqlite_disk_is_reported_as_such_not_as_a_failed_rollback(tmp_path):
    """SQLite rolls a transaction back itself on SQLITE_FULL; the ROLLBACK after it then
    fails, and must not replace the error the operator needs to read."""
    import pytest

    from tondonate.db import DatabaseError, open_database

    db = open_database(f"sqlite:///{tmp_path / 'full.db'}")
    await db.start()
    try:
        await db.execute("CREATE TABLE blobs (b BLOB)")
        await db._writer_conn.execute("PRAGMA max_page_count = 16")  # a 64 KiB "disk"
        big = Step("INSERT INTO blobs VALUES (randomblob(4000))", ())
        with pytest.raises(DatabaseError, match="full"):
            await db.write_steps([big] * 40)
        with pytest.raises(DatabaseError, match="full"):
            async with db.transaction() as conn:
                for _ in range(40):
                    await conn.execute(big.sql)
        assert await db.fetchval("SELECT count(*) FROM blobs") == 0
        await db.write_steps([big])  # and the database goes on working once there is room
        assert await db.fetchval("SELECT count(*) FROM blobs") == 1
    finally:
        await db.stop()
