"""Money: the one module that knows currencies, minor units and rounding.

Every amount in Micromoments is an integer count of the currency's minor unit
(cents for USD/EUR, yen for JPY, fils for KWD) plus an ISO 4217 code. The number
of decimals per currency comes from the Unicode CLDR data shipped with Babel
(`babel.numbers.get_currency_precision`), so JPY has 0 and KWD has 3.

Rounding rule (used by every discount and price step): **per line, half-up**.
A percentage is applied to the line total in minor units and the result is
rounded half away from zero to a whole minor unit (`Decimal.quantize` with
`ROUND_HALF_UP`), so the total displayed, the amount charged and the amount
stored are the same integer.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import lru_cache

from babel.numbers import format_currency, get_currency_precision, list_currencies


class MoneyError(ValueError):
    """A malformed amount or an unknown currency code."""


@lru_cache(maxsize=1)
def _known_currencies() -> frozenset[str]:
    # CLDR lists historic codes too; X-codes (XAU, XXX, …) are not money a shop takes.
    return frozenset(c for c in list_currencies() if not c.startswith("X") or c in {"XAF", "XOF", "XPF", "XCD"})


def check_currency(code: str) -> str:
    """Return the upper-cased ISO 4217 code, or raise MoneyError if unknown."""
    normalized = (code or "").strip().upper()
    if len(normalized) != 3 or normalized not in _known_currencies():
        raise MoneyError(f"unknown currency {code!r} (expected an ISO 4217 code such as USD, EUR or JPY)")
    return normalized


def minor_unit_exponent(currency: str) -> int:
    """Decimals of the currency's minor unit: USD 2, JPY 0, KWD 3 (CLDR data)."""
    return get_currency_precision(check_currency(currency))


def to_minor(amount: str | Decimal, currency: str) -> int:
    """Parse a decimal amount in major units ("42.99") into integer minor units (4299).

    Raises MoneyError for empty, non-numeric, negative amounts or more decimals
    than the currency has (e.g. "10.5" JPY).
    """
    text = str(amount).strip()
    if not text:
        raise MoneyError("amount is empty")
    try:
        value = Decimal(text)
    except InvalidOperation as exc:
        raise MoneyError(f"{text!r} is not a number") from exc
    if not value.is_finite():
        raise MoneyError(f"{text!r} is not a number")
    if value < 0:
        raise MoneyError(f"{text!r} is negative")
    exponent = minor_unit_exponent(currency)
    scaled = value.scaleb(exponent)
    if scaled != scaled.to_integral_value():
        raise MoneyError(f"{text!r} has more than {exponent} decimals for {currency}")
    return int(scaled)


def to_major(amount_minor: int, currency: str) -> Decimal:
    """Integer minor units → Decimal in major units (4299 USD → Decimal('42.99'))."""
    return Decimal(amount_minor).scaleb(-minor_unit_exponent(currency))


def percent_of(amount_minor: int, percent: Decimal | int | str) -> int:
    """`percent`% of an amount in minor units, rounded half-up to a whole minor unit."""
    raw = Decimal(amount_minor) * Decimal(str(percent)) / Decimal(100)
    return int(raw.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def format_money(amount_minor: int, currency: str, locale: str = "en_US") -> str:
    """Human text for an amount: format_money(4299, "USD") → "$42.99", (1500, "JPY") → "¥1,500"."""
    return format_currency(to_major(amount_minor, currency), currency, locale=locale)
