"""Tests never ask the internet for a rate.

``rate.provider`` defaults to ``ton``, which asks CoinGecko and tonapi: every app,
ledger and command a test starts is put on the ``static`` provider by one of these
(the ``ton`` provider itself is tested against local stand-ins, test_ton_rate.py).
conftest.py fails a test that tries to resolve a TON price source's host anyway.
"""

from __future__ import annotations

from pathlib import Path

# the file layer of the settings (Config.settings, build_settings' first argument)
OFFLINE_SETTINGS = {"rate.provider": "static"}


def write_offline_toml(directory: Path) -> Path:
    """A tondonate.toml in ``directory`` (the cwd of a command under test) with the static provider."""
    path = directory / "tondonate.toml"
    path.write_text('[settings.rate]\nprovider = "static"\n', encoding="utf-8")
    return path
