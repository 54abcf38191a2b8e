"""The ``tondonate`` command line: a thin click layer over the package."""

from __future__ import annotations

import click

from .. import __version__
from .config_cmd import config_group
from .db_cmd import db_group
from .demo_cmd import demo_cmd
from .dev_cmd import dev_group
from .doctor_cmd import doctor_cmd
from .options import CONFIG_HELP, pass_state, setup_logging
from .payments_cmd import payments_group
from .serve_cmd import serve_cmd
from .users_cmd import users_group


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="tondonate")
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    default=None,
    help=CONFIG_HELP + " Also accepted after the command.",
)
@click.option("-v", "--verbose", count=True, help="More logging (-v: debug for tondonate, -vv: everything).")
@click.pass_context
def cli(ctx: click.Context, config_path: str | None, verbose: int) -> None:
    """tondonate: a Telegram Mini App where people donate Stars, climb
    leaderboards and invite friends.

    Infrastructure (bot token, database URL, port) comes from tondonate.toml
    and TONDONATE_* environment variables; business settings (presets, rates,
    rounding) are changed with `tondonate config set`.
    """
    ctx.obj = pass_state.State(config_path=config_path, verbose=verbose)
    setup_logging(verbose)


cli.add_command(demo_cmd)
cli.add_command(serve_cmd)
cli.add_command(doctor_cmd)
cli.add_command(db_group)
cli.add_command(config_group)
cli.add_command(payments_group)
cli.add_command(dev_group)
cli.add_command(users_group)


def main() -> None:
    cli(prog_name="tondonate")
