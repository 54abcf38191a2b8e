from __future__ import annotations

import click

from .options import config_option, pass_state, progress_bar, run


@click.group("dev")
def dev_group() -> None:
    """Tools for development, demos and benchmarks."""


@dev_group.command("seed")
@click.option(
    "--users", "users", type=click.IntRange(1, 10_000_000), default=1000, show_default=True, help="Users to add."
)
@click.option(
    "--donations",
    type=click.IntRange(0, 100_000_000),
    default=5000,
    show_default=True,
    help="Credited donations to add.",
)
@click.option(
    "--weeks",
    type=click.IntRange(1, 520),
    default=12,
    show_default=True,
    help="Spread donations over this many past weeks.",
)
@click.option(
    "--seed", "random_seed", type=int, default=1, show_default=True, help="Random seed (same seed, same data)."
)
@config_option
@pass_state.decorator
def seed_cmd(state, users: int, donations: int, weeks: int, random_seed: int) -> None:
    """Fill the database with realistic users, donations and referral trees.

    A few whales, many small donors, referral trees; written with the same
    SQL the bot uses, so every leaderboard aggregate is right.  Adds to what
    is there (new users get fresh ids).  Example for a benchmark-sized board:

        tondonate dev seed --users 100000 --donations 1000000 --weeks 52
    """
    from ..db.migrate import migrate
    from ..ledger.ledger import rate_now
    from ..seed import SeedPlan, seed
    from ..settings import load_settings
    from .options import with_db

    config = state.config()
    migrate(config.db.url)

    async def go(db):
        settings = await load_settings(db, config.settings)
        rate = await rate_now(db, settings)
        # The bars go to stderr, the summary to stdout.
        with progress_bar(users, "Users    ") as user_bar, progress_bar(donations, "Donations") as donation_bar:
            bars = {"users": user_bar, "donations": donation_bar}
            return await seed(
                db,
                settings,
                rate,
                SeedPlan(users, donations, weeks, seed=random_seed),
                progress=lambda kind, n: bars[kind].update(n),
            )

    report = run(with_db(config, go))
    click.echo(
        f"Added {report.users} users and {report.donations} donations ({report.stars} Stars) in {report.seconds:.1f} s."
    )
