from decimal import ROUND_DOWN, Decimal, localcontext

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tondonate.ledger.money import NANO, ROUNDING_MODES, format_tons, from_nano, to_nano, tons_for

D = Decimal


@pytest.mark.parametrize(
    "stars, rate, decimals, expected",
    [
        # 2.5 / -2.5 / 3.5 at 0 decimals
        (5, "0.5", 0, {"down": "2", "half_up": "3", "half_even": "2", "up": "3"}),
        (-5, "0.5", 0, {"down": "-2", "half_up": "-3", "half_even": "-2", "up": "-3"}),
        (7, "0.5", 0, {"down": "3", "half_up": "4", "half_even": "4", "up": "4"}),
        (-7, "0.5", 0, {"down": "-3", "half_up": "-4", "half_even": "-4", "up": "-4"}),
        # 0.125 and 0.135 at 2 decimals
        (1, "0.125", 2, {"down": "0.12", "half_up": "0.13", "half_even": "0.12", "up": "0.13"}),
        (1, "0.135", 2, {"down": "0.13", "half_up": "0.14", "half_even": "0.14", "up": "0.14"}),
        (-1, "0.125", 2, {"down": "-0.12", "half_up": "-0.13", "half_even": "-0.12", "up": "-0.13"}),
        # not a tie: only up moves a tiny remainder
        (1, "0.001", 2, {"down": "0.00", "half_up": "0.00", "half_even": "0.00", "up": "0.01"}),
        (3, "0.3335", 3, {"down": "1.000", "half_up": "1.001", "half_even": "1.000", "up": "1.001"}),
        # exact results are untouched by every mode
        (4, "0.25", 2, {"down": "1.00", "half_up": "1.00", "half_even": "1.00", "up": "1.00"}),
        (0, "0.7", 2, {"down": "0.00", "half_up": "0.00", "half_even": "0.00", "up": "0.00"}),
    ],
)
def test_every_rounding_mode(stars, rate, decimals, expected):
    assert set(expected) == set(ROUNDING_MODES)
    for mode, want in expected.items():
        got = tons_for(stars, D(rate), decimals, mode)
        assert got == D(want), (mode, got)
        assert str(got) == want  # exponent is exactly -decimals
        assert got.as_tuple().exponent == -decimals


def test_no_float_drift():
    assert tons_for(3, D("0.1"), 9, "down") == D("0.3")
    assert tons_for(10, D("0.1"), 0, "down") == D("1")  # 10 x 0.1 is exactly 1, not 0.999...


def test_large_values_are_exact():
    stars = 10**12
    rate = D("123456789.123456789")
    assert tons_for(stars, rate, 9, "down") == D("123456789123456789000")
    got = tons_for(99_999, D("0.123456789123456789123456789"), 9, "half_even")
    assert got == D("12345.555455557")  # exact 12345.555455556555455..., rounded once
    # just above a tie, beyond 28 digits: a 28-digit product would round twice and get 0.12
    assert tons_for(3, D("0.04166666666666666666666666666667"), 2, "half_even") == D("0.13")
    assert tons_for(1, D("0.12500000000000000000000000000001"), 2, "half_even") == D("0.13")
    # more digits than the default 28-digit context
    big = tons_for(10**20 + 1, D("1.000000001"), 9, "up")
    assert big == D("100000000100000000001.000000001")
    huge = tons_for(7, D("1E+40"), 2, "down")
    assert huge == D("7E+40") and huge.as_tuple().exponent == -2


def test_bad_arguments():
    with pytest.raises(ValueError, match="rounding must be one of"):
        tons_for(1, D("1"), 2, "ceiling")
    with pytest.raises(TypeError):
        tons_for(1, 0.1, 2, "down")  # floats are refused
    with pytest.raises(TypeError):
        tons_for(1.0, D("1"), 2, "down")
    with pytest.raises(ValueError):
        tons_for(1, D("1"), 10, "down")
    with pytest.raises(ValueError):
        tons_for(1, D("NaN"), 2, "down")
    assert tons_for(2, "0.5", 1, "down") == D("1.0")  # numeric strings are fine


