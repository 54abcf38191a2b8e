"""Log lines as text or as JSON (``log.format``), and the filter that keeps secrets out
of both.

The messages carry their facts as ``key=value`` pairs (``payment credited
charge_id=... tg_id=... stars=...``); in JSON each pair is also a field of its own, so a
log pipeline can filter on ``charge_id`` without parsing the text.  Whole numbers become
numbers; quoted values (``payload='abc'``) lose their quotes.
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime
from typing import Any

import orjson

from .redact import redact_text

_PAIR = re.compile(r"(?<![\w.])([a-z_][a-z0-9_]*)=('[^']*'|\"[^\"]*\"|[^\s,;]+)")
_INT = re.compile(r"-?\d{1,18}")
CORE = ("time", "level", "logger", "message")
# What every LogRecord has: anything else on a record came from ``extra=`` and is a field.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


def fields_of(message: str) -> dict[str, Any]:
    """The ``key=value`` pairs of a message; a key given twice keeps its first value."""
    fields: dict[str, Any] = {}
    for key, raw in _PAIR.findall(message):
        if key in fields or key in CORE:
            continue
        if raw[:1] in "'\"" and len(raw) >= 2 and raw[-1] == raw[0]:
            fields[key] = raw[1:-1]
        elif _INT.fullmatch(raw):
            fields[key] = int(raw)
        else:
            fields[key] = raw.rstrip(".:)")
    return fields


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time (UTC, ISO 8601), level, logger, message, the message's
    ``key=value`` fields, any ``extra=`` fields, and the traceback as ``exception``."""

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": message,
        }
        for key, value in fields_of(message).items():
            line.setdefault(key, value)
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                line.setdefault(key, value)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line["exception"] = record.exc_text
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return orjson.dumps(line, default=str).decode()


class RedactFilter(logging.Filter):
    """On a handler: the secrets (the bot token, the metrics token) and anything like
    initData masked in each record's message, its traceback and its ``extra=`` strings,
    before any formatter (text or JSON) sees them."""

    def __init__(self, secrets: tuple[str, ...]):
        super().__init__()
        self.secrets = tuple(s for s in secrets if s)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = redact_text(message, self.secrets)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact_text(record.exc_text, self.secrets)
        for key, value in vars(record).items():
            if key not in _STANDARD and isinstance(value, str):
                setattr(record, key, redact_text(value, self.secrets))
        return True


def use_format(fmt: str) -> None:
    """``json``: every handler of the root logger writes JSON lines (``text`` is how they start)."""
    if fmt == "json":
        for handler in logging.getLogger().handlers:
            handler.setFormatter(JsonFormatter())


def redact_secrets(*secrets: str) -> None:
    """Mask ``secrets`` (and initData) in whatever the root logger's handlers write."""
    for handler in logging.getLogger().handlers:
        handler.addFilter(RedactFilter(secrets))
