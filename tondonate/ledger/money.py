"""Exact tons arithmetic.

Tons are stored as integer nano-tons (1 ton = ``NANO`` = 10**9) and computed
with :class:`~decimal.Decimal` in a local context, never with floats:

* :func:`tons_for` -- ``stars x tons_per_star`` rounded to ``tons.decimals``
  places with the ``tons.rounding`` mode (spec section 8.3);
* :func:`to_nano` / :func:`from_nano` -- Decimal tons <-> stored integers, exact;
* :func:`format_tons` -- a stored amount as text with exactly ``decimals`` digits.
"""

from __future__ import annotations

import decimal
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, ROUND_HALF_UP, ROUND_UP, Decimal

NANO = 10**9
NANO_DIGITS = 9

# The most tons one payment may credit.  Invoices worth more are refused
# (``amount_too_large``); a payment worth more all the same (an invoice quoted before the
# rate bound existed, an unknown invoice paid with more Stars than any invoice allows) is
# credited at this bound, with an ERROR (:mod:`.credit`).  10,000 Stars (Telegram's
# largest Stars invoice) at the highest rate allowed (settings.MAX_TONS_PER_STAR, 1,000)
# are exactly this much.
#
# Why the totals cannot overflow: amounts and totals are BIGINT nano-tons, at most
# 2**63 - 1, about 9.2e9 tons.  One payment adds at most 1e7 tons (1e16 nano-tons), so a
# total (a donor's, a referrer's, all time or weekly) holds at least 922 payments of the
# largest kind; at the default rate of 1 ton per Star it holds 9.2e9 Stars, about
# US$ 120 million at Telegram's price of a Star.  ``stars`` totals are BIGINT Stars and the
# ``donations`` and ``referrals_count`` counters 32-bit (2.1e9 payments or referrals).
MAX_PAYMENT_TONS = 10**7
MAX_PAYMENT_NANO = MAX_PAYMENT_TONS * NANO

ROUNDING_MODES: dict[str, str] = {
    "down": ROUND_DOWN,  # toward zero
    "half_up": ROUND_HALF_UP,  # ties away from zero
    "half_even": ROUND_HALF_EVEN,  # ties to even (banker's)
    "up": ROUND_UP,  # away from zero
}


def _check_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    return value


def _check_decimals(decimals: object) -> int:
    _check_int("decimals", decimals)
    if not 0 <= decimals <= NANO_DIGITS:  # type: ignore[operator]
        raise ValueError(f"decimals must be 0..{NANO_DIGITS} (tons are stored in nano-tons), got {decimals}")
    return decimals  # type: ignore[return-value]


def _as_decimal(name: str, value: object) -> Decimal:
    """A finite Decimal from a Decimal, int or numeric string; floats are refused (inexact)."""
    if isinstance(value, Decimal):
        number = value
    elif isinstance(value, int) and not isinstance(value, bool):
        number = Decimal(value)
    elif isinstance(value, str):
        try:
            number = Decimal(value.strip())
        except decimal.InvalidOperation:
            raise ValueError(f"{name} must be a decimal number, got {value!r}") from None
    else:
        raise TypeError(f"{name} must be a Decimal (not {type(value).__name__}: floats are inexact)")
    if not number.is_finite():
        raise ValueError(f"{name} must be finite, got {value!r}")
    return number


