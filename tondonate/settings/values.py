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
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlsplit

import orjson

log = logging.getLogger(__name__)


class SettingError(ValueError):
    """An unknown key or a value out of its allowed range; the message names what is allowed."""


# -- value parsers: each takes a Python value (from JSON or toml) and returns the
# -- canonical one, or raises SettingError naming what is allowed.


def _int(lo: int | None = None, hi: int | None = None) -> Callable[[Any], int]:
    def parse(value: Any) -> int:
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, str) and value.strip().lstrip("-").isdigit():
                value = int(value)
            else:
                raise SettingError(f"must be an integer, got {value!r}")
        if lo is not None and value < lo or hi is not None and value > hi:
            raise SettingError(
                f"must be an integer from {lo if lo is not None else '-inf'} to {hi if hi is not None else 'inf'}, got {value}"
            )
        return value

    parse.allowed = f"integer {lo}..{hi}" if hi is not None else f"integer >= {lo}"  # type: ignore[attr-defined]
    return parse


def _decimal(positive: bool = True) -> Callable[[Any], str]:
    def parse(value: Any) -> str:
        if isinstance(value, bool):
            raise SettingError(f"must be a decimal number, got {value!r}")
        try:
            number = Decimal(str(value))
        except InvalidOperation:
            raise SettingError(f"must be a decimal number, got {value!r}") from None
        if not number.is_finite() or (positive and number <= 0):
            raise SettingError(f"must be a decimal number > 0, got {value!r}")
        return str(number)

    parse.allowed = "decimal > 0" if positive else "decimal"  # type: ignore[attr-defined]
    return parse


# The highest tons_per_star a rate may be (static, default or fetched).  Tons are stored as
# 64-bit nano-tons: without a bound, 922,338 tons per Star made 10,000 Stars overflow them.
# A thousand tons per Star is far beyond any real TON/Star price (about 0.005 in 2026);
# the ledger's own bound on one payment (ledger.money.MAX_PAYMENT_TONS) follows from it.
MAX_TONS_PER_STAR = Decimal(1000)


def _rate(value: Any) -> str:
    """A tons_per_star: a decimal > 0 and at most :data:`MAX_TONS_PER_STAR`."""
    text = _decimal()(value)
    if Decimal(text) > MAX_TONS_PER_STAR:
        raise SettingError(
            f"must be at most {MAX_TONS_PER_STAR} tons per Star (a larger rate overflows the ledger's amounts), "
            f"got {value!r}"
        )
    return text


_rate.allowed = f"decimal > 0, at most {MAX_TONS_PER_STAR}"  # type: ignore[attr-defined]


def _fraction(value: Any) -> str:
    """A share such as a spread: a decimal > 0, at most 1."""
    text = _decimal()(value)
    if Decimal(text) > 1:
        raise SettingError(f"must be a decimal > 0 and at most 1 (0.1 is 10 %), got {value!r}")
    return text


_fraction.allowed = "decimal > 0, at most 1"  # type: ignore[attr-defined]

MAX_TON_SOURCES = 10


def _ton_sources(value: Any) -> list[dict[str, str]]:
    """Where the ``ton`` provider asks the TON/USD price: URLs and the dot path to the
    number in each one's JSON (data, not code: a new source is a setting, not a release)."""
    shape = f'a JSON list of 1..{MAX_TON_SOURCES} {{"url": "https://...", "path": "dot.path"}} objects'
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_TON_SOURCES:
        raise SettingError(f"must be {shape}, got {value!r}")
    sources = []
    for index, item in enumerate(value):
        if not isinstance(item, dict) or set(item) != {"url", "path"}:
            raise SettingError(f"must be {shape}; item {index} is {item!r}")
        url, path = item["url"], item["path"]
        if not isinstance(url, str) or not isinstance(path, str):
            raise SettingError(f"must be {shape}; item {index} has a url or path that is not a string")
        try:
            parts = urlsplit(url.strip())
            ok = parts.scheme.lower() in ("http", "https") and bool(parts.hostname)
        except ValueError:
            ok = False
        if not ok:
            raise SettingError(
                f"must be {shape}; item {index}: url is not an http(s) URL"
            )  # not quoted: may hold a key
        sources.append({"url": url.strip(), "path": path.strip()})
    return sources


_ton_sources.allowed = f'JSON list of {{"url", "path"}} objects (1..{MAX_TON_SOURCES})'  # type: ignore[attr-defined]

# The ``ton`` provider's sources of the TON/USD price, in their documented answers:
# CoinGecko's simple price {"the-open-network": {"usd": 5.21}} and tonapi's rates
# {"rates": {"TON": {"prices": {"USD": 5.21}, ...}}}.  Both are keyless free tiers.
DEFAULT_TON_SOURCES = [
    {
        "url": "https://api.coingecko.com/api/v3/simple/price?ids=the-open-network&vs_currencies=usd",
        "path": "the-open-network.usd",
    },
    {"url": "https://tonapi.io/v2/rates?tokens=ton&currencies=usd", "path": "rates.TON.prices.USD"},
]


