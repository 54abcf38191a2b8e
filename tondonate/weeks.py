"""ISO weeks of the weekly board ("2026-W48"), in the ``week.timezone`` zone.

A donation belongs to the ISO week of its instant seen on the local wall
clock of the configured zone.  Weeks run from Monday 00:00 local (inclusive)
to the next Monday 00:00 local (exclusive), so a week that contains a DST
change lasts 167 or 169 hours.

Note on Python datetimes: arithmetic and comparison between two datetimes
that share the same ``tzinfo`` object are done on the wall clock.  Measure a
week's real length with ``end.timestamp() - start.timestamp()`` (or convert
to UTC first), and query stored unix times with ``int(start.timestamp())``.
"""

from __future__ import annotations

import re
import time as _time
from datetime import UTC, date, datetime, time, timedelta, tzinfo

__all__ = ["week_key", "current_week_key", "parse_week_key", "week_bounds", "weeks_in_year"]

_KEY = re.compile(r"([0-9]{4})-W([0-9]{2})")  # ASCII digits only; used with fullmatch


def _zone(tz: tzinfo | str) -> tzinfo:
    if isinstance(tz, str):
        from zoneinfo import ZoneInfo

        return ZoneInfo(tz)
    if not isinstance(tz, tzinfo):
        raise TypeError(f"tz must be a ZoneInfo (or an IANA name), got {type(tz).__name__}")
    return tz


def _instant(moment: int | float | datetime) -> datetime:
    if isinstance(moment, datetime):
        if moment.tzinfo is None or moment.utcoffset() is None:
            raise ValueError(
                f"naive datetime {moment.isoformat()} is not an instant; give it a tzinfo (or pass unix seconds)"
            )
        return moment
    if isinstance(moment, bool) or not isinstance(moment, (int, float)):
        raise TypeError(f"moment must be unix seconds or an aware datetime, got {type(moment).__name__}")
    return datetime.fromtimestamp(moment, UTC)


def weeks_in_year(year: int) -> int:
    """52 or 53: the number of ISO weeks of ISO year ``year`` (Dec 28 is always in the last one)."""
    return date(year, 12, 28).isocalendar().week


def week_key(moment: int | float | datetime, tz: tzinfo | str) -> str:
    """The ISO week ("2026-W48") of an instant (unix seconds or aware datetime) on ``tz``'s wall clock."""
    local = _instant(moment).astimezone(_zone(tz))
    year, week, _ = local.isocalendar()
    return f"{year:04d}-W{week:02d}"


def current_week_key(tz: tzinfo | str, now: int | float | datetime | None = None) -> str:
    """The week key of ``now`` (default: the current time)."""
    return week_key(_time.time() if now is None else now, tz)


def parse_week_key(text: str) -> tuple[int, int]:
    """``"2026-W48"`` -> ``(2026, 48)``; ValueError saying what is wrong otherwise."""
    if not isinstance(text, str):
        raise ValueError(f"week key must be a string like 2026-W48, got {type(text).__name__}")
    match = _KEY.fullmatch(text)
    if match is None:
        raise ValueError(f"malformed week key {text!r}: expected YYYY-Www, e.g. 2026-W48")
    year, week = int(match[1]), int(match[2])
    if year < 1:
        raise ValueError(f"bad week key {text!r}: year must be 0001..9999")
    last = weeks_in_year(year)
    if not 1 <= week <= last:
        raise ValueError(f"bad week key {text!r}: ISO year {year} has weeks 01..{last:02d}")
    return year, week


def _local_midnight(day: date, tz: tzinfo) -> datetime:
    """The first instant of ``day`` in ``tz``, in canonical local form.

    Where 00:00 does not exist (a DST jump at midnight, e.g. America/Sao_Paulo
    on 1997-10-06), fold=0 maps it to the instant of the jump, which is the
    first instant of the day (01:00 local); the UTC round trip spells it that
    way, so comparisons never see the non-existent wall time.  Where 00:00
    happens twice, fold=0 is the first occurrence.
    """
    wall = datetime.combine(day, time(0), tzinfo=tz)
    return wall.astimezone(UTC).astimezone(tz)


def week_bounds(key: str, tz: tzinfo | str) -> tuple[datetime, datetime]:
    """``(start, end)``: Monday 00:00 local of week ``key`` (inclusive) and of the next week (exclusive)."""
    year, week = parse_week_key(key)
    zone = _zone(tz)
    monday = date.fromisocalendar(year, week, 1)
    try:
        return _local_midnight(monday, zone), _local_midnight(monday + timedelta(days=7), zone)
    except OverflowError:
        raise ValueError(f"week {key} is outside the datetime range (years 1..9999)") from None
