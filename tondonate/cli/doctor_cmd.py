from __future__ import annotations

import click

from .options import config_option, pass_state, run


@click.command("doctor")
@config_option
@pass_state.decorator
def doctor_cmd(state) -> None:
    """Check that this deployment is set up right, one line per check.

    \b
    token        the bot token works (getMe)
    clock        this machine's clock is within 30 s of Telegram's
    database     the database is reachable and migrated
    bot          the token is the bot this database belongs to
    db check     the leaderboard aggregates match the donations
    rate         the rate source answers with a fresh rate
    webapp       webapp.url is HTTPS and serves the Mini App
    menu button  the bot's menu button opens webapp.url
    webhook      the webhook state matches bot.mode; no updates pile up

    Each line reads "ok|WARN|FAIL name: detail"; exits 1 when any check
    FAILs.  Run it on the server, with the same config and environment as
    `tondonate serve`, after each deployment.
    """
    from ..doctor import FAIL, run_checks

    config = state.config()

    async def go() -> int:
        counts = {"ok": 0, "WARN": 0, "FAIL": 0}
        async for check in run_checks(config):
            counts[check.status] += 1
            click.echo(check.line())
        click.echo(f"{counts['ok']} ok, {counts['WARN']} warning(s), {counts['FAIL']} failure(s)")
        return 1 if counts[FAIL] else 0

    click.get_current_context().exit(run(go()))
