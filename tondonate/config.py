"""Infrastructure configuration: the toml file, overridden key by key by env vars.

Every key ``section.key`` can be overridden by ``TONDONATE_<SECTION>_<KEY>``
(e.g. ``bot.token`` by ``TONDONATE_BOT_TOKEN``).  Business settings (presets,
rates, rounding...) are not here: they live in the ``settings`` table, see
:mod:`tondonate.settings`; the toml ``[settings]`` section only gives their
defaults.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

DEFAULT_CONFIG_FILE = "tondonate.toml"
ENV_PREFIX = "TONDONATE_"
LOG_FORMATS = ("text", "json")


class ConfigError(ValueError):
    """A configuration file or env var that cannot be used; the message says why."""


@dataclasses.dataclass(frozen=True)
class BotConfig:
    token: str = ""
    api_base: str = "https://api.telegram.org"
    mode: str = "polling"  # polling | webhook
    webhook_url: str = ""
    webhook_secret: str = ""

    def __repr__(self) -> str:  # never leak the token into logs or tracebacks
        masked = "***" if self.token else ""
        return (
            f"BotConfig(token={masked!r}, api_base={self.api_base!r}, mode={self.mode!r}, "
            f"webhook_url={self.webhook_url!r})"
        )


@dataclasses.dataclass(frozen=True)
class WebappConfig:
    url: str = ""
    short_name: str = ""


@dataclasses.dataclass(frozen=True)
class HttpConfig:
    host: str = "127.0.0.1"
    port: int = 8080
    # A request's line and headers must arrive within this many seconds (of connecting, or of
    # the first byte of a later request on a kept-alive connection); then 408 and closed.
    header_timeout_seconds: int = 10
    # An idle kept-alive connection is closed after this many seconds.
    keepalive_seconds: int = 150
    # Reverse proxies whose X-Forwarded-For is believed: addresses or networks, separated by
    # spaces or commas ("127.0.0.1 ::1").  Empty: the client is the connection's peer.
    trusted_proxies: str = ""


@dataclasses.dataclass(frozen=True)
class DbConfig:
    url: str = "sqlite:///tondonate.db"


@dataclasses.dataclass(frozen=True)
class MetricsConfig:
    # Empty: GET /metrics answers loopback clients only.  Set: it answers anyone who sends
    # "Authorization: Bearer <token>", and no one else (a reverse proxy on the same host
    # makes every public request look local).
    token: str = ""

    def __repr__(self) -> str:  # the token is a secret like the bot's
        return f"MetricsConfig(token={'***' if self.token else ''!r})"


@dataclasses.dataclass(frozen=True)
class LogConfig:
    format: str = "text"  # text | json (one JSON object a line)


@dataclasses.dataclass(frozen=True)
class Config:
    bot: BotConfig = BotConfig()
    webapp: WebappConfig = WebappConfig()
    http: HttpConfig = HttpConfig()
    db: DbConfig = DbConfig()
    metrics: MetricsConfig = MetricsConfig()
    log: LogConfig = LogConfig()
    # Defaults for business settings, flattened to "section.key" (see settings.py).
    settings: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    path: Path | None = None

    def replace(self, **sections: Any) -> Config:
        """A copy with some keys changed: ``cfg.replace(db={"url": ...})``."""
        changes: dict[str, Any] = {}
        for name, values in sections.items():
            if name == "settings":
                changes[name] = {**self.settings, **values}
            else:
                changes[name] = dataclasses.replace(getattr(self, name), **values)
        return dataclasses.replace(self, **changes)


SECTIONS = {
    "bot": BotConfig,
    "webapp": WebappConfig,
    "http": HttpConfig,
    "db": DbConfig,
    "metrics": MetricsConfig,
    "log": LogConfig,
}


def _coerce(section: str, key: str, value: Any, source: str) -> Any:
    field_type = {f.name: f.type for f in dataclasses.fields(SECTIONS[section])}[key]
    if field_type == "int":
        try:
            return int(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{source}: {section}.{key} must be an integer, got {value!r}") from None
    if not isinstance(value, str):
        raise ConfigError(f"{source}: {section}.{key} must be a string, got {value!r}")
    return value


def _flatten(prefix: str, table: Mapping[str, Any]) -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in table.items():
        name = f"{prefix}.{key}" if prefix else key
        if isinstance(value, dict):
            flat.update(_flatten(name, value))
        else:
            flat[name] = value
    return flat


def load_config(path: str | os.PathLike | None = None, env: Mapping[str, str] | None = None) -> Config:
    """Read ``path`` (or ``./tondonate.toml`` when present), then apply env overrides."""
    env = os.environ if env is None else env
    explicit = path is not None
    file_path = Path(path) if path is not None else Path(DEFAULT_CONFIG_FILE)
    data: dict[str, Any] = {}
    if file_path.is_file():
        try:
            data = tomllib.loads(file_path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{file_path}: not valid TOML: {exc}") from None
    elif explicit:
        raise ConfigError(f"config file not found: {file_path}")

    unknown = set(data) - set(SECTIONS) - {"settings"}
    if unknown:
        raise ConfigError(
            f"{file_path}: unknown section(s) {', '.join(sorted(unknown))}; "
            f"allowed: {', '.join([*SECTIONS, 'settings'])}"
        )
    sections: dict[str, Any] = {}
    for section, cls in SECTIONS.items():
        table = data.get(section, {})
        if not isinstance(table, dict):
            raise ConfigError(f"{file_path}: [{section}] must be a table")
        allowed = {f.name for f in dataclasses.fields(cls)}
        values: dict[str, Any] = {}
        for key, value in table.items():
            if key not in allowed:
                raise ConfigError(
                    f"{file_path}: unknown key {section}.{key}; allowed: "
                    + ", ".join(f"{section}.{k}" for k in sorted(allowed))
                )
            values[key] = _coerce(section, key, value, str(file_path))
        for key in allowed:
            env_name = f"{ENV_PREFIX}{section}_{key}".upper()
            if env_name in env:
                values[key] = _coerce(section, key, env[env_name], env_name)
        sections[section] = cls(**values)

    settings_table = data.get("settings", {})
    if not isinstance(settings_table, dict):
        raise ConfigError(f"{file_path}: [settings] must be a table")
    config = Config(**sections, settings=_flatten("", settings_table), path=file_path if file_path.is_file() else None)
    validate_config(config)
    return config


# What @BotFather gives: the bot's numeric id, a colon, then a secret of URL-safe characters
# (35 of them today; the length is Telegram's business, so any is accepted).
BOT_TOKEN_FORMAT = re.compile(r"[0-9]+:[A-Za-z0-9_-]+")


def require_bot_token(config: Config) -> str:
    """The bot token, or ConfigError saying where to set it or that it is malformed (every
    command that needs it asks here, before importing aiogram)."""
    if not config.bot.token:
        raise ConfigError("bot.token is not set: put it in tondonate.toml or set TONDONATE_BOT_TOKEN")
    if not BOT_TOKEN_FORMAT.fullmatch(config.bot.token):
        raise ConfigError(
            "bot.token is malformed: expected <bot id>:<secret> as @BotFather gives it "
            "(digits, a colon, letters, digits, - and _); check TONDONATE_BOT_TOKEN or tondonate.toml"
        )
    return config.bot.token


def parse_networks(text: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """``"127.0.0.1, ::1 10.0.0.0/8"`` as networks (an address is a network of one); ConfigError naming a bad entry."""
    networks = []
    for item in text.replace(",", " ").split():
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ConfigError(f"http.trusted_proxies: {item!r} is not an IP address or network") from None
    return tuple(networks)


def validate_config(config: Config) -> None:
    if config.bot.mode not in ("polling", "webhook"):
        raise ConfigError(f"bot.mode must be 'polling' or 'webhook', got {config.bot.mode!r}")
    if config.bot.mode == "webhook" and not config.bot.webhook_url:
        raise ConfigError("bot.mode = 'webhook' needs bot.webhook_url (the public HTTPS URL Telegram posts to)")
    if config.log.format not in LOG_FORMATS:
        raise ConfigError(f"log.format must be 'text' or 'json', got {config.log.format!r}")
    if not 0 < config.http.port < 65536:
        raise ConfigError(f"http.port must be 1..65535, got {config.http.port}")
    parse_networks(config.http.trusted_proxies)
    for key, high in (("header_timeout_seconds", 3600), ("keepalive_seconds", 86400)):
        value = getattr(config.http, key)
        if not 1 <= value <= high:
            raise ConfigError(f"http.{key} must be 1..{high} seconds, got {value}")