def tons_for(stars: int, tons_per_star: Decimal, decimals: int, rounding: str) -> Decimal:
    """``stars x tons_per_star``, exactly, then rounded to ``decimals`` places.

    ``rounding`` is one of ``down | half_up | half_even | up`` (the ``tons.rounding``
    setting); the modes are symmetric around zero, so a negative amount (a
    correction) rounds like its positive counterpart with the sign flipped.
    The result's exponent is always ``-decimals`` (``Decimal("12.50")`` at 2).
    """
    _check_int("stars", stars)
    rate = _as_decimal("tons_per_star", tons_per_star)
    _check_decimals(decimals)
    try:
        mode = ROUNDING_MODES[rounding]
    except (KeyError, TypeError):
        raise ValueError(f"rounding must be one of {', '.join(ROUNDING_MODES)}, got {rounding!r}") from None
    _, digits, exponent = rate.as_tuple()
    assert isinstance(exponent, int)  # rate is finite (_as_decimal): not "n", "N" or "F"
    # Enough significant digits that neither the product nor the quantized
    # result is ever rounded by the context: the exact product has at most
    # digits(stars) + digits(rate) digits, shifted left by a positive exponent,
    # and quantizing adds at most `decimals` digits (plus one for a carry).
    precision = len(str(abs(stars))) + len(digits) + max(exponent, 0) + decimals + 2
    with decimal.localcontext() as ctx:
        ctx.prec = max(precision, 28)
        ctx.Emax = decimal.MAX_EMAX
        ctx.Emin = decimal.MIN_EMIN
        ctx.traps[decimal.Inexact] = True  # the product must be exact; only quantize rounds
        product = Decimal(stars) * rate
        ctx.traps[decimal.Inexact] = False
        return product.quantize(Decimal(1).scaleb(-decimals), rounding=mode)


def to_nano(tons: Decimal) -> int:
    """Decimal tons -> integer nano-tons, exactly.

    ValueError when the amount needs more than 9 decimals (a non-zero digit
    below one nano-ton) or is not finite; trailing zeros beyond the 9th place
    are fine (``Decimal("1.0000000000")`` is exactly 10**9 nano-tons).
    """
    number = _as_decimal("tons", tons)
    sign, digits, exponent = number.as_tuple()
    assert isinstance(exponent, int)  # number is finite (_as_decimal): not "n", "N" or "F"
    coefficient = int("".join(map(str, digits))) if digits else 0
    shift = exponent + NANO_DIGITS
    if shift >= 0:
        nano: int = coefficient * 10**shift  # (10**shift is typed Any: a negative power is a float)
    else:
        nano, remainder = divmod(coefficient, 10**-shift)
        if remainder:
            raise ValueError(f"{number} tons has more than {NANO_DIGITS} decimals; round it first (tons_for)")
    return -nano if sign else nano


def from_nano(nano: int) -> Decimal:
    """Integer nano-tons -> Decimal tons with 9 decimals, exactly (``1500000000`` -> ``1.500000000``)."""
    _check_int("nano", nano)
    return Decimal(f"{nano}E-{NANO_DIGITS}")  # the string constructor is exact whatever the context


# decimals -> (nano-tons per last shown digit, 10**decimals, printf pattern of whole and
# fraction).  format_tons runs a few times per API request (five for /api/me), so it is
# one integer division and one ``%`` with a pattern made beforehand: 0.3 us, against
# 0.45 us with an f-string whose width is itself formatted on each call.  With no
# decimals, "%.0s" swallows the (always zero) fraction.  Zero, the most common amount
# (most users have no referral sums), is looked up.
_SHOWN: dict[int, tuple[int, int, str]] = {
    d: (10 ** (NANO_DIGITS - d), 10**d, f"%d.%0{d}d" if d else "%d%.0s") for d in range(NANO_DIGITS + 1)
}
_ZEROS = {d: pattern % (0, 0) for d, (_scale, _unit, pattern) in _SHOWN.items()}


def format_tons(nano: int, decimals: int) -> str:
    """A stored amount as text with exactly ``decimals`` digits after the point.

    ``format_tons(12_500_000_000, 2) == "12.50"``; no point when ``decimals`` is 0.
    Digits beyond ``decimals`` are cut off (rounding toward zero), which is what
    happens after an admin lowered ``tons.decimals``: a shown amount is never
    more than what was credited.  Plain notation always; no "-0.00".
    """
    if type(nano) is not int or type(decimals) is not int or decimals not in _SHOWN:
        _check_int("nano", nano)  # refuses bools and floats with a clear error
        _check_decimals(decimals)
    if not nano:
        return _ZEROS[decimals]
    scale, unit, pattern = _SHOWN[decimals]
    if nano > 0:
        return pattern % divmod(nano // scale, unit)
    shown = -nano // scale  # truncated toward zero
    return ("-" + pattern if shown else pattern) % divmod(shown, unit)
