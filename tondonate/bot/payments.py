"""Payments: pre-checkout checks, crediting successful payments, refunds (filled by the ledger)."""

from __future__ import annotations

from aiogram import Router

router = Router(name=__name__)
