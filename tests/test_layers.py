"""The layers of docs/architecture.md that imports alone can break: the money path knows no
transport, and the HTTP side serves without loading the bot framework."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "tondonate"


def loaded_after(*modules: str) -> set[str]:
    """Top-level packages and tondonate modules loaded by importing ``modules`` in a fresh interpreter."""
    code = "import sys\n" + "".join(f"import {m}\n" for m in modules) + "print('\\n'.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return set(out.split())


def test_the_ledger_imports_no_transport_and_no_texts():
    loaded = loaded_after("tondonate.ledger", "tondonate.ledger.reconcile", "tondonate.ledger.check")
    assert not {m for m in loaded if m == "aiogram" or m.startswith("aiogram.")}
    assert not {
        m for m in loaded if m.startswith(("tondonate.i18n", "tondonate.bot", "tondonate.api", "tondonate.server"))
    }


def test_the_http_side_serves_without_loading_aiogram():
    """aiogram costs seconds of CPU to import: the demo serves first and loads it in a thread."""
    loaded = loaded_after("tondonate.server", "tondonate.api", "tondonate.demo.host", "tondonate.cli")
    assert not [m for m in loaded if m == "aiogram" or m.startswith("aiogram.")]


def test_no_module_but_the_emulator_is_over_300_lines():
    long = {
        str(path.relative_to(PACKAGE)): n
        for path in PACKAGE.rglob("*.py")
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > 300
    }
    assert set(long) <= {"emulator/botapi.py"}, long
