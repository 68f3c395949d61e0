"""In Chromium: an invalid coupon is reported and its field emptied, so "Place order" goes through; "Not you?"
on the buy form forgets the previous buyer."""

from __future__ import annotations

import pytest
from django.urls import reverse

from commerce.models import Order
from tests.factories import make_drop

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_invalid_coupon_is_cleared_and_place_order_works(live_server, page):
    drop = make_drop(quantity=4, per_customer_limit=2)
    page.goto(live_server.url + drop_buy_path(drop))
    page.get_by_label("Email").fill("viewer@example.com")
    page.get_by_role("button", name="Reserve").click()
    page.wait_for_url("**/cart/**")
    page.get_by_label("Coupon code").fill("NOSUCHCODE")
    page.get_by_role("button", name="Apply").click()
    page.wait_for_load_state()
    assert page.locator(".errorlist").count() == 1  # the buyer is told
    assert page.get_by_label("Coupon code").input_value() == ""  # and the field is empty
    page.get_by_role("button", name="Place order").click()
    page.wait_for_url("**/orders/**")
    order = Order.objects.get()
    assert order.discount_minor == 0 and page.locator("[data-order-total]").inner_text() == "$42.99"


def test_not_you_forgets_the_previous_buyer(live_server, page):
    drop = make_drop(quantity=4, per_customer_limit=2)
    url = live_server.url + drop_buy_path(drop)
    page.goto(url)
    page.get_by_label("Email").fill("first@example.com")
    page.get_by_role("button", name="Reserve").click()
    page.wait_for_url("**/cart/**")
    page.goto(url)
    assert page.get_by_label("Email").input_value() == "first@example.com"
    before = {c["name"]: c["value"] for c in page.context.cookies()}["mm_vid"]
    page.get_by_role("button", name="Not you?").click()
    page.wait_for_url(url)
    assert page.get_by_label("Email").input_value() == ""
    after = {c["name"]: c["value"] for c in page.context.cookies()}["mm_vid"]
    assert after != before


def drop_buy_path(drop) -> str:
    return reverse("commerce:checkout", args=[drop.pk])