def _choice(*options: str) -> Callable[[Any], str]:
    def parse(value: Any) -> str:
        if value not in options:
            raise SettingError(f"must be one of {', '.join(options)}, got {value!r}")
        return value

    parse.allowed = " | ".join(options)  # type: ignore[attr-defined]
    return parse


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise SettingError(f"must be a string, got {value!r}")
    return value


_text.allowed = "string"  # type: ignore[attr-defined]


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no"):
        return value.lower() in ("true", "1", "yes")
    raise SettingError(f"must be true or false, got {value!r}")


_bool.allowed = "true | false"  # type: ignore[attr-defined]


def _timezone(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise SettingError(f"must be an IANA time zone name such as Europe/Berlin, got {value!r}")
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise SettingError(f"must be an IANA time zone name such as Europe/Berlin, got {value!r}") from None
    return value


_timezone.allowed = "IANA time zone name (Europe/Berlin, UTC, ...)"  # type: ignore[attr-defined]


def _presets(value: Any) -> list[int]:
    if not isinstance(value, list) or len(value) != 3:
        raise SettingError(f"must be a JSON list of 3 positive integers (Stars of «1/2/3 место»), got {value!r}")
    return [_int(1, 100_000)(v) for v in value]


_presets.allowed = "JSON list of 3 integers 1..100000, e.g. [100, 50, 25]"  # type: ignore[attr-defined]


def _ids(value: Any) -> list[int]:
    if not isinstance(value, list):
        raise SettingError(f"must be a JSON list of Telegram ids, got {value!r}")
    return [_int(1)(v) for v in value]


_ids.allowed = "JSON list of Telegram user ids, e.g. [12345, 67890]"  # type: ignore[attr-defined]


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
        Spec("donations.presets", [100, 50, 25], _presets, "Stars of the packages «1 место», «2 место», «3 место»"),
        Spec("donations.min_stars", 1, _int(1, 100_000), "smallest custom donation, Stars"),
        Spec("donations.max_stars", 10_000, _int(1, 100_000), "largest custom donation, Stars"),
        Spec("tons.decimals", 2, _int(0, 9), "digits after the point in tons amounts"),
        Spec(
            "tons.rounding",
            "down",
            _choice("down", "half_up", "half_even", "up"),
            "how stars x rate is rounded to tons",
        ),
        Spec("week.timezone", "Europe/Berlin", _timezone, "time zone of the weekly board's ISO weeks"),
        Spec("leaderboard.page_size", 50, _int(1, 100), "default page size of the boards"),
        Spec(
            "rate.provider",
            "ton",
            _choice("ton", "static", "http_json"),
            "where tons_per_star comes from: ton (the TON price), static, http_json",
        ),
        Spec("rate.static_tons_per_star", "1", _rate, "rate of the static provider"),
        Spec("rate.url", "", _text, "http_json provider: URL returning JSON"),
        Spec("rate.json_path", "", _text, "http_json provider: dot path to the number (list indexes allowed)"),
        Spec("rate.multiplier", "1", _decimal(), "http_json provider: the number is multiplied by this"),
        Spec("rate.invert", False, _bool, "http_json provider: use 1 / (number x multiplier)"),
        Spec("rate.star_usd", "0.013", _decimal(), "ton provider: US dollars one Star is worth"),
        Spec(
            "rate.ton_sources",
            DEFAULT_TON_SOURCES,
            _ton_sources,
            "ton provider: where the TON/USD price is asked (each a URL and the dot path to the number)",
        ),
        Spec(
            "rate.max_spread",
            "0.10",
            _fraction,
            "ton provider: a source off the median price by more than this share is ignored",
        ),
        Spec("rate.ttl_seconds", 600, _int(10, 86_400), "how long a fetched rate is used"),
        Spec(
            "rate.stale_after_seconds",
            3600,
            _int(60, 30 * 86_400),
            "a fetched rate still in use after this long (its sources failing) is logged as a WARNING",
        ),
        Spec("rate.default_tons_per_star", "1", _rate, "rate used when no rate was ever fetched"),
        Spec("limits.invoices_per_minute", 10, _int(1, 10_000), "invoices one user may create per minute"),
        Spec("auth.max_age_seconds", 86_400, _int(60, 30 * 86_400), "oldest Mini App initData accepted"),
        Spec("admin.ids", [], _ids, "Telegram ids of admins"),
        Spec(
            "bot.thanks_per_second",
            25,
            _int(0, 30),
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
