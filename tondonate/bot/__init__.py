"""The Telegram side: the aiogram bot (:mod:`.client`), one Router per feature module
(:mod:`.start`, :mod:`.payments`), the paced thank-you sender, Telegram's calls the
money path needs (:mod:`.invoices`, :mod:`.stars`), and the handle the rest of the
server holds (:mod:`.handle`).

Importing this package does not import aiogram (its ~600 pydantic models cost
seconds of CPU): :mod:`.handle` is what the HTTP side imports, and the server
imports :mod:`.client` in a worker thread (``server/botlife.py``).
"""
