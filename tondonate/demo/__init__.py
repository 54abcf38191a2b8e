"""``tondonate demo``: the real server, bot and Mini App, with only Telegram emulated.

One process, one event loop:

* the Bot API emulator (:class:`tondonate.emulator.BotAPIEmulator`) on a random
  local port, which the real aiogram bot long-polls;
* the real application from :func:`tondonate.server.create_app` on a second random
  port, configured with a bot token generated for this run only (so initData
  signed by the demo can never validate on a real ``tondonate serve``);
* the host page (:mod:`tondonate.demo.host`) on ``--port``: it frames the Mini
  App like Telegram Web does and plays Telegram's part of the postMessage
  protocol (theme, viewport, invoices, share links).

The database is a temporary SQLite file (or ``--db``), migrated and seeded with
:func:`tondonate.seed.seed`, the production SQL.  Nothing in this package is
imported by ``serve``.
"""

from tondonate.demo.runner import DemoError, DemoInfo, DemoOptions, demo_token, run_demo

__all__ = ["DemoError", "DemoInfo", "DemoOptions", "demo_token", "run_demo"]
