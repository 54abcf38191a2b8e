from __future__ import annotations

from pathlib import Path

import click

from ..db import DatabaseError
from .options import config_option, existing_database, pass_state, progress_bar, require_migrated, run, with_db


@click.group("db")
def db_group() -> None:
    """Database: migrations, aggregate checks, copying between databases."""


@db_group.command("migrate")
@config_option
@pass_state.decorator
def migrate_cmd(state) -> None:
    """Apply pending migrations (safe to run while another process does too)."""
    from ..db.migrate import migrate

    config = state.config()
    try:
        applied = migrate(config.db.url)
    except Exception as exc:
        raise click.ClickException(f"migration failed: {exc}") from None
    if applied:
        click.echo(f"Applied {len(applied)} migration(s): {', '.join(applied)}")
    else:
        click.echo("Database is up to date.")


@db_group.command("status")
@config_option
@pass_state.decorator
def status_cmd(state) -> None:
    """List migrations and whether each is applied."""
    from ..db.migrate import status

    config = state.config()
    existing_database(config)
    try:
        states = status(config.db.url)
    except Exception as exc:
        raise click.ClickException(f"cannot read migration status: {exc}") from None
    for item in states:
        click.echo(f"{'applied' if item.applied else 'pending'}  {item.id}")
    pending = sum(not s.applied for s in states)
    click.echo(f"{len(states) - pending} applied, {pending} pending")


@db_group.command("check")
@click.option("--fix", is_flag=True, help="Rewrite the aggregates from the recomputation (one transaction).")
@config_option
@pass_state.decorator
def check_cmd(state, fix: bool) -> None:
    """Recompute every leaderboard aggregate from the donations and compare.

    Prints each difference (table, key, column, stored, expected) and exits 1
    when there is any; with --fix the aggregate tables are rewritten from the
    donations and users, and it exits 0 once they match.
    """
    from ..ledger import check as checker

    async def go(db):
        differences = await checker.check(db)
        for difference in differences:
            click.echo(difference.describe())
        if not differences:
            click.echo("all aggregates match")
            return 0
        tables = sorted({d.table for d in differences})
        click.echo(f"{len(differences)} difference(s) in {', '.join(tables)}")
        if not fix:
            click.echo("run `tondonate db check --fix` to rewrite the aggregates from the donations")
            return 1
        written = await checker.fix(db)
        click.echo("rewrote " + ", ".join(f"{table} ({rows} rows)" for table, rows in written.items()))
        left = await checker.check(db)
        if left:  # only when something writes the aggregates outside the ledger meanwhile
            for difference in left:
                click.echo(difference.describe())
            click.echo(f"{len(left)} difference(s) remain after --fix")
            return 1
        click.echo("all aggregates match")
        return 0

    config = state.config()
    existing_database(config, migrated=True)
    click.get_current_context().exit(run(with_db(config, go)))


@db_group.command("copy")
@click.option("--from", "source_url", required=True, metavar="URL", help="Database to copy from (left unchanged).")
@click.option("--to", "target_url", required=True, metavar="URL", help="Database to copy into (migrated first).")
@click.option("--force", is_flag=True, help="Replace the target's contents even when it holds users or payments.")
@click.option(
    "--batch-size", type=click.IntRange(1, 100_000), default=1000, show_default=True, help="Rows per insert batch."
)
def copy_cmd(source_url: str, target_url: str, force: bool, batch_size: int) -> None:
    """Copy every table from one database to another (SQLite <-> PostgreSQL).

    Migrates the target, refuses a target that already holds users or
    payments (unless --force), copies the tables in foreign-key order, then
    compares row counts and the stars/tons sums of every table and exits 1
    on any mismatch.  Stop the server while copying.

    \b
    Example:
      tondonate db copy --from sqlite:///tondonate.db --to postgresql://tondonate@localhost/tondonate
    """
    from ..db import dialect_of, open_database
    from ..db.copy import CopyError, copy_database
    from ..db.migrate import migrate
    from ..db.sqlite import path_from_url
    from ..redact import redact_url

    try:
        for url in (source_url, target_url):
            dialect_of(url)
    except DatabaseError as exc:
        raise click.ClickException(str(exc)) from None
    if source_url == target_url:
        raise click.ClickException("--from and --to are the same database")
    if dialect_of(source_url) == "sqlite":
        path = path_from_url(source_url)
        if path == ":memory:" or not Path(path).is_file():
            raise click.ClickException(f"source database {path} does not exist")
    require_migrated(source_url, "the source", " against it")
    try:
        applied = migrate(target_url)
    except Exception as exc:
        raise click.ClickException(f"cannot migrate the target: {exc}") from None
    if applied:
        click.echo(f"target: applied {len(applied)} migration(s)")

    def progress(table: str, total: int):
        return progress_bar(total, f"{table:<22}")

    async def go():
        source, target = open_database(source_url), open_database(target_url)
        await source.start()
        try:
            await target.start()
            try:
                return await copy_database(source, target, force=force, batch_size=batch_size, progress=progress)
            finally:
                await target.stop()
        finally:
            await source.stop()

    try:
        report = run(go())
    except CopyError as exc:
        raise click.ClickException(str(exc)) from None
    if report.emptied:
        click.echo("emptied first: " + ", ".join(f"{t} ({n} rows)" for t, n in report.emptied.items()))
    for table in report.tables:
        sums = "".join(f", {column} {value}" for column, value in report.sums[table].items())
        click.echo(f"{table}: {report.rows[table]} rows{sums}")
    if not report.ok:
        for mismatch in report.mismatches:
            click.echo(f"MISMATCH {mismatch.describe()}", err=True)
        click.echo(f"copy verification failed: {len(report.mismatches)} mismatch(es)", err=True)
        click.get_current_context().exit(1)
    click.echo(
        f"copied {sum(report.rows.values())} rows in {len(report.tables)} tables from {redact_url(source_url, keep_user=True)} "
        f"to {redact_url(target_url, keep_user=True)}; row counts and stars/tons sums match"
    )
