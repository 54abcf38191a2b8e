"""The money path: invoices, exactly-once credits, refunds, reconciliation, the rate.

No HTTP and no Telegram here (no aiogram, no texts): the API and the bot call in,
and Telegram's side of reconciliation is behind :class:`~.reconcile.StarTransactions`.
"""

from .invoices import PRESET_IDS, InvoiceError, Quote
from .ledger import Ledger, open_ledger
from .types import CURRENCY, CreditResult, IncomingPayment, RefundError

__all__ = [
    "CURRENCY",
    "PRESET_IDS",
    "CreditResult",
    "IncomingPayment",
    "InvoiceError",
    "Ledger",
    "Quote",
    "RefundError",
    "open_ledger",
]
