from __future__ import annotations

import click

from .options import config_option, pass_state, run


@click.command("serve")
@click.option("--host", default=None, help="Listen address (default: http.host, 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Listen port (default: http.port, 8080).")
@config_option
@pass_state.decorator
def serve_cmd(state, host: str | None, port: int | None) -> None:
    """Run the Mini App server and the Telegram bot in one process.

    Applies pending database migrations, serves the Mini App and its API over
    HTTP, and receives bot updates by long polling (or by webhook when
    bot.mode = "webhook").  Stop it with Ctrl-C or SIGTERM.

    \b
    Needs, in tondonate.toml or the environment:
      bot.token    TONDONATE_BOT_TOKEN   the token @BotFather gave (required)
      webapp.url   TONDONATE_WEBAPP_URL  the public HTTPS URL of this server, for
                                         the /start button that opens the Mini App
    and uses db.url (TONDONATE_DB_URL, default sqlite:///tondonate.db).
    """
    from ..config import ConfigError, require_bot_token
    from ..server import StartupError, serve

    config = state.config()
    http = {k: v for k, v in (("host", host), ("port", port)) if v is not None}
    if http:
        config = config.replace(http=http)
    try:
        require_bot_token(config)
        run(serve(config))
    except (ConfigError, StartupError) as exc:
        raise click.ClickException(str(exc)) from None
    except OSError as exc:
        raise click.ClickException(
            f"cannot listen on {config.http.host}:{config.http.port}: {exc.strerror or exc}"
        ) from None
