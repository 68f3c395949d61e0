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

import re
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


# An amount as people type it: digits with an optional decimal point; no exponent ("1e3"), no NaN/Infinity.
PLAIN_AMOUNT = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)")


def parse_plain_decimal(text: str) -> Decimal:
    """'12.50' → Decimal('12.50'); raises MoneyError for exponent notation ('1e3'), NaN, Infinity or non-numbers."""
    text = str(text).strip()
    if not PLAIN_AMOUNT.fullmatch(text):
        raise MoneyError(f"{text!r} is not a number")
    return Decimal(text)


def to_minor(amount: str | Decimal, currency: str) -> int:
    """Parse a decimal amount in major units ("42.99") into integer minor units (4299).

    Raises MoneyError for empty, non-numeric, negative amounts or more decimals
    than the currency has (e.g. "10.5" JPY). Text must be plain digits with an optional
    decimal point: exponent notation ("1e3"), "NaN" and "Infinity" are refused.
    A Decimal argument only has to be finite.
    """
    text = str(amount).strip()
    if not text:
        raise MoneyError("amount is empty")
    try:
        value = amount if isinstance(amount, Decimal) else parse_plain_decimal(text)
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


# --- Stripe's currency rules ------------------------------------------------------
# Source: https://docs.stripe.com/currencies ("Zero-decimal currencies", "Three-decimal
# currencies", "Special cases"). Stripe wants every amount as an integer in *its* minor unit:
#   * zero-decimal currencies: the amount in major units (¥500 → 500);
#   * three-decimal currencies: thousandths, and the last digit must be 0 (5.124 KWD is
#     refused; 5.120 or 5.130 is accepted), for charges, Checkout and refunds alike;
#   * ISK is a two-decimal currency in the API but only whole krónur are accepted (a multiple of 100);
#   * everything else: hundredths.
STRIPE_ZERO_DECIMAL = frozenset(
    ["BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA", "PYG", "RWF", "UGX", "VND", "VUV", "XAF", "XOF", "XPF"]
)
STRIPE_THREE_DECIMAL = frozenset(["BHD", "JOD", "KWD", "OMR", "TND"])
# Stripe amount (in Stripe's unit) must be a multiple of this.
STRIPE_AMOUNT_MULTIPLE = {**dict.fromkeys(STRIPE_THREE_DECIMAL, 10), "ISK": 100}


def stripe_exponent(currency: str) -> int:
    """Decimals of the unit Stripe counts amounts in: JPY 0, KWD 3, USD 2, ISK 2 (Stripe's docs)."""
    code = check_currency(currency)
    if code in STRIPE_ZERO_DECIMAL:
        return 0
    if code in STRIPE_THREE_DECIMAL:
        return 3
    return 2


def minor_step(currency: str) -> int:
    """The smallest amount, in our minor units, that Stripe accepts as a step: KWD 10 (0.010), else 1.

    Every amount sent to Stripe must be a whole multiple of it; commerce.pricing rounds
    computed prices and discounted lines to it so the stored total is always payable.
    """
    shift = stripe_exponent(currency) - minor_unit_exponent(currency)
    multiple = STRIPE_AMOUNT_MULTIPLE.get(check_currency(currency), 1)
    if shift >= 0:
        scale = 10**shift
        return max(multiple // scale, 1) if multiple % scale == 0 else multiple
    return multiple * 10 ** (-shift)


def round_to_step(amount_minor: int, currency: str, *, down: bool = False) -> int:
    """Round an amount in minor units to a multiple of `minor_step(currency)`.

    Half-up by default (4005 → 4010 KWD, 4004 → 4000); `down=True` rounds towards zero
    (used for refund shares, so the parts never exceed the whole). Other currencies: unchanged.
    """
    step = minor_step(currency)
    if step == 1:
        return int(amount_minor)
    if down:
        return (int(amount_minor) // step) * step
    quotient = (Decimal(int(amount_minor)) / step).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    return int(quotient) * step


def stripe_amount(amount_minor: int, currency: str) -> int:
    """An amount in our minor units → the integer Stripe expects for `currency`.

    stripe_amount(1500, "JPY") → 1500 (yen); stripe_amount(4299, "USD") → 4299 (cents);
    stripe_amount(12350, "KWD") → 12350 (fils, ends in 0); stripe_amount(5, "ISK") → 500.
    Raises MoneyError for a negative amount or one Stripe would refuse (a KWD amount
    not ending in 0: round it first with `round_to_step`).
    """
    code = check_currency(currency)
    if int(amount_minor) != amount_minor or amount_minor < 0:
        raise MoneyError(f"{amount_minor!r} is not a whole non-negative amount")
    shift = stripe_exponent(code) - minor_unit_exponent(code)
    if shift >= 0:
        value = int(amount_minor) * 10**shift
    else:
        scale = 10 ** (-shift)
        if amount_minor % scale:
            raise MoneyError(f"{format_money(amount_minor, code)} has more decimals than Stripe takes for {code}")
        value = int(amount_minor) // scale
    multiple = STRIPE_AMOUNT_MULTIPLE.get(code, 1)
    if value % multiple:
        raise MoneyError(
            f"Stripe only takes {code} amounts in steps of {format_money(minor_step(code), code)}; "
            f"{format_money(amount_minor, code)} is not one"
        )
    return value


def from_stripe_amount(value: int, currency: str) -> int:
    """An integer amount as Stripe reports it (webhooks, refunds) → our minor units (inverse of stripe_amount).

    from_stripe_amount(500, "ISK") → 5 (krónur); JPY, USD and KWD are unchanged.
    A fraction of our minor unit (impossible for amounts we sent) is rounded half-up.
    """
    code = check_currency(currency)
    shift = stripe_exponent(code) - minor_unit_exponent(code)
    if shift >= 0:
        return int((Decimal(int(value)) / (10**shift)).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    return int(value) * 10 ** (-shift)
