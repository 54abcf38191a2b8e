"""The composition root: where the parts are opened, wired and run.

:mod:`.app` builds the aiohttp application (``create_app``) with every resource in a
cleanup context, :mod:`.botlife` starts and stops the bot, :mod:`.run` is ``tondonate
serve``'s one event loop, :mod:`.static` serves the Mini App bundle, and
:mod:`.appkeys` names what they share.
"""

from .app import create_app
from .botlife import StartupError
from .run import serve

__all__ = ["StartupError", "create_app", "serve"]
