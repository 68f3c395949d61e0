"""Tax: the one place that computes the tax of an order (manual provider's table) and its total.

Shop setting `SHOP_PRICES_INCLUDE_TAX` (default true):

* **inclusive** prices (EU, UK, AU, JP): the buyer pays the price shown; the tax is the part of
  each line that is tax: `round_half_up(line × r / (100 + r))`. The total does not change.
* **exclusive** prices (US, CA): tax is added on top of each line: `round_half_up(line × r / 100)`
  and `total = goods − discount + shipping + tax`.

Rounding: **per line, half-up** (like discounts, commerce.money) in the currency's minor unit, so
JPY tax is whole yen and KWD/BHD tax is whole fils; tax added on top in KWD/BHD is then rounded
half-up to 10 fils, the step Stripe charges in (commerce.money.round_to_step). The lines are the goods lines after their
discount, and shipping as one more line at the same rate (shipping follows the goods it carries:
EU VAT Directive 2006/112/EC art. 78(b)). The rate is the destination's: the shipping address's
country for shipped orders, `SHOP_COUNTRY` for pickup orders; a country without a `TaxRate` row
has no tax from the table (use Stripe Tax there, or add the rate in the admin).

With Stripe Tax (`STRIPE_AUTOMATIC_TAX`), Stripe computes the tax at Checkout; the order stores it
from the Checkout Session's `total_details.amount_tax` when the payment is confirmed
(commerce.services.payments).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings

from .models import TaxRate
from .money import round_to_step


@dataclass(frozen=True)
class Totals:
    """An order's money in minor units of `currency`. `tax_minor` is contained in (tax_included) or
    added to the total; `tax_percent`/`tax_name` say which rate applied (None/"" = no tax)."""

    currency: str
    subtotal_minor: int
    discount_minor: int
    shipping_minor: int
    tax_minor: int
    tax_included: bool
    total_minor: int
    tax_percent: Decimal | None = None
    tax_name: str = ""
    shipping_name: str = ""

    @property
    def goods_minor(self) -> int:
        return self.subtotal_minor - self.discount_minor


def prices_include_tax() -> bool:
    """The shop setting SHOP_PRICES_INCLUDE_TAX."""
    return bool(getattr(settings, "SHOP_PRICES_INCLUDE_TAX", True))


def tax_rate_for(country: str) -> TaxRate | None:
    """The table's rate for an ISO country code (None when the country has none)."""
    return TaxRate.objects.filter(country=(country or "").strip().upper()).first()


def line_tax(amount_minor: int, rate_percent: Decimal | int | str, *, included: bool) -> int:
    """Tax of one line in minor units, half-up: the part of `amount_minor` that is tax (included) or the tax
    added on top of it (not included). line_tax(11900, 19, included=True) → 1900; (10000, 19, False) → 1900."""
    rate = Decimal(str(rate_percent))
    if not amount_minor or not rate:
        return 0
    raw = Decimal(amount_minor) * rate / ((Decimal(100) + rate) if included else Decimal(100))
    return int(raw.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def order_totals(
    *,
    currency: str,
    lines: list[tuple[int, int, int]],
    shipping_minor: int = 0,
    shipping_name: str = "",
    country: str = "",
    included: bool | None = None,
    rate: TaxRate | None | bool = True,
) -> Totals:
    """Totals of an order from its goods `lines` [(unit_price_minor, quantity, discount_minor), …] and shipping.

    The tax rate is the table's for `country` (`rate=True`), a given TaxRate, or none (`rate=None`: Stripe
    Tax computes it later). `included` defaults to the shop setting. Formula in the module docstring.
    """
    included = prices_include_tax() if included is None else included
    if rate is True:
        rate = tax_rate_for(country) if country else None
    subtotal = sum(unit * qty for unit, qty, _discount in lines)
    discount = sum(discount for _unit, _qty, discount in lines)
    tax = 0
    if rate:
        amounts = [unit * qty - disc for unit, qty, disc in lines] + ([shipping_minor] if shipping_minor else [])
        tax = sum(line_tax(amount, rate.rate_percent, included=included) for amount in amounts)
    if not included:
        # tax added on top is charged: Stripe takes three-decimal currencies in steps of 10 (docs/money.md)
        tax = round_to_step(tax, currency)
    total = subtotal - discount + shipping_minor + (0 if included else tax)
    return Totals(
        currency=currency,
        subtotal_minor=subtotal,
        discount_minor=discount,
        shipping_minor=shipping_minor,
        tax_minor=tax,
        tax_included=included,
        total_minor=total,
        tax_percent=rate.rate_percent if rate else None,
        tax_name=rate.name if rate else "",
        shipping_name=shipping_name,
    )
