"""A viewer buys a shipped drop in Chromium: chooses the country, sees shipping and tax, enters the address."""

from __future__ import annotations

from decimal import Decimal

import pytest

from commerce.models import Order, ShippingRate, TaxRate
from tests.factories import make_drop

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_viewer_buys_a_shipped_drop_entering_an_address(live_server, page):
    # transactional tests may have flushed the migration's tax table: make sure of the rows this test needs
    TaxRate.objects.update_or_create(country="DE", defaults={"name": "MwSt", "rate_percent": Decimal(19)})
    TaxRate.objects.update_or_create(country="AT", defaults={"name": "USt", "rate_percent": Decimal(20)})
    ShippingRate.objects.create(name="DHL Germany", countries=["DE"], currency="USD", amount_minor=490)
    ShippingRate.objects.create(name="Post Austria", countries=["AT"], currency="USD", amount_minor=990)
    drop = make_drop(quantity=4, per_customer_limit=2)
    page.goto(live_server.url + f"/drops/{drop.pk}/checkout/")
    page.get_by_label("Email").fill("viewer@example.com")
    page.get_by_label("Quantity").fill("1")
    page.get_by_role("button", name="Reserve").click()
    page.wait_for_url("**/cart/**")
    # the shop's country first: German shipping, tax included in the price
    assert page.locator("[data-shipping]").inner_text() == "$4.90"
    assert page.locator("[data-total]").inner_text() == "$47.89"
    # another country: the rate and the form's fields follow it
    page.get_by_label("Country").select_option("AT")
    page.get_by_role("button", name="Update shipping").click()
    page.wait_for_load_state()
    assert page.locator("[data-shipping]").inner_text() == "$9.90"
    assert "USt 20 %" in page.locator("[data-tax]").locator("xpath=..").inner_text()
    page.get_by_label("Country").select_option("DE")
    page.get_by_role("button", name="Update shipping").click()
    page.wait_for_load_state()
    assert page.locator("[data-shipping]").inner_text() == "$4.90"
    page.get_by_label("Full name").fill("Ann Example")
    page.get_by_label("Street address").fill("Gontardstraße 7")
    page.get_by_label("Postcode").fill("10178")
    page.get_by_label("City").fill("Berlin")
    page.get_by_role("button", name="Place order").click()
    page.wait_for_url("**/orders/**")
    order = Order.objects.get()
    assert (order.shipping_minor, order.total_minor, order.shipping_address["postal_code"]) == (490, 4789, "10178")
    ship_to = page.locator("[data-ship-to]").inner_text()
    assert "Gontardstraße 7" in ship_to and "10178 BERLIN" in ship_to
    assert page.locator("[data-order-total]").inner_text() == "$47.89"
    assert "Pay at pickup" not in page.locator("main").inner_text()
