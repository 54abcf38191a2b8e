"""The scenarios of ``bench/chaos.py``, one module each; :mod:`.support` holds what they share.

Every scenario drives real ``tondonate serve`` processes against the Bot API
emulator (Telegram's stand-in) and returns :class:`.support.Row` objects, one
line of the report table each.  ``tests/test_chaos.py`` runs short versions.
"""
