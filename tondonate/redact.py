"""URLs made safe to log, print and store: the one redactor every message goes through.

A database URL may carry a password (``postgresql://bob:s3cret@host/db``, or
``?password=`` in its query); a rate source's URL may carry an API key in its query,
in user:password or as a path segment.  :func:`redact_url` masks all of them, so a
URL can be shown anywhere.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

MASK = "***"
UNPARSABLE = "<unparsable url>"
_TOKENISH = re.compile(r"[A-Za-z0-9_\-]{24,}|.*:.*")  # path segments that look like keys (or bot123:ABC)


def redact_url(url: str, *, keep_user: bool = False) -> str:
    """``url`` with its password, query values and key-like path segments masked, and no
    fragment.  The user name is dropped too (a key can hide there), unless ``keep_user``
    (a database role, which the operator needs to see): ``bob:***@host``."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        if ":" in host:
            host = f"[{host}]"
        if parts.port is not None:
            host = f"{host}:{parts.port}"
        user, password = parts.username, parts.password
    except ValueError:
        return UNPARSABLE
    if keep_user and user is not None:
        host = f"{user}{':' + MASK if password is not None else ''}@{host}"
    path = "/".join(MASK if segment and _TOKENISH.fullmatch(segment) else segment for segment in parts.path.split("/"))
    query = urlencode([(name, MASK) for name, _ in parse_qsl(parts.query, keep_blank_values=True)], safe="*")
    return urlunsplit((parts.scheme, host, path, query, ""))


# Telegram's signed initData (a query string that always carries auth_date=): never logged whole.
_INIT_DATA = re.compile(r"\S*auth_date(?:=|%3D)\S*")
INIT_DATA_MASK = "<init-data>"


def redact_text(text: str, secrets: tuple[str, ...] = ()) -> str:
    """``text`` (a log message, a traceback) with each of ``secrets`` (the bot token, the
    metrics token) and anything that looks like initData masked."""
    for secret in secrets:
        if secret and secret in text:
            text = text.replace(secret, MASK)
    if "auth_date" in text:
        text = _INIT_DATA.sub(INIT_DATA_MASK, text)
    return text


def redact_db_url(url: str) -> str:
    """A database URL to show the operator: a SQLite URL as it is (a file path holds no secret,
    and masking its long segments would hide which file), any other with its password masked
    and its role kept."""
    if url.lower().startswith("sqlite:") and "?" not in url and "#" not in url:
        return url
    return redact_url(url, keep_user=True)
