from __future__ import annotations

import click
import orjson

from ..redact import redact_db_url
from ..settings import SPECS, SettingError, load_settings, parse_cli_value, set_setting, unset_setting
from .options import config_option, existing_database, pass_state, run, with_db


def _show(value) -> str:
    return value if isinstance(value, str) else orjson.dumps(value).decode()


def _key_arg(f):
    return click.argument("key", metavar="KEY")(f)


@click.group("config")
def config_group() -> None:
    """Business settings (presets, limits, rounding, rates), stored in the database.

    A running server sees a change within a few seconds.  Lists are JSON:
    tondonate config set donations.presets "[100, 50, 25]"
    """


def _migrated(config) -> None:
    from ..db.migrate import migrate

    try:
        migrate(config.db.url)
    except Exception as exc:
        raise click.ClickException(f"cannot prepare the database: {exc}") from None


def _known(key: str) -> None:
    if key not in SPECS:
        raise click.ClickException(f"unknown setting {key!r}; known settings: {', '.join(SPECS)}")


def _on_db(state, work, *, write: bool = False):
    """Run ``work(db, config)`` on the existing database the config names: migrated first
    to ``write``, refused when not up to date to read."""
    config = state.config()
    existing_database(config, migrated=not write)
    if write:
        _migrated(config)
    return run(with_db(config, lambda db: work(db, config)))


@config_group.command("list")
@config_option
@pass_state.decorator
def list_cmd(state) -> None:
    """Every setting with its value and where it comes from."""
    current = _on_db(state, lambda db, config: load_settings(db, config.settings))
    width = max(map(len, SPECS))
    for key, spec in SPECS.items():
        click.echo(f"{key:<{width}}  {_show(current[key]):<24}  [{current.sources[key]}]  {spec.help}")


@config_group.command("get")
@_key_arg
@config_option
@pass_state.decorator
def get_cmd(state, key: str) -> None:
    """Print one setting's value."""
    _known(key)
    current = _on_db(state, lambda db, config: load_settings(db, config.settings))
    click.echo(_show(current[key]))


@config_group.command("set")
@_key_arg
@click.argument("value", metavar="VALUE")
@config_option
@pass_state.decorator
def set_cmd(state, key: str, value: str) -> None:
    """Set KEY to VALUE (validated; nothing changes when it is not allowed)."""
    try:
        parsed = parse_cli_value(key, value)
    except SettingError as exc:
        raise click.ClickException(str(exc)) from None
    try:
        stored = _on_db(state, lambda db, config: set_setting(db, key, parsed, config.settings), write=True)
    except SettingError as exc:  # the values together: the same check every way of setting makes
        raise click.ClickException(str(exc)) from None
    click.echo(f"{key} = {_show(stored)} (in {redact_db_url(state.config().db.url)})")


@config_group.command("unset")
@_key_arg
@config_option
@pass_state.decorator
def unset_cmd(state, key: str) -> None:
    """Remove KEY from the database: the toml [settings] value or the default applies again."""
    _known(key)
    try:
        removed = _on_db(state, lambda db, config: unset_setting(db, key, config.settings), write=True)
    except SettingError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"{key} unset" if removed else f"{key} was not set in the database")
