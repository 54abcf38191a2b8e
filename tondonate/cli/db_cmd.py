from __future__ import annotations

import click

from .options import pass_state


@click.group("db")
def db_group() -> None:
    """Database schema: apply and inspect migrations."""


@db_group.command("migrate")
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
@pass_state.decorator
def status_cmd(state) -> None:
    """List migrations and whether each is applied."""
    from ..db.migrate import status

    config = state.config()
    try:
        states = status(config.db.url)
    except Exception as exc:
        raise click.ClickException(f"cannot read migration status: {exc}") from None
    for item in states:
        click.echo(f"{'applied' if item.applied else 'pending'}  {item.id}")
    pending = sum(not s.applied for s in states)
    click.echo(f"{len(states) - pending} applied, {pending} pending")
