"""Every business setting, its default and how a value is validated; a snapshot of them all.

Three layers, later wins: the defaults below, the toml ``[settings]`` section,
and the ``settings`` table (:mod:`.store`).  A value is checked on its own
(:func:`validate`) and, before it is stored, together with the others
(:func:`check_consistent`: a donation range that allows no amount is refused), so
every way of changing a setting refuses the same values with the same message.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import zoneinfo
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

import orjson

from .kinds import (
    DEFAULT_TON_SOURCES,
    SettingError,
    boolean,
    choice,
    decimal_string,
    fraction,
    ids,
    integer,
    presets,
    text,
    timezone,
    ton_sources,
    tons_per_star,
)

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Spec:
    key: str
    default: Any
    parse: Callable[[Any], Any]
    help: str

    @property
    def allowed(self) -> str:
        return getattr(self.parse, "allowed", "")


SPECS: dict[str, Spec] = {
    s.key: s
    for s in [
        Spec("donations.presets", [100, 50, 25], presets, "Stars of the packages «1 место», «2 место», «3 место»"),
        Spec("donations.min_stars", 1, integer(1, 100_000), "smallest custom donation, Stars"),
        Spec("donations.max_stars", 10_000, integer(1, 100_000), "largest custom donation, Stars"),
        Spec("tons.decimals", 2, integer(0, 9), "digits after the point in tons amounts"),
        Spec(
            "tons.rounding",
            "down",
            choice("down", "half_up", "half_even", "up"),
            "how stars x rate is rounded to tons",
        ),
        Spec("week.timezone", "Europe/Berlin", timezone, "time zone of the weekly board's ISO weeks"),
        Spec("leaderboard.page_size", 50, integer(1, 100), "default page size of the boards"),
        Spec(
            "rate.provider",
            "ton",
            choice("ton", "static", "http_json"),
            "where tons_per_star comes from: ton (the TON price), static, http_json",
        ),
        Spec("rate.static_tons_per_star", "1", tons_per_star, "rate of the static provider"),
        Spec("rate.url", "", text, "http_json provider: URL returning JSON"),
        Spec("rate.json_path", "", text, "http_json provider: dot path to the number (list indexes allowed)"),
        Spec("rate.multiplier", "1", decimal_string(), "http_json provider: the number is multiplied by this"),
        Spec("rate.invert", False, boolean, "http_json provider: use 1 / (number x multiplier)"),
        Spec("rate.star_usd", "0.013", decimal_string(), "ton provider: US dollars one Star is worth"),
        Spec(
            "rate.ton_sources",
            DEFAULT_TON_SOURCES,
            ton_sources,
            "ton provider: where the TON/USD price is asked (each a URL and the dot path to the number)",
        ),
        Spec(
            "rate.max_spread",
            "0.10",
            fraction,
            "ton provider: a source off the median price by more than this share is ignored",
        ),
        Spec("rate.ttl_seconds", 600, integer(10, 86_400), "how long a fetched rate is used"),
        Spec(
            "rate.stale_after_seconds",
            3600,
            integer(60, 30 * 86_400),
            "a fetched rate still in use after this long (its sources failing) is logged as a WARNING",
        ),
        Spec("rate.default_tons_per_star", "1", tons_per_star, "rate used when no rate was ever fetched"),
        Spec("limits.invoices_per_minute", 10, integer(1, 10_000), "invoices one user may create per minute"),
        Spec("auth.max_age_seconds", 86_400, integer(60, 30 * 86_400), "oldest Mini App initData accepted"),
        Spec("admin.ids", [], ids, "Telegram ids of admins"),
        Spec(
            "bot.thanks_per_second",
            25,
            integer(0, 30),
            "thank-you messages the bot sends per second after payments (0: none; Telegram allows ~30)",
        ),
    ]
}


def unknown_setting(key: str) -> SettingError:
    return SettingError(f"unknown setting {key!r}; known settings: {', '.join(SPECS)}")


def validate(key: str, value: Any) -> Any:
    """The canonical value of ``key``, or SettingError naming what is allowed."""
    spec = SPECS.get(key)
    if spec is None:
        raise unknown_setting(key)
    try:
        return spec.parse(value)
    except SettingError as exc:
        raise SettingError(f"{key} {exc}") from None


def parse_cli_value(key: str, text: str) -> Any:
    """A value typed on the command line: JSON when it parses, else the bare string."""
    if key not in SPECS:
        raise unknown_setting(key)
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        value = text
    if isinstance(value, (int, float)) and not isinstance(value, bool) and isinstance(SPECS[key].default, str):
        value = text  # keep decimals exact: "0.1" must not go through a float
    return validate(key, value)


@dataclasses.dataclass(frozen=True)
class Settings:
    """One consistent snapshot of every business setting."""

    values: Mapping[str, Any]
    sources: Mapping[str, str]  # key -> "default" | "file" | "database"

    def __getitem__(self, key: str) -> Any:
        return self.values[key]

    # Typed accessors for the hot paths.
    @property
    def presets(self) -> list[int]:
        return self.values["donations.presets"]

    @property
    def tons_decimals(self) -> int:
        return self.values["tons.decimals"]

    @property
    def tons_rounding(self) -> str:
        return self.values["tons.rounding"]

    @functools.cached_property  # a snapshot never changes; the week board asks on every request
    def timezone(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.values["week.timezone"])

    def decimal(self, key: str) -> Decimal:
        return Decimal(self.values[key])


def build_settings(file_defaults: Mapping[str, Any], rows: Mapping[str, Any]) -> Settings:
    """Merge the three layers.  A bad file value is an error; a bad stored value is logged and skipped."""
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for key, spec in SPECS.items():
        values[key], sources[key] = spec.default, "default"
    for key, value in file_defaults.items():
        values[key], sources[key] = validate(key, value), "file"
    for key, value in rows.items():
        if key not in SPECS:
            continue  # a newer version's setting: not ours to judge
        try:
            values[key], sources[key] = validate(key, value), "database"
        except SettingError as exc:
            log.error("ignoring stored setting: %s", exc)
    return Settings(values=values, sources=sources)


def check_consistent(settings: Settings, changed: str) -> None:
    """SettingError when the values, together, are unusable (``changed``: the key just set
    or unset, named in the message).  Checked before any change is stored."""
    low, high = settings["donations.min_stars"], settings["donations.max_stars"]
    if changed in ("donations.min_stars", "donations.max_stars") and low > high:
        what = (
            f"{changed} = {_shown(settings[changed])}"
            if settings.sources[changed] == "database"
            else f"unsetting {changed}"
        )
        raise SettingError(f"{what} would leave no allowed amount: min_stars {low} > max_stars {high}")


def _shown(value: Any) -> str:
    return value if isinstance(value, str) else orjson.dumps(value).decode()