@pytest.mark.parametrize(
    "tons, nano",
    [
        ("1.5", 1_500_000_000),
        ("0.000000001", 1),
        ("-12.34", -12_340_000_000),
        ("0", 0),
        ("1.0000000000", NANO),  # trailing zeros beyond 9 places are exact
        ("1E+30", 10**39),
        ("123456789123456789.123456789", 123456789123456789123456789),
    ],
)
def test_to_nano_and_back(tons, nano):
    assert to_nano(D(tons)) == nano
    assert from_nano(nano) == D(tons)
    assert to_nano(from_nano(nano)) == nano


def test_to_nano_refuses_inexact():
    with pytest.raises(ValueError, match="more than 9 decimals"):
        to_nano(D("0.0000000001"))
    with pytest.raises(ValueError, match="more than 9 decimals"):
        to_nano(D("-1.1234567891"))
    with pytest.raises(ValueError):
        to_nano(D("Infinity"))
    with pytest.raises(TypeError):
        to_nano(1.5)


def test_from_nano_is_exact_beyond_context_precision():
    nano = 10**40 + 1
    assert from_nano(nano) == D("10000000000000000000000000000000.000000001")
    assert str(from_nano(1_500_000_000)) == "1.500000000"


@pytest.mark.parametrize(
    "nano, decimals, text",
    [
        (12_500_000_000, 2, "12.50"),
        (12_500_000_000, 0, "12"),
        (0, 0, "0"),
        (0, 2, "0.00"),
        (1, 9, "0.000000001"),
        (1_999_999_999, 2, "1.99"),  # cut, never rounded up
        (1_999_999_999, 0, "1"),
        (1_999_999_999, 9, "1.999999999"),
        (-12_345_000_000, 2, "-12.34"),  # toward zero
        (-1, 2, "0.00"),  # no "-0.00"
        (-1, 9, "-0.000000001"),
        (-NANO, 0, "-1"),
        (10**30, 2, "1000000000000000000000.00"),  # no scientific notation
        (10**9 * 10**25, 0, "10000000000000000000000000"),
    ],
)
def test_format_tons(nano, decimals, text):
    assert format_tons(nano, decimals) == text


def test_format_tons_bad_arguments():
    with pytest.raises(ValueError):
        format_tons(1, -1)
    with pytest.raises(ValueError):
        format_tons(1, 10)
    with pytest.raises(TypeError):
        format_tons(1.5, 2)
    # zero has a fast path: it refuses the same arguments
    for nano, decimals in ((0, 10), (0, True), (False, 2), (0.0, 2)):
        with pytest.raises((TypeError, ValueError)):
            format_tons(nano, decimals)


@given(st.integers(min_value=-(10**40), max_value=10**40), st.integers(min_value=0, max_value=9))
def test_format_tons_matches_decimal_truncation(nano, decimals):
    """Against the slow, obvious reading: exact Decimal, cut toward zero, plain notation, no "-0"."""
    with localcontext(prec=100):  # the default 28 digits would round the reference itself
        exact = Decimal(nano).scaleb(-9).quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_DOWN)
    expected = format(exact.copy_abs() if exact.is_zero() else exact, "f")
    assert format_tons(nano, decimals) == expected


@pytest.mark.parametrize("decimals", range(10))
def test_format_zero_tons(decimals):
    assert format_tons(0, decimals) == ("0." + "0" * decimals if decimals else "0")


def test_pipeline_stars_to_stored_to_shown():
    tons = tons_for(3, D("0.0125"), 2, "half_up")  # 0.0375 -> 0.04
    assert tons == D("0.04")
    nano = to_nano(tons)
    assert nano == 40_000_000
    assert format_tons(nano, 2) == "0.04"
    assert format_tons(nano, 1) == "0.0"  # after tons.decimals was lowered
