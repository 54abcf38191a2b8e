from __future__ import annotations

import contextlib

import click

from .options import config_option, existing_database, pass_state, run


@contextlib.asynccontextmanager
async def _ledger_and_bot(config):
    """The same ledger and bot the server uses, without polling (the token checked: _config_with_token)."""
    from ..bot.client import build_bot
    from ..db import open_database
    from ..db.migrate import migrate
    from ..ledger import open_ledger
    from ..settings import load_settings

    migrate(config.db.url)
    db = open_database(config.db.url)
    await db.start()
    bot = build_bot(config)
    try:
        settings = await load_settings(db, config.settings)
        # Stopping the ledger stops a retry of a deferred credit, saying loudly what is left.
        async with open_ledger(db, lambda: settings) as ledger:
            yield ledger, bot
    finally:
        await bot.session.close()
        await db.stop()


def _config_with_token(state):
    """The config, once its bot token is there and well-formed (before aiogram's seconds of import)."""
    from ..config import ConfigError, require_bot_token

    config = state.config()
    try:
        require_bot_token(config)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    existing_database(config)
    return config


@click.group("payments")
def payments_group() -> None:
    """Stars payments: reconcile with Telegram, refund."""


@payments_group.command("reconcile")
@click.option("--full", is_flag=True, help="Reread all of Telegram's history, not just what is new since the last run.")
@config_option
@pass_state.decorator
def reconcile_cmd(state, full: bool) -> None:
    """Credit every Stars payment Telegram has and the ledger lacks.

    Pages through getStarTransactions, credits missing invoice payments
    (exactly once, like the bot would) and applies refunds.  Safe to run at
    any time, also while the server runs.  `serve` does this at start-up.
    """
    config = _config_with_token(state)
    from ..bot.stars import TelegramStars
    from ..ledger.reconcile import reconcile

    async def go():
        async with _ledger_and_bot(config) as (ledger, bot):

            def progress(report):  # the total is unknown until the last page
                click.echo(f"\rRead {report.scanned} Star transaction(s)...", nl=False, err=True)

            report = await reconcile(ledger, TelegramStars(bot), full=full, progress=progress)
            click.echo(err=True)
            return report

    report = _telegram_call(lambda: run(go()))
    click.echo(f"Scanned {report.scanned} transaction(s).")
    if report.recorded_credited:
        click.echo(f"Credited {report.recorded_credited} payment(s) that were recorded but not yet credited.")
    for charge_id in report.credited:
        click.echo(f"credited missing payment {charge_id}")
    for charge_id in report.refunded:
        click.echo(f"applied refund {charge_id}")
    if not (report.credited or report.refunded or report.recorded_credited):
        click.echo("Nothing to fix: the ledger matches Telegram.")


@payments_group.command("refund")
@click.argument("charge_id")
@config_option
@pass_state.decorator
def refund_cmd(state, charge_id: str) -> None:
    """Refund a Stars payment to its payer and take its tons off every board.

    CHARGE_ID is the telegram_payment_charge_id.  Running it twice is safe.
    """
    config = _config_with_token(state)

    async def go():
        from aiogram.exceptions import TelegramBadRequest

        from ..ledger import statements

        async with _ledger_and_bot(config) as (ledger, bot):
            row = await statements.payer_of(ledger.db, charge_id)
            if row is None:
                raise click.ClickException(f"no payment with charge id {charge_id!r} in the ledger")
            refunded_now = True
            try:
                await bot.refund_star_payment(user_id=row["tg_id"], telegram_payment_charge_id=charge_id)
            except TelegramBadRequest as exc:
                if "ALREADY_REFUNDED" not in str(exc):
                    raise click.ClickException(f"Telegram refused the refund: {exc.message}") from None
                refunded_now = False
            return refunded_now, await ledger.refund(charge_id)

    refunded_now, outcome = _telegram_call(lambda: run(go()))
    if refunded_now and outcome == "already_refunded":
        # Telegram's refunded_payment update reached a running bot first: it took the tons off.
        outcome = "refunded"
    messages = {
        "refunded": f"Refunded {charge_id}; its tons are off every board.",
        "already_refunded": f"{charge_id} was already refunded; nothing changed.",
        "refunded_uncredited": f"Refunded {charge_id} (it had not been credited yet).",
    }
    if not refunded_now and outcome == "refunded":
        click.echo(f"Telegram had already refunded {charge_id}; its tons are now off every board.")
    else:
        click.echo(messages.get(outcome, f"{charge_id}: {outcome}"))


def _telegram_call(fn):
    from aiogram.exceptions import TelegramAPIError, TelegramNetworkError

    try:
        return fn()
    except TelegramNetworkError as exc:
        raise click.ClickException(f"cannot reach the Bot API: {exc}") from None
    except TelegramAPIError as exc:
        raise click.ClickException(f"Telegram error: {exc.message}") from None
