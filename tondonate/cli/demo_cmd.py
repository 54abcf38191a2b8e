from __future__ import annotations

import logging

import click

from .options import pass_state, run


@click.command("demo")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8080,
    show_default=True,
    help="Port of the demo page (0: any free port).",
)
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on.  0.0.0.0 makes the demo reachable from other machines "
    "(anyone who can reach it can act as any demo user); an SSH tunnel is safer (see the README).",
)
@click.option(
    "--app-port",
    type=click.IntRange(0, 65535),
    default=0,
    show_default=True,
    help="Port of the Mini App the page frames (0: any free port); fix it to tunnel both ports.",
)
@click.option(
    "--db",
    "db_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="Keep the demo in this SQLite file: created, migrated and seeded when it has no users, "
    "kept on exit. Default: a temporary database, removed on exit.",
)
@click.option(
    "--users",
    type=click.IntRange(0, 1_000_000),
    default=300,
    show_default=True,
    help="Demo users to seed (with donations over 8 weeks and referral trees) into an empty database.",
)
@pass_state.decorator
def demo_cmd(state, port: int, host: str, app_port: int, db_path: str | None, users: int) -> None:
    """Try tondonate offline: the real server, bot and Mini App, with Telegram emulated.

    Runs the real HTTP server, API and bot on a temporary SQLite database
    seeded with believable users, donations and referral trees.  Only
    Telegram is emulated, in this process: a Bot API the real bot long-polls,
    and a page at http://HOST:PORT/ that frames the Mini App like a
    Telegram client.  There you act as any demo user (or a brand-new one
    arriving by someone's referral link), switch the theme, and pay with
    pretend Stars: Pay runs the real pre-checkout and crediting path.

    The demo ignores tondonate.toml and TONDONATE_* settings, signs everything
    with a bot token made up for this run (so nothing it signs is accepted by
    `tondonate serve`), and writes nothing but the database.  Point --db at a
    scratch file, never at a production database.  Ctrl-C stops it.
    """
    from ..demo import DemoError, DemoInfo, DemoOptions, run_demo

    if not state.verbose:  # a demo's terminal shows the URL, not the server's INFO lines
        logging.getLogger("tondonate").setLevel(logging.WARNING)

    def ready(info: DemoInfo) -> None:
        where = "a temporary database" if info.temporary else str(info.db_path)
        seeded = f", {info.seeded} seeded now" if info.seeded else ""
        click.echo(
            f"tondonate demo: open {info.url} ({info.users} demo users in {where}{seeded}; "
            f"ready in {info.seconds:.1f} s)"
        )
        click.echo("Act as any user, donate with pretend Stars, invite a friend; Telegram is emulated. Ctrl-C stops.")

    if host not in ("127.0.0.1", "localhost", "::1"):
        click.echo(
            f"warning: listening on {host}: anyone who can reach this machine can use the demo, "
            "act as any demo user and fill its database; stop it when you are done",
            err=True,
        )
    options = DemoOptions(port=port, host=host, app_port=app_port, db_path=db_path, users=users)
    try:
        run(run_demo(options, ready=ready))
    except DemoError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo("tondonate demo: stopped" + ("" if db_path else "; the temporary database is removed"))
