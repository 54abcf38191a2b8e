"""Shared CLI plumbing: the state object, config loading, logging, running coroutines."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import click

from ..config import Config, ConfigError, load_config
from ..db import Database, DatabaseError, open_database
from ..logs import redact_secrets, use_format

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


@dataclasses.dataclass
class State:
    config_path: str | None
    verbose: int
    _config: Config | None = None

    def config(self) -> Config:
        if self._config is None:
            try:
                self._config = load_config(self.config_path)
            except ConfigError as exc:
                raise click.ClickException(str(exc)) from None
            redact_secrets(self._config.bot.token, self._config.metrics.token)
            use_format(self._config.log.format)
        return self._config


pass_state = SimpleNamespace(State=State, decorator=click.make_pass_decorator(State))


CONFIG_HELP = "Config file (default: ./tondonate.toml when present)."


def _set_config_path(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    if value is not None:
        state = ctx.find_object(State)  # made by the group, before any option of a command
        if state is not None:
            state.config_path, state._config = value, None


def config_option(f):
    """``--config FILE`` on a command, as well as before it: ``tondonate serve --config x.toml``
    is ``tondonate --config x.toml serve``."""
    return click.option(
        "--config",
        type=click.Path(dir_okay=False),
        default=None,
        expose_value=False,
        callback=_set_config_path,
        help=CONFIG_HELP,
    )(f)


def setup_logging(verbose: int) -> None:
    level = logging.DEBUG if verbose else logging.INFO
    logging.basicConfig(level=logging.WARNING if verbose < 2 else logging.DEBUG, format=LOG_FORMAT, stream=sys.stderr)
    logging.getLogger("tondonate").setLevel(level)
    logging.getLogger("aiogram").setLevel(logging.DEBUG if verbose >= 2 else logging.WARNING)


def run(coro):
    """Run a coroutine for a command, turning storage errors into one-line messages."""
    try:
        return asyncio.run(coro)
    except DatabaseError as exc:
        raise click.ClickException(f"database error: {exc}") from None


def existing_database(config: Config, *, migrated: bool = False) -> None:
    """Refuse a SQLite database file that is not there (instead of creating an empty one
    wherever the command runs), naming the URL looked at; with ``migrated``, refuse one with
    pending migrations too.  Only ``serve``, ``db migrate`` and ``demo`` create a database."""
    from ..db import dialect_of
    from ..db.sqlite import path_from_url
    from ..redact import redact_db_url

    url = config.db.url
    try:
        sqlite = dialect_of(url) == "sqlite"
    except DatabaseError as exc:
        raise click.ClickException(str(exc)) from None
    if sqlite:
        path = path_from_url(url)
        if path != ":memory:" and not Path(path).is_file():
            raise click.ClickException(
                f"no database at {redact_db_url(url)} ({Path(path).resolve()} does not exist): "
                "set db.url (TONDONATE_DB_URL, --config), or create it with `tondonate db migrate`"
            )
    if migrated:
        require_migrated(url, f"the database at {redact_db_url(url)}")


def require_migrated(url: str, name: str, hint: str = "") -> None:
    """Refuse the database at ``url`` (called ``name`` in the message) while it has pending migrations."""
    from ..db.migrate import status

    try:
        pending = [m.id for m in status(url) if not m.applied]
    except Exception as exc:
        raise click.ClickException(f"cannot read the migrations of {name}: {exc}") from None
    if pending:
        raise click.ClickException(
            f"{name} has pending migrations ({', '.join(pending)}): run `tondonate db migrate`{hint} first"
        )


async def with_db(config: Config, fn):
    db: Database = open_database(config.db.url)
    await db.start()
    try:
        return await fn(db)
    finally:
        await db.stop()


class _LineProgress:
    """``click.progressbar``'s stand-in when stderr is not a terminal (a log file,
    systemd, CI), where click shows the label alone: a line every ``every`` seconds
    while the work goes on, and one when it is complete."""

    def __init__(self, length: int, label: str, every: float = 10.0, clock=time.monotonic):
        self.length, self.label, self.every, self.clock = length, label, every, clock
        self.done, self.finished = 0, False

    def __enter__(self) -> _LineProgress:
        self.started = self.last = self.clock()
        return self

    def update(self, n: int) -> None:
        self.done += n
        now = self.clock()
        if self.done >= self.length:
            self._finish(now)
        elif now - self.last >= self.every:
            self.last = now
            click.echo(
                f"{self.label}  {self.done}/{self.length} ({self.done / self.length:.0%}, {now - self.started:.0f} s)",
                err=True,
            )

    def _finish(self, now: float) -> None:
        if not self.finished:
            self.finished = True
            click.echo(f"{self.label}  {self.done}/{self.length} in {now - self.started:.1f} s", err=True)

    def __exit__(self, exc_type, *_exc) -> None:
        if exc_type is None:
            self._finish(self.clock())


def progress_bar(length: int, label: str):
    """A progress bar on stderr: click's on a terminal, progress lines otherwise."""
    if sys.stderr.isatty():
        return click.progressbar(length=length, label=label, show_pos=True, file=sys.stderr)
    return _LineProgress(length, label)
