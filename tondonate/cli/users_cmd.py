from __future__ import annotations

import click

from .options import config_option, existing_database, pass_state, run, with_db


@click.group("users")
def users_group() -> None:
    """Users: look one up, block or unblock.

    A blocked user cannot pay (pre-checkout is refused), gets HTTP 403 from the
    API and leaves every board; a running server applies it within a second.
    """


def _set_blocked(state, tg_id: int, blocked: bool) -> None:
    from ..db.migrate import migrate
    from ..users import set_blocked

    config = state.config()
    existing_database(config)
    migrate(config.db.url)
    if not run(with_db(config, lambda db: set_blocked(db, tg_id, blocked))):
        raise click.ClickException(f"no user with Telegram id {tg_id}")
    click.echo(f"{tg_id} {'blocked' if blocked else 'unblocked'}")


@users_group.command("block")
@click.argument("tg_id", type=int)
@config_option
@pass_state.decorator
def block_cmd(state, tg_id: int) -> None:
    """Block the user TG_ID."""
    _set_blocked(state, tg_id, True)


@users_group.command("unblock")
@click.argument("tg_id", type=int)
@config_option
@pass_state.decorator
def unblock_cmd(state, tg_id: int) -> None:
    """Unblock the user TG_ID."""
    _set_blocked(state, tg_id, False)


@users_group.command("show")
@click.argument("tg_id", type=int)
@config_option
@pass_state.decorator
def show_cmd(state, tg_id: int) -> None:
    """The user TG_ID: profile, referrer, totals."""
    from .. import users
    from ..ledger import totals as standings
    from ..ledger.money import format_tons
    from ..settings import load_settings

    config = state.config()
    existing_database(config, migrated=True)

    async def go(db):
        user = await users.find(db, tg_id)
        if user is None:
            return None
        totals, refs = await standings.standing(db, tg_id)
        return user, totals, refs, (await load_settings(db, config.settings)).tons_decimals

    found = run(with_db(config, go))
    if found is None:
        raise click.ClickException(f"no user with Telegram id {tg_id}")
    user, totals, refs, decimals = found
    name = f"@{user['username']}" if user["username"] else (user["first_name"] or "")
    click.echo(f"{tg_id} {name}{'  [blocked]' if user['is_blocked'] else ''}")
    click.echo(f"referrer: {user['referrer_id'] or '-'}")
    click.echo(
        f"donated: {format_tons(totals['tons'], decimals) if totals else '0'} tons, "
        f"{totals['stars'] if totals else 0} Stars in {totals['donations'] if totals else 0} donation(s)"
    )
    click.echo(
        f"referrals: {refs['referrals_count'] if refs else 0}, "
        f"who donated {format_tons(refs['tons'], decimals) if refs else '0'} tons"
    )
