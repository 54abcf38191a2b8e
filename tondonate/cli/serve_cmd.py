from __future__ import annotations

import click

from .options import pass_state, run


@click.command("serve")
@click.option("--host", default=None, help="Listen address (default: http.host, 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Listen port (default: http.port, 8080).")
@pass_state.decorator
def serve_cmd(state, host: str | None, port: int | None) -> None:
    """Run the Mini App server and the Telegram bot in one process.

    Applies pending database migrations, serves the Mini App and its API over
    HTTP, and receives bot updates by long polling (or by webhook when
    bot.mode = "webhook").  Stop it with Ctrl-C or SIGTERM.
    """
    from ..app import StartupError
    from ..server import serve

    config = state.config()
    http = {k: v for k, v in (("host", host), ("port", port)) if v is not None}
    if http:
        config = config.replace(http=http)
    if not config.bot.token:
        raise click.ClickException("bot.token is not set: put it in tondonate.toml or set TONDONATE_BOT_TOKEN")
    try:
        run(serve(config))
    except StartupError as exc:
        raise click.ClickException(str(exc)) from None
    except OSError as exc:
        raise click.ClickException(f"cannot listen on {config.http.host}:{config.http.port}: {exc.strerror or exc}") from None
