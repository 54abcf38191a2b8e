from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from tondonate.weeks import current_week_key, parse_week_key, week_bounds, week_key, weeks_in_year

BERLIN = ZoneInfo("Europe/Berlin")
UTC = UTC


def hours(start: datetime, end: datetime) -> float:
    return (end.timestamp() - start.timestamp()) / 3600


def at(text: str, tz=BERLIN) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=tz)


@pytest.mark.parametrize(
    "local, key",
    [
        ("2027-01-01T12:00", "2026-W53"),
        ("2026-12-28T00:00", "2026-W53"),
        ("2027-01-03T23:59:59", "2026-W53"),
        ("2027-01-04T00:00", "2027-W01"),
        ("2021-01-03T12:00", "2020-W53"),
        ("2021-01-04T00:00", "2021-W01"),
        ("2025-12-29T00:00", "2026-W01"),  # ISO 2026 starts in December 2025
        ("2026-11-23T10:00", "2026-W48"),
        ("2026-03-02T00:00", "2026-W10"),  # week number zero-padded
    ],
)
def test_week_key_iso_year_boundaries(local, key):
    moment = at(local)
    assert week_key(moment, BERLIN) == key
    assert week_key(int(moment.timestamp()), BERLIN) == key


def test_week_key_uses_the_zone_wall_clock():
    # Sunday 23:30 UTC is Monday 00:30 in Berlin (CET, +1)
    moment = datetime(2026, 3, 22, 23, 30, tzinfo=UTC)
    assert week_key(moment, BERLIN) == "2026-W13"
    assert week_key(moment, UTC) == "2026-W12"
    assert week_key(int(moment.timestamp()), "Europe/Berlin") == "2026-W13"
    # the last second of a Berlin week, as unix seconds
    start, _ = week_bounds("2026-W13", BERLIN)
    assert week_key(int(start.timestamp()) - 1, BERLIN) == "2026-W12"
    assert week_key(int(start.timestamp()), BERLIN) == "2026-W13"


def test_week_key_refuses_naive_datetimes():
    with pytest.raises(ValueError, match="naive"):
        week_key(datetime(2026, 1, 1), BERLIN)


def test_current_week_key():
    assert current_week_key(BERLIN, now=at("2027-01-01T00:30")) == "2026-W53"
    assert current_week_key(BERLIN, now=1_799_020_800) == "2027-W01"  # 2027-01-04T00:00 UTC
    assert current_week_key(BERLIN, now=1_799_020_800 - 3601) == "2026-W53"  # Sunday 23:59:59 Berlin
    assert current_week_key(BERLIN) == week_key(datetime.now(UTC), BERLIN)


def test_spring_forward_week_is_167_hours():
    # 2026-03-29 (Sunday) 02:00 CET -> 03:00 CEST
    start, end = week_bounds("2026-W13", BERLIN)
    assert (start.year, start.month, start.day, start.hour, start.minute) == (2026, 3, 23, 0, 0)
    assert (end.year, end.month, end.day, end.hour, end.minute) == (2026, 3, 30, 0, 0)
    assert start.utcoffset() == timedelta(hours=1) and end.utcoffset() == timedelta(hours=2)
    assert hours(start, end) == 167
    assert start.weekday() == end.weekday() == 0


def test_fall_back_week_is_169_hours():
    # 2026-10-25 (Sunday) 03:00 CEST -> 02:00 CET
    start, end = week_bounds("2026-W43", BERLIN)
    assert (start.month, start.day, start.hour) == (10, 19, 0)
    assert (end.month, end.day, end.hour) == (10, 26, 0)
    assert hours(start, end) == 169
    # both 02:30s of the repeated hour are in that week
    first = datetime(2026, 10, 25, 2, 30, tzinfo=BERLIN, fold=0)
    second = datetime(2026, 10, 25, 2, 30, tzinfo=BERLIN, fold=1)
    assert second.timestamp() - first.timestamp() == 3600
    assert week_key(first, BERLIN) == week_key(second, BERLIN) == "2026-W43"


def test_normal_week_is_168_hours_and_bounds_across_iso_years():
    start, end = week_bounds("2026-W53", BERLIN)
    assert (start.date().isoformat(), end.date().isoformat()) == ("2026-12-28", "2027-01-04")
    assert hours(start, end) == 168
    start, end = week_bounds("2020-W53", BERLIN)
    assert (start.date().isoformat(), end.date().isoformat()) == ("2020-12-28", "2021-01-04")
    start, _ = week_bounds("2026-W01", BERLIN)
    assert start.date().isoformat() == "2025-12-29"


def test_bounds_when_local_midnight_does_not_exist():
    # America/Sao_Paulo jumped from Monday 1997-10-06 00:00 to 01:00: the week starts at 01:00
    tz = ZoneInfo("America/Sao_Paulo")
    start, end = week_bounds("1997-W41", tz)
    assert (start.day, start.hour) == (6, 1)
    assert hours(start, end) == 167
    assert week_key(start, tz) == "1997-W41"
    assert week_key(start.timestamp() - 1, tz) == "1997-W40"


@pytest.mark.parametrize("zone", ["Europe/Berlin", "America/Sao_Paulo", "Australia/Lord_Howe", "Pacific/Apia", "UTC"])
def test_every_instant_lies_in_its_weeks_bounds(zone):
    tz = ZoneInfo(zone)
    t = int(datetime(2019, 12, 20, tzinfo=UTC).timestamp())
    stop = int(datetime(2022, 1, 10, tzinfo=UTC).timestamp())
    bounds: dict[str, tuple[float, float]] = {}
    while t < stop:
        key = week_key(t, tz)
        if key not in bounds:
            start, end = week_bounds(key, tz)
            bounds[key] = (start.timestamp(), end.timestamp())
        assert bounds[key][0] <= t < bounds[key][1], (zone, key, t)
        t += 3 * 3600 + 17 * 60  # an odd step visits every hour of the day
    # consecutive weeks tile time without gaps or overlaps
    ordered = sorted(bounds.values())
    assert all(a[1] == b[0] for a, b in zip(ordered, ordered[1:], strict=False))


@pytest.mark.parametrize(
    "text, year, week",
    [("2026-W01", 2026, 1), ("2026-W53", 2026, 53), ("2020-W53", 2020, 53), ("2025-W52", 2025, 52)],
)
def test_parse_week_key(text, year, week):
    assert parse_week_key(text) == (year, week)


@pytest.mark.parametrize(
    "text, message",
    [
        ("2026-W00", "weeks 01..53"),
        ("2026-W54", "weeks 01..53"),
        ("2025-W53", "ISO year 2025 has weeks 01..52"),
        ("2026W10", "expected YYYY-Www"),
        ("abcd", "expected YYYY-Www"),
        ("", "expected YYYY-Www"),
        ("2026-w10", "expected YYYY-Www"),
        ("2026-W1", "expected YYYY-Www"),
        ("2026-W10\n", "expected YYYY-Www"),
        (" 2026-W10", "expected YYYY-Www"),
        ("２０２６-W10", "expected YYYY-Www"),  # non-ASCII digits
        ("0000-W01", "year must be"),
    ],
)
def test_parse_week_key_errors(text, message):
    with pytest.raises(ValueError, match=message):
        parse_week_key(text)
    with pytest.raises(ValueError):
        week_bounds(text, BERLIN)


def test_parse_week_key_non_string():
    with pytest.raises(ValueError):
        parse_week_key(202610)  # type: ignore[arg-type]


def test_weeks_in_year():
    assert [y for y in range(2015, 2033) if weeks_in_year(y) == 53] == [2015, 2020, 2026, 2032]
